/**
 * Leases, not flags (issue #13). Every job run (`job_runs.lease_holder/lease_expires_at`) and every claimed item
 * (`emails` in `sending`: `lease_holder/lease_expires_at`; businesses claimed for assessment:
 * `claim_holder/claimed_until`) names its holder and when its lease runs out. The holder renews every third of the
 * lease ({@link keepLeases}); the scheduler leader's reaper (domain/pipeline/reaper.ts) returns what a dead holder
 * left.
 *
 * A holder is `host:pid:boot` (this process; worker threads share it) with `#<runId>` for items claimed by a run.
 * A holder is dead when
 * - its lease expired (the general rule, for holders on other hosts or live other processes), or
 * - its process is gone: same host, and no process has its pid (kill -9, OOM) — then nothing waits for the lease, or
 * - its run is no longer `running` (items of a run the reaper or a shutdown closed).
 * A holder in this very process is alive while the caller says so (the scheduler knows its workers), even with an
 * expired lease: after a database outage a live worker renews as soon as it can.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from './logger.js';
import { renewItemLeases } from './queries/emails.js';
import { renewBusinessClaims } from './queries/businesses.js';
import { renewRunLease } from './queries/runs.js';

const BOOT_ENV = 'LF_PROCESS_BOOT';

/**
 * This process's holder id, `host:pid:boot`. `boot` is random per process and kept in the environment, so worker
 * threads started after the first call share it.
 */
export function processHolder(): string {
  process.env[BOOT_ENV] ??= randomBytes(4).toString('hex');
  return `${hostname()}:${process.pid}:${process.env[BOOT_ENV]}`;
}

/** The holder id of items claimed by run `runId` of this process: `host:pid:boot#runId`. */
export function runHolder(runId: number): string {
  return `${processHolder()}#${runId}`;
}

/** A parsed holder id. */
export interface ParsedHolder {
  host: string;
  pid: number;
  boot: string;
  runId: number | undefined;
}

/** Parses `host:pid:boot[#runId]`; undefined for anything else (a legacy or foreign holder). */
export function parseHolder(holder: string | null | undefined): ParsedHolder | undefined {
  const m = /^(.+):(\d+):([0-9a-z]+)(?:#(\d+))?(?:\/.*)?$/.exec(holder ?? '');
  if (!m) return undefined;
  return { host: m[1]!, pid: Number(m[2]), boot: m[3]!, runId: m[4] === undefined ? undefined : Number(m[4]) };
}

/** `self` = this process; `gone` = its process no longer exists (same host); `unknown` = only its lease can tell. */
export type HolderState = 'self' | 'gone' | 'unknown';

/** Where the holder's process stands (see {@link HolderState}). */
export function holderState(holder: string | null | undefined): HolderState {
  const h = parseHolder(holder);
  if (!h || h.host !== hostname()) return 'unknown';
  const [, , myBoot] = processHolder().split(':');
  if (h.pid === process.pid) return h.boot === myBoot ? 'self' : 'gone';
  try {
    process.kill(h.pid, 0);
    return 'unknown'; // some process has that pid (perhaps a later one): wait for the lease
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH' ? 'gone' : 'unknown';
  }
}

/** A lease as stored. */
export interface LeaseRow {
  holder: string | null;
  expiresAt: Date | null;
}

/**
 * True when the lease's holder is dead at `now` (module comment). `runningRunIds`: runs still `running` (items of
 * other runs are orphans); `selfAlive`: whether a holder in this process is still at work (undefined: its lease says).
 */
export function leaseIsDead(lease: LeaseRow, now: Date, ctx: { runningRunIds?: ReadonlySet<number>; selfAlive?: (h: ParsedHolder) => boolean | undefined } = {}): boolean {
  const parsed = parseHolder(lease.holder);
  const expired = lease.expiresAt === null || lease.expiresAt.getTime() < now.getTime();
  if (parsed?.runId !== undefined && ctx.runningRunIds && !ctx.runningRunIds.has(parsed.runId)) return true;
  const state = holderState(lease.holder);
  if (state === 'gone') return true;
  const alive = state === 'self' ? ctx.selfAlive?.(parsed!) : undefined;
  return alive === undefined ? expired : !alive;
}

/** A running renewal: `stop()` ends it; `lost()` is true once the run's row was found no longer `running`. */
export interface LeaseKeeper {
  stop(): void;
  lost(): boolean;
  /** Renews now (also what the timer does); resolves false when the run's lease is lost. */
  renew(): Promise<boolean>;
}

/**
 * Renews every third of `leaseMs`: the run `runId` (when given; only while `running`), then the emails in `sending`
 * and the businesses claimed by `holder`. Database errors are logged once per streak and retried at the next tick
 * (a database outage is waited out; the reaper never takes a live holder's work in this process).
 */
export function keepLeases(opts: {
  em: () => EntityManager;
  holder: string;
  leaseMs: number;
  now: () => Date;
  logger: Logger;
  runId?: number;
}): LeaseKeeper {
  let lostRun = false;
  let failing = false;
  const renew = async (): Promise<boolean> => {
    const until = new Date(opts.now().getTime() + opts.leaseMs);
    try {
      const em = opts.em();
      if (opts.runId !== undefined && !(await renewRunLease(em, opts.runId, until))) lostRun = true;
      await renewItemLeases(em, opts.holder, until);
      await renewBusinessClaims(em, opts.holder, until);
      if (failing) opts.logger.info({ holder: opts.holder }, 'leases renewed again');
      failing = false;
    } catch (err) {
      if (!failing) opts.logger.warn({ holder: opts.holder, err: (err as Error).message }, 'lease renewal failed; retrying');
      failing = true;
    }
    return !lostRun;
  };
  const timer = setInterval(() => void renew(), Math.max(1000, Math.floor(opts.leaseMs / 3)));
  timer.unref();
  return { stop: () => clearInterval(timer), lost: () => lostRun, renew };
}
