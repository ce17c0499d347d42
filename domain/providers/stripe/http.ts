/**
 * Stripe adapter over the official SDK, pointed at `baseUrl` through the SDK's `host`/`port`/`protocol` options
 * (the SDK always requests `/v1/...`, so a path in `baseUrl` is ignored). SDK retries are off (`maxNetworkRetries: 0`).
 */
import Stripe from 'stripe';
import { ProviderError } from '../../errors.js';
import { answerError, isRetryableStatus, networkError, retryAfterFrom, type CallSite } from '../http-errors.js';
import type { CheckoutSession, CheckoutSessionCreate, StripeBalance, StripeEvent, StripeEventListParams, StripeEventPage, StripePort } from './port.js';

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

/** SDK Checkout Session → {@link CheckoutSession} (`payment_intent` may be an id or an expanded object). */
export function toCheckoutSession(s: Stripe.Checkout.Session): CheckoutSession {
  const pi = s.payment_intent;
  return {
    id: s.id,
    url: s.url ?? null,
    status: s.status ?? null,
    paymentStatus: s.payment_status,
    expiresAt: s.expires_at,
    created: s.created,
    amountTotalCents: s.amount_total ?? null,
    currency: s.currency ?? null,
    metadata: { ...(s.metadata ?? {}) },
    clientReferenceId: s.client_reference_id ?? null,
    customerEmail: s.customer_email ?? s.customer_details?.email ?? null,
    paymentIntentId: typeof pi === 'string' ? pi : (pi?.id ?? null),
  };
}

/** {@link CheckoutSessionCreate} → the SDK's create params (mode `payment`, inline `price_data` per line). */
export function checkoutCreateParams(p: CheckoutSessionCreate): Stripe.Checkout.SessionCreateParams {
  return {
    mode: 'payment',
    line_items: p.lineItems.map((li) => ({
      quantity: li.quantity,
      price_data: {
        currency: p.currency,
        unit_amount: li.unitAmountCents,
        product_data: { name: li.name, ...(li.description ? { description: li.description } : {}) },
      },
    })),
    expires_at: p.expiresAt,
    metadata: p.metadata,
    ...(p.paymentIntentMetadata ? { payment_intent_data: { metadata: p.paymentIntentMetadata } } : {}),
    ...(p.clientReferenceId ? { client_reference_id: p.clientReferenceId } : {}),
    ...(p.customerEmail ? { customer_email: p.customerEmail } : {}),
    success_url: p.successUrl,
    cancel_url: p.cancelUrl,
  };
}

/**
 * Creates the Stripe adapter. `retrieveBalance` calls `GET /v1/balance` and maps `available[]` to
 * `{currency, amountCents: amount}` (integer minor units) plus `livemode`. `createCheckoutSession` /
 * `retrieveCheckoutSession` map the session with {@link toCheckoutSession}; `listEvents` returns the events as
 * plain JSON (their wire format). Errors: ProviderError (provider 'stripe', operation 'balance.retrieve',
 * 'checkout.sessions.create', 'checkout.sessions.retrieve' or 'events.list').
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
    async createCheckoutSession(params: CheckoutSessionCreate, opts: { idempotencyKey: string }): Promise<CheckoutSession> {
      const site: CallSite = { provider: 'stripe', operation: 'checkout.sessions.create' };
      try {
        const s = await stripe.checkout.sessions.create(checkoutCreateParams(params), { idempotencyKey: opts.idempotencyKey });
        return toCheckoutSession(s);
      } catch (err) {
        throw stripeError(site, err, statusFor);
      }
    },
    async retrieveCheckoutSession(id: string): Promise<CheckoutSession> {
      const site: CallSite = { provider: 'stripe', operation: 'checkout.sessions.retrieve' };
      try {
        return toCheckoutSession(await stripe.checkout.sessions.retrieve(id));
      } catch (err) {
        throw stripeError(site, err, statusFor);
      }
    },
    async listEvents(params: StripeEventListParams): Promise<StripeEventPage> {
      const site: CallSite = { provider: 'stripe', operation: 'events.list' };
      try {
        const page = await stripe.events.list({
          ...(params.createdGte !== undefined ? { created: { gte: params.createdGte } } : {}),
          ...(params.startingAfter ? { starting_after: params.startingAfter } : {}),
          ...(params.limit !== undefined ? { limit: params.limit } : {}),
          ...(params.types?.length ? { types: params.types } : {}),
        });
        // Plain JSON, as Stripe sent it (the SDK adds non-wire properties such as `lastResponse` on the list).
        const events = JSON.parse(JSON.stringify(page.data)) as StripeEvent[];
        return { events, hasMore: page.has_more };
      } catch (err) {
        throw stripeError(site, err, statusFor);
      }
    },
  };
}
