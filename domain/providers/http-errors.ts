/**
 * Shared HTTP plumbing for the got-based adapters (Yelp, PageSpeed, SendGrid) and the error classification every
 * adapter uses. Every failure leaves an adapter as a {@link ProviderError}:
 *
 * - network errors and timeouts: `status` undefined, `retryable` true;
 * - HTTP 408, 429 and 5xx: `retryable` true, except quota-exhausted codes that will not clear by retrying soon
 *   ({@link QUOTA_EXHAUSTED_CODES});
 * - other 4xx: `retryable` false;
 * - a body that is not JSON: `retryable` true only when the status is 5xx (or as above for 408/429 errors).
 *
 * Retries are NOT done here (`retry.limit` 0): the gateway layer owns them.
 */
import got, { RequestError, TimeoutError } from 'got';
import { ProviderError } from '../errors.js';
import { sanitizeDeep } from '../sanitize.js';

/** Which call failed: provider id (`yelp`, `pagespeed`, …) and operation (`search`, `runPagespeed`, …). */
export interface CallSite {
  provider: string;
  operation: string;
}

/** Provider error codes meaning a quota is used up (daily cap, billing); retrying soon cannot succeed. */
export const QUOTA_EXHAUSTED_CODES: ReadonlySet<string> = new Set(['ACCESS_LIMIT_REACHED', 'insufficient_quota', 'maximum_credits_exceeded']);

/** True for statuses worth retrying soon: 408 Request Timeout, 429 Too Many Requests and every 5xx. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** Retry classification for an HTTP error answer: retryable status and not a quota-exhausted code. */
export function isRetryableAnswer(status: number, providerCode: string | undefined): boolean {
  return isRetryableStatus(status) && !(providerCode !== undefined && QUOTA_EXHAUSTED_CODES.has(providerCode));
}

function clip(text: string, max = 300): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > max ? `${oneLine.slice(0, max)}…` : oneLine;
}

/**
 * A `Retry-After` header value in milliseconds: delta-seconds (`"2"`, also decimal `"1.5"`) or an HTTP date
 * (`"Wed, 21 Oct 2015 07:28:00 GMT"`, measured from `nowMs`, never negative). Undefined when absent or unparseable.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number = Date.now()): number | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  // an HTTP date names its weekday and month; bare numbers like "-3" are not dates
  const at = /[A-Za-z]{3}/.test(v) ? Date.parse(v) : NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/**
 * The wait an answer asks for, in ms: `Retry-After` ({@link parseRetryAfter}), else OpenAI's `retry-after-ms`
 * (milliseconds). `get` reads one header by lower-case name (got headers, fetch `Headers`, or a plain object).
 */
export function retryAfterFrom(get: (name: string) => string | null | undefined, nowMs: number = Date.now()): number | undefined {
  const ra = parseRetryAfter(get('retry-after'), nowMs);
  if (ra !== undefined) return ra;
  const ms = get('retry-after-ms')?.trim();
  return ms && /^\d+(\.\d+)?$/.test(ms) ? Math.round(Number(ms)) : undefined;
}

/**
 * A ProviderError for an HTTP error answer (status ≥ 400), classified with {@link isRetryableAnswer}.
 * `opts.retryAfterMs` is the answer's Retry-After in ms (see {@link retryAfterFrom}).
 */
export function answerError(
  site: CallSite,
  status: number,
  providerCode: string | undefined,
  message: string | undefined,
  opts: { retryable?: boolean; cause?: unknown; retryAfterMs?: number } = {},
): ProviderError {
  return new ProviderError({
    ...site,
    status,
    providerCode,
    message: `HTTP ${status}${providerCode ? ` ${providerCode}` : ''}${message ? `: ${clip(message)}` : ''}`,
    retryable: opts.retryable ?? isRetryableAnswer(status, providerCode),
    retryAfterMs: opts.retryAfterMs,
    cause: opts.cause,
  });
}

