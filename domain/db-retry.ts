/**
 * Waiting out database outages (issue #13): connection errors are told apart from every other error, and a unit of
 * database work that failed on one is tried again with exponential backoff (0.5 s doubling to 5 s, with jitter)
 * until it succeeds or `maxWaitMs` have passed since the first failure. Only idempotent work may be wrapped: a unit
 * is repeated whole.
 */
import type { Logger } from './logger.js';

/** Node socket error codes of a lost or refused connection. */
const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);

/** Driver and pool messages of a lost connection (pg, knex/tarn, MikroORM). */
const MESSAGES = [
  /connection terminated/i,
  /connection (?:is )?(?:closed|ended|lost)/i,
  /terminating connection/i,
  /server closed the connection/i,
  /Client has encountered a connection error/i,
  /Timeout acquiring a connection/i,
  /the database system is (?:starting up|shutting down|in recovery mode)/i,
  /Cannot use a pool after calling end/i,
  /read ECONNRESET|connect ECONNREFUSED/i,
  /Connection lost/i,
  /socket hang up/i,
];

/**
 * True when `err` (or one of its causes) says the database connection failed rather than the statement: a socket
 * error code, PostgreSQL SQLSTATE class 08 (connection exception), 57P01–57P03 (admin/crash shutdown, cannot connect
 * now), 53300 (too many connections), or a pool/driver message of a lost connection.
 */
export function isConnectionError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const o = e as { code?: unknown; message?: unknown; cause?: unknown; name?: unknown };
    const code = typeof o.code === 'string' ? o.code : undefined;
    if (code && (code === 'db_unavailable' || NET_CODES.has(code) || code.startsWith('08') || ['57P01', '57P02', '57P03', '53300'].includes(code))) return true;
    if (o.name === 'ConnectionException') return true;
    const message = typeof o.message === 'string' ? o.message : '';
    if (MESSAGES.some((re) => re.test(message))) return true;
    e = o.cause;
  }
  return false;
}

/** Options of {@link withDbRetry}. */
export interface DbRetryOptions {
  /** Give up (rethrow the last error) this long after the first failure (ms). */
  maxWaitMs: number;
  logger: Logger;
  /** What is being done, for the log lines. */
  what: string;
  /** Sleep (tests); default setTimeout. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Runs `fn`; on a connection error ({@link isConnectionError}) waits and runs it again, backing off, until it
 * succeeds or `maxWaitMs` have passed (then the last error is thrown). Other errors are thrown at once. Logs the
 * first failure and the recovery (with how long it waited and how many tries), not every attempt.
 */
export async function withDbRetry<T>(fn: () => Promise<T>, opts: DbRetryOptions): Promise<T> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let firstFailure: number | undefined;
  let delay = 500;
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await fn();
      if (firstFailure !== undefined) opts.logger.info({ what: opts.what, waitedMs: Date.now() - firstFailure, attempts: attempt }, 'database is back: carrying on');
      return result;
    } catch (err) {
      if (!isConnectionError(err)) throw err;
      firstFailure ??= Date.now();
      if (attempt === 1) opts.logger.warn({ what: opts.what, err: (err as Error).message }, 'database unreachable: backing off and retrying');
      if (Date.now() - firstFailure >= opts.maxWaitMs) throw err;
      await sleep(Math.round(delay * (0.75 + Math.random() * 0.5)));
      delay = Math.min(delay * 2, 5000);
    }
  }
}
