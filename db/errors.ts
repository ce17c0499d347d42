/**
 * Errors of the database layer. db/ imports nothing of the application, so it has its own error type;
 * domain/errors.ts `toAppError` turns a {@link DatabaseError} into an `AppError` with the same `code`.
 */

/** Machine-readable codes of {@link DatabaseError} (the same strings as the application's `ErrorCode`s). */
export type DatabaseErrorCode = 'db_locked' | 'db_unavailable';

/**
 * A database failure with a `code`: `db_locked` (the embedded folder is held by another live process, named in
 * the message), `db_unavailable` (the embedded server did not come up).
 */
export class DatabaseError extends Error {
  readonly code: DatabaseErrorCode;
  constructor(code: DatabaseErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'DatabaseError';
    this.code = code;
  }
}
