/**
 * Stripe adapter over the official SDK, pointed at `baseUrl` through the SDK's `host`/`port`/`protocol` options
 * (the SDK always requests `/v1/...`, so a path in `baseUrl` is ignored). SDK retries are off (`maxNetworkRetries: 0`).
 */
import Stripe from 'stripe';
import { ProviderError } from '../../errors.js';
import { answerError, isRetryableStatus, networkError, retryAfterFrom, type CallSite } from '../http-errors.js';
import type { StripeBalance, StripePort } from './port.js';

/** Options for {@link createStripeClient}. `baseUrl` e.g. `https://api.stripe.com` or `http://127.0.0.1:4010`. */
export interface StripeClientOptions {
  baseUrl: string;
  /** Secret key `sk_test_…` / `sk_live_…` (or restricted `rk_…`). */
  apiKey: string;
  timeoutMs: number;
}

/** SDK connection settings parsed from a base URL (default ports 443/80). */
export function stripeConnection(baseUrl: string): { host: string; port: number; protocol: 'http' | 'https' } {
  const u = new URL(baseUrl);
  const protocol = u.protocol === 'http:' ? 'http' : 'https';
  return { host: u.hostname, port: u.port ? Number(u.port) : protocol === 'https' ? 443 : 80, protocol };
}

/**
 * Any error from the SDK → ProviderError. A `StripeError` with `statusCode`: `providerCode` = body `error.code`
 * ?? `error.type` (e.g. resource_missing, card_declined, rate_limit, invalid_request_error). `StripeConnectionError`
 * (network, timeout): status undefined, retryable. "Invalid JSON received" has no status on the SDK error; the
 * status is taken from the SDK's `response` event (`statusFor`), retryable when 5xx or unknown. `retryAfterMs`
 * from the `Retry-After` response header the SDK keeps on the error (`headers`, lower-case names).
 */
export function stripeError(site: CallSite, err: unknown, statusFor?: (requestId: string | undefined) => number | undefined): ProviderError {
  if (err instanceof ProviderError) return err;
  if (err instanceof Stripe.errors.StripeConnectionError) {
    const timeout = /timeout/i.test(err.message);
    return networkError(site, Object.assign(new Error(err.message), { code: timeout ? 'ETIMEDOUT' : 'ECONNECTION' }));
  }
  if (err instanceof Stripe.errors.StripeError) {
    if (typeof err.statusCode === 'number') {
      const code = err.code ?? err.rawType ?? undefined;
      // Stripe also signals rate limiting / lock contention with a 400 + code (the SDK maps it to StripeRateLimitError).
      const transient = code === 'rate_limit' || code === 'lock_timeout';
      const headers = (err.headers ?? {}) as Record<string, string | string[] | undefined>;
      const retryAfterMs = retryAfterFrom((name) => {
        const v = headers[name];
        return Array.isArray(v) ? v[0] : v;
      });
      return answerError(site, err.statusCode, code, err.message, { cause: err, retryAfterMs, ...(transient ? { retryable: true } : {}) });
    }
    const status = statusFor?.(err.requestId);
    return new ProviderError({
      ...site,
      status,
      message: err.message || 'Stripe error without status',
      retryable: status === undefined ? true : isRetryableStatus(status),
      cause: err,
    });
  }
  return new ProviderError({ ...site, message: err instanceof Error ? err.message : String(err), retryable: false, cause: err });
}

/**
 * Creates the Stripe adapter. `retrieveBalance` calls `GET /v1/balance` and maps `available[]` to
 * `{currency, amountCents: amount}` (integer minor units) plus `livemode`. Errors: ProviderError (provider
 * 'stripe', operation 'balance.retrieve').
 */
export function createStripeClient(opts: StripeClientOptions): StripePort {
  const stripe = new Stripe(opts.apiKey, {
    ...stripeConnection(opts.baseUrl),
    maxNetworkRetries: 0,
    timeout: opts.timeoutMs,
    telemetry: false,
  });
  // Status per Request-Id, so a malformed body (no status on the SDK error) can still be classified.
  const statuses = new Map<string, number>();
  stripe.on('response', (ev: { request_id?: string; status?: number }) => {
    if (!ev.request_id || ev.status === undefined) return;
    statuses.set(ev.request_id, ev.status);
    if (statuses.size > 256) statuses.delete(statuses.keys().next().value as string);
  });
  const statusFor = (id: string | undefined) => (id ? statuses.get(id) : undefined);
  return {
    async retrieveBalance(): Promise<StripeBalance> {
      const site: CallSite = { provider: 'stripe', operation: 'balance.retrieve' };
      try {
        const b = await stripe.balance.retrieve();
        return {
          livemode: b.livemode,
          available: (b.available ?? []).map((a) => ({ currency: a.currency, amountCents: a.amount })),
        };
      } catch (err) {
        throw stripeError(site, err, statusFor);
      }
    },
  };
}
