/**
 * The project's error types. Every error the app raises on purpose is an {@link AppError} with a string `code`;
 * unknown errors are wrapped once at the edge with {@link toAppError}.
 */
import { DatabaseError } from '../db/errors.js';

/** Machine-readable error codes, shown in Slack next to a human sentence. */
export type ErrorCode =
  | 'config_invalid'
  | 'provider_error'
  | 'not_found'
  | 'approval_required'
  | 'db_locked'
  | 'db_unavailable'
  | 'job_running'
  | 'lease_lost'
  | 'bad_request'
  | 'rate_limited'
  | 'quota_exhausted'
  | 'circuit_open'
  | 'budget_exceeded'
  | 'deadline_exceeded'
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
  /** From the answer's `Retry-After` header (seconds or HTTP date), in ms; undefined when absent. */
  readonly retryAfterMs: number | undefined;
  constructor(args: {
    provider: string;
    operation: string;
    status?: number;
    providerCode?: string;
    message: string;
    retryable: boolean;
    retryAfterMs?: number;
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
    this.retryAfterMs = args.retryAfterMs;
  }
}

/**
 * PageSpeed Insights answered 200 but Lighthouse could not measure the page: `lighthouseResult.runtimeError`
 * (`{code, message}`, "a top-level error message that, if present, indicates a serious enough problem that this
 * Lighthouse result may need to be discarded", PSI v5 LighthouseResultV5.RuntimeError), e.g. `FAILED_DOCUMENT_REQUEST`,
 * `ERRORED_DOCUMENT_REQUEST`, `NO_FCP`. `providerCode` is Lighthouse's code. The provider itself is healthy (it
 * answered), so the circuit breaker does not count it, and it is not retried within the call.
 */
export class LighthouseRuntimeError extends ProviderError {
  /** Lighthouse's error code (`runtimeError.code`). */
  readonly lighthouseCode: string;
  /** Lighthouse's message (`runtimeError.message`). */
  readonly lighthouseMessage: string;
  constructor(args: { operation: string; status: number; code: string; message: string }) {
    super({ provider: 'pagespeed', operation: args.operation, status: args.status, providerCode: args.code, message: `Lighthouse runtimeError ${args.code}: ${args.message}`, retryable: false });
    this.lighthouseCode = args.code;
    this.lighthouseMessage = args.message;
  }
}

/** A provider's rate limit (ours or its Retry-After) has no budget now; `availableAt` says when it returns. */
export class RateLimitedError extends AppError {
  readonly provider: string;
  readonly availableAt: Date;
  constructor(provider: string, availableAt: Date, detail: string) {
    super('rate_limited', `${provider}: rate limit reached (${detail}); budget returns at ${availableAt.toISOString()}`, {
      retryable: true,
    });
    this.provider = provider;
    this.availableAt = availableAt;
  }
}

/** A provider's daily quota is used up; `resetAt` is the next midnight UTC. */
export class QuotaExhaustedError extends AppError {
  readonly provider: string;
  readonly resetAt: Date;
  constructor(provider: string, resetAt: Date, detail: string) {
    super('quota_exhausted', `${provider}: daily quota exhausted (${detail}); resets at ${resetAt.toISOString()}`);
    this.provider = provider;
    this.resetAt = resetAt;
  }
}

/** The provider's circuit breaker is open (or half_open with its probe in flight); `retryAt` is the earliest retry. */
export class CircuitOpenError extends AppError {
  readonly provider: string;
  readonly retryAt: Date;
  constructor(provider: string, retryAt: Date, state: string) {
    super('circuit_open', `${provider}: circuit breaker ${state}; calls resume after ${retryAt.toISOString()}`, {
      retryable: true,
    });
    this.provider = provider;
    this.retryAt = retryAt;
  }
}

/** A configured, blocking spend budget is used up for the period. */
export class BudgetExceededError extends AppError {
  readonly provider: string;
  constructor(provider: string, detail: string) {
    super('budget_exceeded', `${provider}: budget exceeded (${detail})`);
    this.provider = provider;
  }
}

/** A looked-up record does not exist. */
export class NotFoundError extends AppError {
  constructor(what: string) {
    super('not_found', `${what} not found`);
  }
}

/**
 * Wraps anything thrown into an AppError (kept as is when it already is one; a db/ `DatabaseError` keeps its
 * code, e.g. `db_locked`).
 */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof DatabaseError) return new AppError(err.code, err.message, { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return new AppError('internal', message, { cause: err });
}

/**
 * Classifies a thrown value for an answer to a person: an AppError as is, a lost database connection (MikroORM's
 * ConnectionException, pg's ECONNREFUSED/ECONNRESET) as `db_unavailable`, anything else via {@link toAppError}.
 */
export function classifyError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = err as { name?: string; code?: string } | undefined;
  // MikroORM's ConnectionException, or pg's socket errors, mean the database is away, not a bug here
  if (e?.name === 'ConnectionException' || e?.code === 'ECONNREFUSED' || e?.code === 'ECONNRESET' || /ECONNREFUSED|ECONNRESET/.test(String((err as Error)?.message))) {
    return new AppError('db_unavailable', 'database unreachable', { cause: err, retryable: true });
  }
  return toAppError(err);
}
