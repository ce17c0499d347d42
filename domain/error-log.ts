/**
 * Keeps the log's recent errors queryable (`/lf errors`, the quick-diagnostics runbook): a pino stream that
 * copies every record at level ≥ error (50) into a small in-memory queue, and a writer that moves the queue
 * into the `error_records` table every `flushMs`, pruning rows beyond `maxRows` or older than `maxAgeMs`.
 * Records are already redacted by the logger; only the message, component, error code/message and a few id
 * fields are kept (never bodies).
 *
 * Before a database is attached (start-up), records wait in the queue (at most `queueMax`, oldest dropped).
 */
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { Writable } from 'node:stream';
import { errorRecordsSince, insertErrorRecords, pruneErrorRecords } from './queries/error-records.js';

/** One stored error record (table `error_records`). */
export interface ErrorEntry {
  at: Date;
  level: 'error' | 'fatal';
  component: string | null;
  msg: string;
  code: string | null;
  /** Small context: ids and the error's message, as logged. */
  context: Record<string, unknown>;
}

const KEEP_KEYS = ['job', 'provider', 'route', 'subcommand', 'user', 'channel', 'runId', 'status', 'event', 'thread'];

/** Converts a pino JSON line into an {@link ErrorEntry}, or undefined below error level / unparsable. */
export function toErrorEntry(line: string): ErrorEntry | undefined {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const level = typeof rec.level === 'number' ? rec.level : 0;
  if (level < 50) return undefined;
  const err = (rec.err ?? rec.error) as { message?: string; code?: string; type?: string } | string | undefined;
  const context: Record<string, unknown> = {};
  for (const k of KEEP_KEYS) if (rec[k] !== undefined) context[k] = rec[k];
  if (typeof err === 'string') context.error = err.split('\n')[0];
  else if (err?.message) context.error = String(err.message).split('\n')[0];
  const code = typeof rec.code === 'string' ? rec.code : typeof err === 'object' && typeof err?.code === 'string' ? err.code : null;
  return {
    at: new Date(typeof rec.time === 'number' ? rec.time : Date.now()),
    level: level >= 60 ? 'fatal' : 'error',
    component: typeof rec.component === 'string' ? rec.component : null,
    msg: String(rec.msg ?? '').slice(0, 1000),
    code,
    context,
  };
}

/** The capture: a pino destination stream plus `attach(orm)` / `flush()` / `stop()`. */
export interface ErrorLog {
  /** Give this to pino.multistream at level 'error'. */
  stream: Writable;
  attach(orm: MikroORM): void;
  /** Writes queued records now; resolves when stored (errors while storing are swallowed and counted). */
  flush(): Promise<void>;
  stop(): Promise<void>;
  /** Records dropped because the queue was full or the database refused them. */
  dropped(): number;
}

/** Options: `flushMs` (default 2000), `maxRows` (5000), `maxAgeMs` (7 days), `queueMax` (1000). */
export function createErrorLog(opts: { flushMs?: number; maxRows?: number; maxAgeMs?: number; queueMax?: number } = {}): ErrorLog {
  const flushMs = opts.flushMs ?? 2000;
  const maxRows = opts.maxRows ?? 5000;
  const maxAgeMs = opts.maxAgeMs ?? 7 * 24 * 3600 * 1000;
  const queueMax = opts.queueMax ?? 1000;
  const queue: ErrorEntry[] = [];
  let orm: MikroORM | undefined;
  let timer: NodeJS.Timeout | undefined;
  let dropped = 0;
  let flushing: Promise<void> | undefined;

  const stream = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      for (const line of String(chunk).split('\n')) {
        if (!line) continue;
        const e = toErrorEntry(line);
        if (!e) continue;
        if (queue.length >= queueMax) {
          queue.shift();
          dropped++;
        }
        queue.push(e);
      }
      cb();
    },
  });

  const flushOnce = async () => {
    if (!orm || queue.length === 0) return;
    const batch = queue.splice(0, queue.length);
    try {
      await storeErrors(orm.em.fork(), batch, { maxRows, maxAgeMs });
    } catch {
      dropped += batch.length; // the database is away: these are lost, counted (logging here would loop)
    }
  };
  const flush = async () => {
    while (flushing) await flushing;
    flushing = flushOnce().finally(() => {
      flushing = undefined;
    });
    await flushing;
  };

  return {
    stream,
    attach(o) {
      orm = o;
      timer ??= setInterval(() => void flush(), flushMs);
      timer.unref();
    },
    flush,
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await flush();
      orm = undefined;
    },
    dropped: () => dropped,
  };
}

/** Inserts entries and prunes old rows (older than `maxAgeMs` relative to the newest entry, or beyond `maxRows`). */
export async function storeErrors(
  em: EntityManager,
  entries: ErrorEntry[],
  limits: { maxRows: number; maxAgeMs: number },
): Promise<void> {
  if (entries.length === 0) return;
  await insertErrorRecords(em, entries);
  const newest = new Date(Math.max(...entries.map((e) => e.at.getTime())));
  await pruneErrorRecords(em, new Date(newest.getTime() - limits.maxAgeMs), limits.maxRows);
}

/** A stored error with its id. */
export interface StoredError extends ErrorEntry {
  id: number;
}

/** Recent errors, newest first: at most `limit` (default 20) since `since` (default: all kept). */
export async function recentErrors(em: EntityManager, opts: { since?: Date; limit?: number } = {}): Promise<StoredError[]> {
  const rows = await errorRecordsSince(em, opts.since ?? new Date(0), opts.limit ?? 20);
  return rows.map((r) => ({ ...r, level: r.level as 'error' | 'fatal' }));
}
