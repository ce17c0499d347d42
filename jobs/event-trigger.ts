/**
 * Alert rules evaluated when the events that feed them happen (issue #14 point 9), not only every
 * ALERT_EVAL_INTERVAL_SECONDS: a breaker trip, a failed or finished run, a webhook signature failure, a payment
 * failure, a bounce-rate or budget event. Every process (main thread, worker threads, replicas) records these as
 * ops events, so the scheduler's process polls `ops_events` every {@link TRIGGER_POLL_MS} for a new one of
 * {@link TRIGGER_EVENT_TYPES} and runs one evaluation (jobs/alert-evaluation.ts evaluateNow, never overlapping the
 * 30 s job). Events recorded before the trigger started are not replayed (the 30 s job covers them).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from '../domain/logger.js';
import { newestEventId } from '../domain/queries/ops-events.js';

/** The ops event types that feed alert rules. */
export const TRIGGER_EVENT_TYPES: readonly string[] = [
  'breaker.opened',
  'breaker.reopened',
  'breaker.closed',
  'breaker.reset',
  'pipeline.run_failed',
  'pipeline.run_finished',
  'webhook.signature_failed',
  'payment.failed',
  'delivery.bounce_rate_high',
  'budget.threshold',
];

/** Poll period (ms). */
export const TRIGGER_POLL_MS = 1000;

/** The trigger: `tick()` checks once (true when it evaluated); `start()`/`stop()` the polling. */
export interface EventTrigger {
  tick(): Promise<boolean>;
  start(): void;
  stop(): Promise<void>;
}

/** Creates the trigger. `evaluate` runs one evaluation (errors are logged, never thrown). */
export function createEventTrigger(deps: { em(): EntityManager; logger: Logger; evaluate: () => Promise<unknown>; intervalMs?: number }): EventTrigger {
  let lastId: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  async function tick(): Promise<boolean> {
    const newest = await newestEventId(deps.em(), TRIGGER_EVENT_TYPES, lastId ?? 0);
    if (lastId === undefined) {
      lastId = newest ?? 0; // first look: what happened before the trigger started is not replayed
      return false;
    }
    if (newest === undefined) return false;
    lastId = newest;
    deps.logger.debug({ eventId: newest }, 'alert-feeding event: evaluating the rules now');
    await deps.evaluate().catch((err: unknown) => deps.logger.error({ err: (err as Error).message }, 'event-triggered alert evaluation failed'));
    return true;
  }
  return {
    tick,
    start() {
      if (timer) return;
      const loop = () => {
        running = tick()
          .catch((err: unknown) => deps.logger.warn({ err: (err as Error).message }, 'alert event trigger: poll failed'))
          .finally(() => {
            if (timer) timer = setTimeout(loop, deps.intervalMs ?? TRIGGER_POLL_MS);
          });
      };
      timer = setTimeout(loop, 0);
    },
    async stop() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}
