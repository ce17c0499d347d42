/**
 * The id of the work a log line belongs to, carried by AsyncLocalStorage: an inbound HTTP request (`requestId`,
 * bot/http-guards.ts gives every request one and answers it in `X-Request-Id`) or a job run (`job`, `runId`). Every
 * logger made by domain/logger.ts adds the current context to each line (pino `mixin`), so all the lines of one
 * request or run, across modules and awaits, share the id.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

/** Fields added to every line written inside the context. */
export interface LogContext {
  requestId?: string;
  job?: string;
  runId?: string | number;
}

const storage = new AsyncLocalStorage<LogContext>();

/** Runs `fn` with `ctx` (merged over the enclosing context) as the log context of everything it starts. */
export function withLogContext<T>(ctx: LogContext, fn: () => T): T {
  return storage.run({ ...storage.getStore(), ...ctx }, fn);
}

/** The current context, or an empty object. */
export function currentLogContext(): LogContext {
  return storage.getStore() ?? {};
}

/** A short random id (12 hex characters) for a request or a run without a database id. */
export function newLogId(): string {
  return randomUUID().replace(/-/g, '').slice(0, 12);
}
