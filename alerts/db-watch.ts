/**
 * The database watch: pings PostgreSQL on its own connection (not the pool, which may be exhausted or waiting)
 * every few seconds. After {@link DOWN_AFTER} failed pings in a row the outage is declared and posted at once
 * through the ops spool (alerts/ops-spool.ts), straight to Slack, since the outbox lives in the unreachable
 * database: DatabaseUnavailable reaches Slack within about 15 s of the outage's start (interval × DOWN_AFTER plus the
 * ping timeout). When a ping succeeds again the spool is written to the outbox (deduplicated, not re-posted), and
 * the outage post gets one thread reply saying how long it lasted plus one edit marking it resolved, through the
 * outbox. No alert row and no incident are made for it: by the time anything can be stored, the outage is over.
 */
import pg from 'pg';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Clock } from '../domain/clock.js';
import type { Logger } from '../domain/logger.js';
import { pingClient } from '../domain/queries/health.js';
import { enqueueSlack } from './slack-outbox.js';
import type { OpsSpool } from './ops-spool.js';

/** Failed pings in a row that make an outage. */
export const DOWN_AFTER = 2;
/** Default ping period (ms). */
export const WATCH_INTERVAL_MS = 5000;
/** A ping that has not answered after this long failed (ms). */
export const PING_TIMEOUT_MS = 3000;

/** `select 1` on a fresh connection to `url` (its own client, closed after); throws when it fails or times out. */
export async function pgPing(url: string, timeoutMs = PING_TIMEOUT_MS): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await pingClient(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The running watch. `check()` pings once and acts on the result (the loop calls it every interval). */
export interface DbWatch {
  check(): Promise<'up' | 'down'>;
  /** When the current outage started (first failed ping), or undefined while the database answers. */
  downSince(): Date | undefined;
  start(): void;
  stop(): void;
}

const hhmmss = (d: Date) => `${d.toISOString().slice(11, 19)} UTC`;

/** What the watch needs (see {@link createDbWatch}). */
interface DbWatchDeps {
  ping: () => Promise<void>;
  em: () => EntityManager;
  spool: OpsSpool;
  logger: Logger;
  clock: Clock;
  channel: string;
  intervalMs?: number;
  downAfter?: number;
}

/** An outage declared: since the first failed ping, with the last error. */
interface Outage {
  since: Date;
  error: string;
}

/** The outbox ref of an outage's post. */
const outageRef = (since: Date) => `db-outage:${since.getTime()}`;

/** Posts a declared outage straight to Slack through the spool. */
async function postOutage(deps: DbWatchDeps, outage: Outage): Promise<void> {
  const ref = outageRef(outage.since);
  await deps.spool.post({
    dedupKey: ref,
    kind: 'post',
    route: 'alerts',
    channel: deps.channel,
    ref,
    text: `:rotating_light: *DatabaseUnavailable* (critical) — the database has not answered since ${hhmmss(outage.since)} (${outage.error}). Jobs and webhooks wait for it; this post was sent from memory and is recorded when the database is back.`,
  });
}

/** The database is back after `outage`: the spool written to the outbox, then the outage post's reply and edit enqueued. */
async function recovered(deps: DbWatchDeps, em: EntityManager, outage: Outage): Promise<void> {
  const { clock, channel } = deps;
  const now = clock.now();
  const seconds = Math.round((now.getTime() - outage.since.getTime()) / 1000);
  await deps.spool.flush(em);
  const r = outageRef(outage.since);
  await enqueueSlack(em, { dedupKey: `${r}:resolved`, kind: 'reply', route: 'alerts', channel, ref: r, text: `:white_check_mark: Database back at ${hhmmss(now)} after ${seconds} s.` }, now);
  await enqueueSlack(
    em,
    { dedupKey: `${r}:edit`, kind: 'update', route: 'alerts', channel, ref: r, text: `:white_check_mark: [RESOLVED] *DatabaseUnavailable* — the database did not answer from ${hhmmss(outage.since)} to ${hhmmss(now)} (${seconds} s). Last error: ${outage.error}` },
    now,
  );
  deps.logger.info({ since: outage.since.toISOString(), seconds }, 'database reachable again; spooled ops posts written to the outbox');
}

/** Creates the watch; `channel` is where DatabaseUnavailable is posted (the alerts channel). */
export function createDbWatch(deps: DbWatchDeps): DbWatch {
  const { spool, logger, clock } = deps;
  const downAfter = deps.downAfter ?? DOWN_AFTER;
  let failures = 0;
  let firstFailure: Date | undefined;
  let declared: Outage | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<'up' | 'down'> | undefined;

  async function checkOnce(): Promise<'up' | 'down'> {
    try {
      await deps.ping();
    } catch (err) {
      failures += 1;
      firstFailure ??= clock.now();
      const error = String((err as Error)?.message ?? err).slice(0, 300);
      if (failures >= downAfter && !declared) {
        declared = { since: firstFailure, error };
        logger.error({ since: firstFailure.toISOString(), err: error }, 'database unreachable: DatabaseUnavailable posted straight to Slack');
        await postOutage(deps, declared);
      }
      return 'down';
    }
    failures = 0;
    firstFailure = undefined;
    const outage = declared;
    if (outage) await recovered(deps, deps.em(), outage);
    else if (spool.size().held > 0) await spool.flush(deps.em());
    declared = undefined;
    return 'up';
  }

  const check = (): Promise<'up' | 'down'> => {
    running ??= checkOnce().finally(() => {
      running = undefined;
    });
    return running;
  };

  return {
    check,
    downSince: () => declared?.since ?? firstFailure,
    start() {
      timer ??= setInterval(() => {
        if (!running) void check().catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'database watch: writing the spool back failed; retrying'));
      }, deps.intervalMs ?? WATCH_INTERVAL_MS);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
    },
  };
}