/** A ProviderError for a failure without an answer (connection refused/reset, DNS, timeout): retryable. */
export function networkError(site: CallSite, err: unknown): ProviderError {
  const e = err as { code?: string; message?: string };
  const what = err instanceof TimeoutError ? `timeout (${e.code ?? 'ETIMEDOUT'})` : `network error${e.code ? ` (${e.code})` : ''}`;
  // The network error code (ECONNREFUSED, ECONNRESET, ETIMEDOUT…) as providerCode: a refused connection proves
  // the request never arrived, which matters for writes without an idempotency key.
  return new ProviderError({
    ...site,
    providerCode: err instanceof TimeoutError ? (e.code ?? 'ETIMEDOUT') : e.code,
    message: `${what}: ${clip(e.message ?? String(err))}`,
    retryable: true,
    cause: err,
  });
}

/**
 * True when a failed request certainly was not carried out by the provider: a refused connection, a 429, or a
 * 4xx/5xx answer (the provider answered that it did not accept it). Timeouts and resets are ambiguous.
 */
export function certainlyNotAccepted(err: unknown): boolean {
  if (!(err instanceof ProviderError)) return false;
  if (err.status !== undefined) return err.status >= 400;
  return err.providerCode === 'ECONNREFUSED' || err.providerCode === 'ENOTFOUND';
}

/**
 * Parses a JSON body (Yelp, PageSpeed, OpenAI, SendGrid adapters), made storable (domain/sanitize.ts: U+0000 and
 * lone surrogates in any string or key become U+FFFD). A body that is not JSON throws a ProviderError with `status`, retryable when `status` is 5xx
 * (or 408/429).
 */
export function parseJsonBody(site: CallSite, status: number, text: string): unknown {
  try {
    // provider text (Yelp names, Lighthouse titles, OpenAI answers) made storable: U+0000 / lone surrogates → U+FFFD
    return sanitizeDeep(JSON.parse(text) as unknown).value;
  } catch (err) {
    throw new ProviderError({
      ...site,
      status,
      message: `malformed JSON in HTTP ${status} response: ${clip(text, 120) || '(empty body)'}`,
      retryable: isRetryableStatus(status),
      cause: err,
    });
  }
}

/** A ProviderError for a 2xx body that parsed but lacks the fields the adapter needs (not retryable). */
export function shapeError(site: CallSite, status: number, what: string): ProviderError {
  return new ProviderError({ ...site, status, message: `unexpected response shape: ${what}`, retryable: false });
}

/** Narrowing helper: a plain object (not null, not an array). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads `body.error` as an object, or undefined. */
export function errorObject(body: unknown): Record<string, unknown> | undefined {
  return isRecord(body) && isRecord(body.error) ? body.error : undefined;
}

/** A string field, or undefined when absent, null, empty or not a string. */
export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** The raw outcome of one HTTP exchange: status, lower-case headers and the body as text. */
export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/**
 * One HTTP request through got, with no retries, `timeout.request = timeoutMs`, redirects followed and HTTP
 * error statuses returned (not thrown). Network errors and timeouts throw {@link networkError}.
 */
export async function sendHttp(
  site: CallSite,
  req: {
    url: string;
    method?: 'GET' | 'POST';
    searchParams?: URLSearchParams;
    headers?: Record<string, string>;
    json?: unknown;
    timeoutMs: number;
  },
): Promise<HttpAnswer> {
  try {
    const res = await got(req.url, {
      method: req.method ?? 'GET',
      searchParams: req.searchParams,
      headers: req.headers,
      json: req.json,
      responseType: 'text',
      throwHttpErrors: false,
      retry: { limit: 0 },
      timeout: { request: req.timeoutMs },
    });
    return { status: res.statusCode, headers: res.headers, text: res.body };
  } catch (err) {
    // got throws RequestError subclasses (TimeoutError, ReadError, …) for failures without an answer.
    throw networkError(site, err instanceof RequestError || err instanceof Error ? err : new Error(String(err)));
  }
}

/** First value of a header (got lower-cases names), or undefined. */
export function header(ans: HttpAnswer, name: string): string | undefined {
  const v = ans.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** The Retry-After of a got answer in ms ({@link retryAfterFrom}), or undefined. */
export function answerRetryAfter(ans: HttpAnswer): number | undefined {
  return retryAfterFrom((name) => header(ans, name));
}
