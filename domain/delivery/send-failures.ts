/**
 * Classification of failed sends (issue #14 point 5) and the retry schedule the email batch follows.
 *
 * Every failed SendGrid `mail/send` (or our own refusal before it) gets an {@link SendErrorClass}, stored on the
 * email (`emails.last_error_class`) with its attempt count (`send_attempts`) and, when it is worth another try, the
 * time of the next one (`next_attempt_at`, exponential backoff with jitter, never before a Retry-After or a
 * breaker's retry time):
 *
 * - permanent (never retried automatically): `invalid_recipient` and `invalid_content` (SendGrid 400/413/422 and
 *   other 4xx: the request itself is wrong), `invalid_address` (our syntax check), `other` (not a provider error);
 * - retryable: `rate_limited` (429, our limiter), `provider_error` (5xx, 408, a malformed answer), `network`
 *   (connection refused / DNS: the request never arrived), `timeout` and `connection_lost` (no answer: SendGrid may
 *   have taken it, so the retry asks its Email Activity API first — domain/delivery/retry.ts), `breaker_open`,
 *   `quota` and `budget` (our own refusals), and the account-level failures an operator fixes: `auth` (401) and
 *   `permission` (403, e.g. an unverified sender identity).
 *
 * SendGrid's error answers: https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send#responses
 * (400 `errors[].field` names the bad part: `personalizations.0.to…` for the recipient, `from`, `content`, …).
 */
import { AppError, BudgetExceededError, CircuitOpenError, ProviderError, QuotaExhaustedError, RateLimitedError } from '../errors.js';

/** Classes the email batch never retries on its own (the request itself is wrong, or not a provider failure). */
export const PERMANENT_CLASSES = ['invalid_recipient', 'invalid_content', 'invalid_address', 'other'] as const;

/**
 * Classes whose emails are never resent, not even by an operator's "Retry failed sends" with permanent failures
 * included: the address itself is bad (our syntax check; SendGrid refusing the recipient).
 */
export const NEVER_RESEND_CLASSES: readonly SendErrorClass[] = ['invalid_address', 'invalid_recipient'];

/** Classes the email batch retries on its own (with backoff, up to `EMAIL_SEND_MAX_ATTEMPTS`). */
export const RETRYABLE_CLASS_LIST = [
  'rate_limited',
  'provider_error',
  'network',
  'timeout',
  'connection_lost',
  'breaker_open',
  'quota',
  'budget',
  'auth',
  'permission',
] as const;

/** Every class, permanent first. */
export const SEND_ERROR_CLASSES = [...PERMANENT_CLASSES, ...RETRYABLE_CLASS_LIST] as const;
export type SendErrorClass = (typeof SEND_ERROR_CLASSES)[number];

/** {@link RETRYABLE_CLASS_LIST} as a set. */
export const RETRYABLE_CLASSES: ReadonlySet<SendErrorClass> = new Set(RETRYABLE_CLASS_LIST);

/** Classes after which SendGrid may have accepted the email (no answer came back): a retry asks its activity feed first. */
export const UNKNOWN_OUTCOME_CLASSES: ReadonlySet<SendErrorClass> = new Set(['timeout', 'connection_lost']);

/** One sentence per class, for operators (runbook findings, the status post). */
export const SEND_ERROR_TEXT: Record<SendErrorClass, string> = {
  invalid_recipient: 'SendGrid refused the recipient (400)',
  invalid_content: 'SendGrid refused the message (4xx)',
  invalid_address: 'the address fails our syntax check',
  other: 'an error outside SendGrid',
  rate_limited: 'rate limited (429)',
  provider_error: 'SendGrid server error (5xx)',
  network: 'SendGrid unreachable (connection refused, DNS)',
  timeout: 'no answer in time (SendGrid may have taken it)',
  connection_lost: 'connection lost mid-request (SendGrid may have taken it)',
  breaker_open: "SendGrid's circuit breaker was open",
  quota: 'daily quota used up',
  budget: 'spend budget reached',
  auth: 'SendGrid refused the API key (401)',
  permission: 'SendGrid refused the account or sender (403)',
};

/** A classified failure: its class, whether the batch retries it, and the earliest retry time a provider asked for. */
export interface SendFailure {
  errorClass: SendErrorClass;
  retryable: boolean;
  /** Retry-After, a breaker's or limiter's retry time, a quota's reset; undefined when none was given. */
  notBefore?: Date;
}

/** True when SendGrid's 400 `errors[].field`/message point at the recipient (`personalizations…to`, an email address). */
function recipientProblem(err: ProviderError): boolean {
  return /personalizations|recipient|\bto\b|email address/i.test(err.message);
}

/** Classifies a failed send (`now` dates a Retry-After). Never throws. */
export function classifySendFailure(err: unknown, now: Date): SendFailure {
  const out = (errorClass: SendErrorClass, notBefore?: Date): SendFailure => ({ errorClass, retryable: RETRYABLE_CLASSES.has(errorClass), ...(notBefore ? { notBefore } : {}) });
  if (err instanceof CircuitOpenError) return out('breaker_open', err.retryAt);
  if (err instanceof RateLimitedError) return out('rate_limited', err.availableAt);
  if (err instanceof QuotaExhaustedError) return out('quota', err.resetAt);
  if (err instanceof BudgetExceededError) return out('budget');
  if (err instanceof ProviderError) {
    const s = err.status;
    const after = err.retryAfterMs !== undefined ? new Date(now.getTime() + err.retryAfterMs) : undefined;
    if (s === undefined) {
      if (err.providerCode === 'ECONNREFUSED' || err.providerCode === 'ENOTFOUND' || err.providerCode === 'EAI_AGAIN') return out('network');
      return out(/timeout|ETIMEDOUT|ESOCKETTIMEDOUT/i.test(`${err.providerCode ?? ''} ${err.message}`) ? 'timeout' : 'connection_lost');
    }
    if (s === 429) return out('rate_limited', after);
    if (s === 401) return out('auth');
    if (s === 403) return out('permission');
    if (s === 408 || s >= 500) return out('provider_error', after);
    if (s >= 400) return out(recipientProblem(err) ? 'invalid_recipient' : 'invalid_content');
    return out('provider_error'); // a 2xx we could not read (malformed answer)
  }
  if (err instanceof AppError && err.code === 'deadline_exceeded') return out('timeout');
  return out('other');
}

/** The retry policy: attempts in all (the first send included) and the backoff's base and cap (ms). */
export interface RetryPolicy {
  maxAttempts: number;
  baseMs: number;
  maxMs: number;
}

/**
 * When the next attempt may run after `attempts` sends: `min(maxMs, baseMs · 2^(attempts−1))` scaled by a jitter
 * factor in [0.5, 1) ("equal jitter"), and never before `notBefore` nor, for an unknown outcome, before SendGrid's
 * activity feed has settled (`settleMs`). Undefined when the class is permanent or the attempts are spent.
 */
export function nextAttemptAt(
  failure: SendFailure,
  attempts: number,
  now: Date,
  policy: RetryPolicy,
  opts: { settleMs?: number; random?: () => number } = {},
): Date | undefined {
  if (!failure.retryable || attempts >= policy.maxAttempts) return undefined;
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempts - 1));
  const jittered = exp * (0.5 + 0.5 * (opts.random ?? Math.random)());
  const settle = UNKNOWN_OUTCOME_CLASSES.has(failure.errorClass) ? (opts.settleMs ?? 0) : 0;
  const at = now.getTime() + Math.max(jittered, settle);
  return new Date(Math.max(at, failure.notBefore?.getTime() ?? 0));
}
