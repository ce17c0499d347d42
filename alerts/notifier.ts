/**
 * The notifier: claims unposted ops events and hands each, once, to the Slack outbox (alerts/slack-outbox.ts) as a
 * `status` post (a recovery as a `recoveries` post), routed to its channel by config (alerts/slack-routing.ts) —
 * the outbox's poster then delivers it with its ordering, rate limit, retries, degradation and dead-lettering, to
 * Slack or, without a bot token, to the console. The outbox entry's dedup key is `ops-event:<event dedup key>`,
 * the same as the spool's (DB outage), so an event is posted once whichever path took it. A claim is a short lease
 * (`claimed_until`), so several notifiers (replicas) never enqueue one event twice at the same time, and a crashed
 * one's claims expire. Failed hand-overs are retried on later ticks, up to {@link MAX_ATTEMPTS}.
 *
 * Every `breaker.*` event (quiet or posted) also edits the live breaker card messages in place
 * (alerts/breaker-cards.ts `refreshBreakerCards`: one `update` per card message and state change, dedup key
 * `breaker-cards:<ref>:ops-event:<event dedup key>`), before the event counts as handed over.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import type { AppConfig } from '../domain/config.js';
import type { Clock } from '../domain/clock.js';
import type { Logger } from '../domain/logger.js';
import { recordOpsEvent, type OpsEventFallback } from '../domain/events.js';
import { CircuitBreaker } from '../domain/gateway/breaker.js';
import { claimOpsEvents, markOpsEventPosted, releaseOpsEventClaim, type ClaimedOpsEvent } from '../domain/queries/ops-events.js';
import { refreshBreakerCards } from './breaker-cards.js';
import type { OpsSpool } from './ops-spool.js';
import { createRepeatCollapser } from '../domain/log-collapse.js';
import { QUIET_EVENT_TYPES, formatOpsEvent } from './format.js';
import type { Metrics } from './metrics.js';
import { enqueueSlack } from './slack-outbox.js';
import { routed } from './slack-routing.js';

/** Delivery attempts before an event is given up (it stays in the table, unposted, for inspection). */
export const MAX_ATTEMPTS = 10;
const LEASE_MS = 30_000;
const BATCH = 20;

/** A running notifier. `tick()` hands one batch to the outbox now and returns how many it enqueued. */
export interface Notifier {
  tick(): Promise<number>;
  start(): void;
  /** Stops the loop after delivering what is pending (one last tick). */
  stop(): Promise<void>;
}

/** What the notifier needs (see {@link createNotifier}). */
interface NotifierDeps {
  orm: MikroORM;
  logger: Logger;
  metrics: Metrics;
  /** Routes status and recovery posts to their channels (alerts/slack-routing.ts); `gateway`: the breaker cards' thresholds. */
  config: Pick<AppConfig, 'slack' | 'alerting' | 'gateway'>;
  clock: Clock;
  intervalMs?: number;
}

/**
 * Hands one claimed event over: breaker cards refreshed for a `breaker.*` event, then a quiet event is marked
 * handed over, any other is enqueued as its post. True when a post was enqueued; a failure frees the claim.
 */
async function deliverEvent(deps: NotifierDeps, breaker: CircuitBreaker, ev: ClaimedOpsEvent): Promise<boolean> {
  const { orm, logger, metrics, config, clock } = deps;
  try {
    if (ev.type.startsWith('breaker.')) await refreshBreakerCards(orm.em.fork(), { breaker, config, now: clock.now() }, `ops-event:${ev.dedupKey}`);
    if (QUIET_EVENT_TYPES.has(ev.type)) {
      await markOpsEventPosted(orm.em, ev.id, clock.now(), false);
      metrics.opsEventsPosted.inc({ type: ev.type, outcome: 'quiet' });
      return false;
    }
    const msg = formatOpsEvent(ev);
    await enqueueSlack(orm.em.fork(), { dedupKey: `ops-event:${ev.dedupKey}`, kind: 'post', ...routed(config, msg.route), text: msg.text, body: msg.body }, clock.now());
    await markOpsEventPosted(orm.em, ev.id, clock.now(), true);
    metrics.opsEventsPosted.inc({ type: ev.type, outcome: 'posted' });
    return true;
  } catch (err) {
    const message = (err as Error).message;
    await releaseOpsEventClaim(orm.em, ev.id, message);
    metrics.opsEventsPosted.inc({ type: ev.type, outcome: 'failed' });
    logger.warn({ eventId: ev.id, type: ev.type, err: message }, 'ops event post failed; will retry');
    return false;
  }
}

/** Creates the notifier; `intervalMs` is the polling period of the outbox. */
export function createNotifier(deps: NotifierDeps): Notifier {
  const { orm, logger, config, clock } = deps;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;
  const tickErrors = createRepeatCollapser(logger);
  const breaker = new CircuitBreaker({ orm, clock, config: config.gateway.breaker });

  async function deliver(): Promise<number> {
    const now = clock.now();
    let posted = 0;
    for (const ev of await claimOpsEvents(orm.em, now, new Date(now.getTime() + LEASE_MS), MAX_ATTEMPTS, BATCH)) if (await deliverEvent(deps, breaker, ev)) posted++;
    return posted;
  }

  const tick = async () => {
    if (running) return running;
    running = deliver().finally(() => {
      running = undefined;
    });
    return running;
  };

  return {
    tick,
    start() {
      const every = deps.intervalMs ?? 1000;
      const loop = () => {
        timer = setTimeout(() => {
          tick()
            .catch((err) => tickErrors.log('error', 'tick', { err: (err as Error).message }, 'notifier tick failed'))
            .finally(() => {
              if (timer) loop();
            });
        }, every);
      };
      loop();
    },
    async stop() {
      const t = timer;
      timer = undefined;
      clearTimeout(t);
      await running?.catch(() => 0);
      await tick().catch(() => 0);
    },
  };
}

/** Whether `err` looks like a lost or refused database connection (socket codes, SQLSTATE 08xxx/57P0x, pool timeouts). */
function connectionLost(err: unknown): boolean {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  if (/^(ECONN|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|08|57P0)/.test(code)) return true;
  return /connect|connection|terminat|Timeout acquiring|ECONNRESET|socket hang up/i.test(typeof e.message === 'string' ? e.message : '');
}

/**
 * The {@link OpsEventFallback} for the composition root: a warning or critical event whose insert failed because
 * the database is unreachable goes straight to Slack from the spool (status channel, the notifier's rendering);
 * when the database is back it is stored as posted (dedup key `ops-event:<dedupKey>` in the outbox), so the notifier
 * never posts it again.
 */
export function spoolOpsEvents(spool: OpsSpool, config: Pick<AppConfig, 'slack' | 'alerting'>): OpsEventFallback {
  return (ev, now, err) => {
    // a trip is normally posted by the CircuitBreakerOpen alert, which cannot run without the database: spool it
    if (ev.severity === 'info' || (QUIET_EVENT_TYPES.has(ev.type) && ev.type !== 'breaker.opened') || !connectionLost(err)) return;
    const msg = formatOpsEvent({ ...ev, createdAt: now });
    void spool.post({ dedupKey: `ops-event:${ev.dedupKey}`, kind: 'post', ...routed(config, msg.route), text: msg.text, body: msg.body }, async (em) => {
      await recordOpsEvent(em, ev, now, { postedAt: now });
    });
  };
}
