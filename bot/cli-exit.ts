/**
 * Exit codes of the `lf` CLI, by convention, for cron jobs and monitoring checks: 0 ok; 1 problems found (a
 * PROBLEM finding, a failed check, a refused or failed action); 2 usage or configuration error; 3 the database or
 * the service (the running sandbox) is unreachable. Light module: the CLI's fast paths load it.
 */
export { EXIT } from './cli-spec.js';

/** Driver and socket error codes that mean "cannot reach it" rather than "it answered no". */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'db_unavailable', '57P03', '3D000']);

/**
 * True when `err` says the database or a service could not be reached: a socket error code, MikroORM's
 * ConnectionException, pg's "Connection terminated" / "timeout exceeded when trying to connect", PostgreSQL's
 * "the database system is starting up" (57P03) or "database does not exist" (3D000), an AppError `db_unavailable`.
 */
export function isUnreachable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const x = e as { name?: string; code?: string; message?: string; cause?: unknown; errors?: unknown[] };
    if (x.name === 'ConnectionException' || (x.code && UNREACHABLE_CODES.has(x.code))) return true;
    if (/ECONNREFUSED|ECONNRESET|ENOTFOUND|Connection terminated|timeout exceeded when trying to connect/.test(x.message ?? '')) return true;
    if (Array.isArray(x.errors) && x.errors.some((inner) => isUnreachable(inner))) return true;
    e = x.cause;
  }
  return false;
}
