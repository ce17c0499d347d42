/**
 * Leader election for running several replicas on one PostgreSQL: only the replica holding a session-level
 * advisory lock (`pg_try_advisory_lock`) on a dedicated connection runs the scheduler; the others try again every
 * `retryMs` (default 10 s) and serve HTTP meanwhile. When the leader dies its connection closes and PostgreSQL
 * releases the lock, so another replica takes over within `retryMs` (plus its connection's detection). A live
 * leader that loses its connection (a database outage) keeps its scheduler and reconnects every second: it takes the
 * lock back, or steps down if another replica got it first — in that window (≤ 1 s after the database returns, at a
 * standby's tick) two schedulers may briefly coexist; the one-running-run-per-job index and the leases keep runs
 * and items single.
 * Not home-made clustering: the lock is PostgreSQL's. Only with DATABASE_URL: the embedded PGlite serves every
 * connection from one backend session (advisory locks cannot exclude there) and is single-process by its folder lock.
 */
import pg from 'pg';
import type { Logger } from '../domain/logger.js';

/** Advisory lock key of the scheduler leader (any constant 64-bit integer; "LFOPSSCH"). */
export const SCHEDULER_LOCK_KEY = 0x4c464f5053534348n;

/** A running election. */
export interface LeaderElection {
  /** True while this replica holds the lock. */
  isLeader(): boolean;
  /** Stops trying; a leader steps down (onDemoted) and releases the lock. */
  stop(): Promise<void>;
}

/** Options. `onElected` runs once per election (start the scheduler); `onDemoted` when the lock is lost or on stop. */
export interface LeaderOptions {
  url: string;
  logger: Logger;
  onElected: () => Promise<void>;
  onDemoted: () => Promise<void>;
  retryMs?: number;
  key?: bigint;
}

/** Starts the election (the first attempt happens before this resolves). */
export async function startLeaderElection(opts: LeaderOptions): Promise<LeaderElection> {
  const retryMs = opts.retryMs ?? 10_000;
  const key = (opts.key ?? SCHEDULER_LOCK_KEY).toString();
  let client: pg.Client | undefined;
  let leader = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let busy: Promise<void> = Promise.resolve();
  /** Leader whose connection (and so its lock) was lost: keeps its scheduler while it retries every second. */
  let suspended = false;
  let fastTimer: NodeJS.Timeout | undefined;

  const demote = async (why: string) => {
    if (!leader) return;
    leader = false;
    opts.logger.warn({ why }, 'scheduler leadership lost: stopping the scheduler');
    await opts.onDemoted().catch((err: unknown) => opts.logger.error({ err: (err as Error).message }, 'step-down failed'));
  };

  /**
   * A leader's connection is gone (a database outage, a killed backend): its scheduler keeps running — a daily run
   * waits the outage out instead of being cut — while it reconnects every second; it takes the lock back, or steps
   * down when another replica holds it by then.
   */
  const suspend = (why: string) => {
    if (!leader || suspended || stopped) return;
    suspended = true;
    opts.logger.warn({ why }, 'scheduler leader lost its database connection: keeping the scheduler, reconnecting every second');
    fastTimer = setInterval(loop, 1000);
    fastTimer.unref();
    loop();
  };
  const resume = () => {
    suspended = false;
    clearInterval(fastTimer);
    fastTimer = undefined;
  };
  const attempt = async () => {
    if (stopped) return;
    if (leader && suspended) {
      try {
        const c = new pg.Client({ connectionString: opts.url, application_name: 'leadfactory-ops:leader' });
        c.on('error', () => undefined);
        await c.connect();
        const res = await c.query<{ ok: boolean }>('select pg_try_advisory_lock($1::bigint) as ok', [key]);
        if (!res.rows[0]?.ok) {
          await c.end().catch(() => undefined);
          resume();
          await demote('another replica took the lock while the connection was lost');
          return;
        }
        c.removeAllListeners('error');
        c.on('error', (err) => {
          opts.logger.error({ err: err.message }, 'leader connection error');
          if (client === c) client = undefined;
          suspend('connection error');
        });
        c.on('end', () => {
          if (client === c) client = undefined;
          suspend('connection closed');
        });
        client = c;
        resume();
        opts.logger.info('scheduler leadership kept: lock taken back after the connection returned');
      } catch {
        // still unreachable: the next second tries again
      }
      return;
    }
    if (leader) {
      // the leader checks its own connection every round: a lost session means a lost lock
      try {
        await client!.query('select 1');
      } catch (err) {
        const c = client;
        client = undefined;
        await c?.end().catch(() => undefined);
        suspend(`connection check failed: ${(err as Error).message}`);
      }
      return;
    }
    try {
      if (!client) {
        const c = new pg.Client({ connectionString: opts.url, application_name: 'leadfactory-ops:leader' });
        c.on('error', (err) => {
          opts.logger.error({ err: err.message }, 'leader connection error');
          if (client === c) client = undefined;
          suspend('connection error');
        });
        c.on('end', () => {
          if (client === c) client = undefined;
          suspend('connection closed');
        });
        await c.connect();
        client = c;
      }
      const res = await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1::bigint) as ok', [key]);
      if (res.rows[0]?.ok && !stopped) {
        leader = true;
        opts.logger.info('elected scheduler leader (advisory lock held)');
        await opts.onElected();
      }
    } catch (err) {
      opts.logger.warn({ err: (err as Error).message }, 'leader election attempt failed; will retry');
      const c = client;
      client = undefined;
      await c?.end().catch(() => undefined);
    }
  };

  const loop = () => {
    busy = busy.then(attempt);
  };
  loop();
  await busy;
  timer = setInterval(loop, retryMs);
  timer.unref();

  return {
    isLeader: () => leader,
    async stop() {
      stopped = true;
      clearInterval(timer);
      clearInterval(fastTimer);
      await busy;
      const wasLeader = leader;
      await demote('stopping');
      const c = client;
      client = undefined;
      if (c) {
        if (wasLeader) await c.query('select pg_advisory_unlock($1::bigint)', [key]).catch(() => undefined);
        await c.end().catch(() => undefined);
      }
    },
  };
}
