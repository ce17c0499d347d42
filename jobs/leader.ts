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
import { advisoryUnlock, pingSession, tryAdvisoryLock } from '../domain/queries/advisory-locks.js';

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

/** The state of one replica's election; {@link startLeaderElection} drives it. */
class Election {
  private client: pg.Client | undefined;
  leader = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<void> = Promise.resolve();
  /** Leader whose connection (and so its lock) was lost: keeps its scheduler while it retries every second. */
  private suspended = false;
  private fastTimer: NodeJS.Timeout | undefined;
  private readonly key: string;

  constructor(private readonly opts: LeaderOptions) {
    this.key = (opts.key ?? SCHEDULER_LOCK_KEY).toString();
  }

  /** Queues one attempt after the previous one (attempts never overlap). */
  readonly loop = (): void => {
    this.busy = this.busy.then(() => this.attempt());
  };

  /** Runs the first attempt, then one every `retryMs` (default 10 s). */
  async start(): Promise<void> {
    this.loop();
    await this.busy;
    this.timer = setInterval(this.loop, this.opts.retryMs ?? 10_000);
    this.timer.unref();
  }

  private async demote(why: string): Promise<void> {
    if (!this.leader) return;
    this.leader = false;
    this.opts.logger.warn({ why }, 'scheduler leadership lost: stopping the scheduler');
    await this.opts.onDemoted().catch((err: unknown) => this.opts.logger.error({ err: (err as Error).message }, 'step-down failed'));
  }

  /**
   * A leader's connection is gone (a database outage, a killed backend): its scheduler keeps running — a daily run
   * waits the outage out instead of being cut — while it reconnects every second; it takes the lock back, or steps
   * down when another replica holds it by then.
   */
  private suspend(why: string): void {
    if (!this.leader || this.suspended || this.stopped) return;
    this.suspended = true;
    this.opts.logger.warn({ why }, 'scheduler leader lost its database connection: keeping the scheduler, reconnecting every second');
    this.fastTimer = setInterval(this.loop, 1000);
    this.fastTimer.unref();
    this.loop();
  }

  private resume(): void {
    this.suspended = false;
    clearInterval(this.fastTimer);
    this.fastTimer = undefined;
  }

  /** Watches the lock's connection: an error or its end suspends a leader (and forgets the client). */
  private watch(c: pg.Client): void {
    c.on('error', (err) => {
      this.opts.logger.error({ err: err.message }, 'leader connection error');
      if (this.client === c) this.client = undefined;
      this.suspend('connection error');
    });
    c.on('end', () => {
      if (this.client === c) this.client = undefined;
      this.suspend('connection closed');
    });
  }

  private newClient(): pg.Client {
    return new pg.Client({ connectionString: this.opts.url, application_name: 'leadfactory-ops:leader' });
  }

  /** Closes the current client (if any) and forgets it; never throws. */
  private async dropClient(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }

  private async attempt(): Promise<void> {
    if (this.stopped) return;
    if (this.leader && this.suspended) return this.retake();
    if (this.leader) return this.checkConnection();
    return this.tryElect();
  }

  /** A suspended leader reconnects: lock taken back (scheduler kept), or another replica has it (step down). */
  private async retake(): Promise<void> {
    try {
      const c = this.newClient();
      c.on('error', () => undefined);
      await c.connect();
      if (!(await tryAdvisoryLock(c, this.key))) {
        await c.end().catch(() => undefined);
        this.resume();
        await this.demote('another replica took the lock while the connection was lost');
        return;
      }
      c.removeAllListeners('error');
      this.watch(c);
      this.client = c;
      this.resume();
      this.opts.logger.info('scheduler leadership kept: lock taken back after the connection returned');
    } catch {
      // still unreachable: the next second tries again
    }
  }

  /** The leader checks its own connection every round: a lost session means a lost lock. */
  private async checkConnection(): Promise<void> {
    try {
      await pingSession(this.client!);
    } catch (err) {
      await this.dropClient();
      this.suspend(`connection check failed: ${(err as Error).message}`);
    }
  }

  /** A standby tries the lock (connecting first when needed); elected, it starts the scheduler. */
  private async tryElect(): Promise<void> {
    try {
      if (!this.client) {
        const c = this.newClient();
        this.watch(c);
        await c.connect();
        this.client = c;
      }
      if ((await tryAdvisoryLock(this.client, this.key)) && !this.stopped) {
        this.leader = true;
        this.opts.logger.info('elected scheduler leader (advisory lock held)');
        await this.opts.onElected();
      }
    } catch (err) {
      this.opts.logger.warn({ err: (err as Error).message }, 'leader election attempt failed; will retry');
      await this.dropClient();
    }
  }

  /** Stops trying; a leader steps down and releases the lock. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.fastTimer);
    await this.busy;
    const wasLeader = this.leader;
    await this.demote('stopping');
    const c = this.client;
    this.client = undefined;
    if (c) {
      if (wasLeader) await advisoryUnlock(c, this.key).catch(() => undefined);
      await c.end().catch(() => undefined);
    }
  }
}

/** Starts the election (the first attempt happens before this resolves). */
export async function startLeaderElection(opts: LeaderOptions): Promise<LeaderElection> {
  const election = new Election(opts);
  await election.start();
  return { isLeader: () => election.leader, stop: () => election.stop() };
}
