/**
 * The scheduler's reaper loop (leader only: the scheduler runs on the leader): a pass of domain/pipeline/reaper.ts
 * every quarter lease (at most every 30 s, at least every second) and before a run starts, passes serialised; and
 * the "can this job start" question answered after a pass.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Clock } from '../domain/clock.js';
import type { AppConfig } from '../domain/config.js';
import type { Logger } from '../domain/logger.js';
import { reapExpiredLeases } from '../domain/pipeline/reaper.js';
import { runningRuns } from '../domain/queries/runs.js';
import type { Providers } from '../domain/services.js';

/** What the reaper loop needs. */
interface ReaperLoopDeps {
  config: AppConfig;
  logger: Logger;
  orm: MikroORM;
  clock: Clock;
  providers?: Pick<Providers, 'sendgrid'>;
  /** True when the run `runId` of `job` is alive in this process (its lease is not reaped). */
  isLocalRunAlive(job: string, runId: number): boolean;
}

/** A running reaper loop. */
export interface ReaperLoop {
  /** One pass now (for `job` only when given), after any pass under way. Never rejects. */
  reap(job?: string): Promise<void>;
  /** Why `name` cannot start now: a run of it still `running` under a live lease (after reaping), else undefined. */
  blocker(name: string): Promise<string | undefined>;
  /** Stops the periodic passes. */
  stop(): void;
}

/** Creates the loop and starts its periodic passes. */
export function createReaperLoop(deps: ReaperLoopDeps): ReaperLoop {
  const { config, logger } = deps;
  const leaseMs = config.stages.leaseMs;
  let reaping: Promise<void> = Promise.resolve();
  let reapFailing = false;
  const reap = (job?: string): Promise<void> => {
    reaping = reaping.then(async () => {
      try {
        const r = await reapExpiredLeases({
          em: () => deps.orm.em.fork(),
          clock: deps.clock,
          logger,
          leaseMs,
          settleMs: config.stages.activitySettleMs,
          sendgrid: deps.providers?.sendgrid,
          isLocalRunAlive: deps.isLocalRunAlive,
          job,
        });
        const n = r.runsInterrupted.length + r.businessesReleased + r.emailsSent.length + r.emailsRequeued.length + r.emailsUnconfirmed.length;
        if (n > 0) logger.warn({ ...r }, 'reaper returned the work of dead lease holders');
        if (reapFailing) logger.info('reaper works again');
        reapFailing = false;
      } catch (err) {
        if (!reapFailing) logger.warn({ err: (err as Error).message }, 'reaper pass failed; retrying every pass');
        reapFailing = true;
      }
    });
    return reaping;
  };
  const timer = setInterval(() => void reap(), Math.max(1000, Math.min(30_000, Math.floor(leaseMs / 4))));
  timer.unref();
  return {
    reap,
    async blocker(name) {
      await reap(name);
      try {
        const [r] = await runningRuns(deps.orm.em.fork(), name);
        if (!r) return undefined;
        return `run #${r.id} is running (holder ${r.leaseHolder ?? 'unknown'}, lease until ${r.leaseExpiresAt?.toISOString() ?? 'unset'})`;
      } catch (err) {
        return `the database cannot be read (${(err as Error).message})`;
      }
    },
    stop: () => clearInterval(timer),
  };
}
