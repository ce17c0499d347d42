/**
 * The project's error types. Every error the app raises on purpose is an {@link AppError} with a string `code`;
 * unknown errors are wrapped once at the edge with {@link toAppError}.
 */

/** Machine-readable error codes, shown in Slack next to a human sentence. */
export type ErrorCode =
  | 'config_invalid'
  | 'provider_error'
  | 'not_found'
  | 'approval_required'
  | 'db_locked'
  | 'db_unavailable'
  | 'job_running'
  | 'bad_request'
  | 'internal';

/** Base error: `code` for machines, `message` for people, `retryable` for the caller's retry policy. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  constructor(code: ErrorCode, message: string, opts: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = opts.retryable ?? false;
  }
}

/** Configuration is invalid; `problems` holds one line per variable (`NAME: what is wrong`). */
export class ConfigError extends AppError {
  readonly problems: string[];
  constructor(problems: string[]) {
    super('config_invalid', `Invalid configuration:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

/**
 * A provider call failed. `status` is the HTTP status when there was an answer (undefined for network errors
 * and timeouts); `providerCode` is the provider's own error code from its error body when it sent one
 * (e.g. Yelp `TOO_MANY_REQUESTS_PER_SECOND`, OpenAI `insufficient_quota`).
 */
export class ProviderError extends AppError {
  readonly provider: string;
  readonly operation: string;
  readonly status: number | undefined;
  readonly providerCode: string | undefined;
  constructor(args: {
    provider: string;
    operation: string;
    status?: number;
    providerCode?: string;
    message: string;
    retryable: boolean;
    cause?: unknown;
  }) {
    super('provider_error', `${args.provider} ${args.operation}: ${args.message}`, {
      cause: args.cause,
      retryable: args.retryable,
    });
    this.provider = args.provider;
    this.operation = args.operation;
    this.status = args.status;
    this.providerCode = args.providerCode;
  }
}

/** A looked-up record does not exist. */
export class NotFoundError extends AppError {
  constructor(what: string) {
    super('not_found', `${what} not found`);
  }
}

/** An action needs a confirmation or a role the caller does not have. */
export class ApprovalRequiredError extends AppError {
  constructor(message: string) {
    super('approval_required', message);
  }
}

/** Wraps anything thrown into an AppError (kept as is when it already is one). */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new AppError('internal', message, { cause: err });
}
