/**
 * The provider ports wrapped by the gateway: the same interfaces, every call going through `Gateway.call` with
 * its kind (read/write), cache request (method + path + body, only for reads and deterministic calls),
 * idempotency key and token estimate. Pipeline code receives these and never the raw adapters.
 */
import type { Providers } from '../services.js';
import type { ChatRequest } from '../providers/openai/port.js';
import type { Gateway } from './gateway.js';
import { certainlyNotAccepted } from '../providers/http-errors.js';

/** Rough OpenAI token estimate: ~4 characters a token for the prompt, plus the completion cap. */
export function estimateTokens(req: ChatRequest): number {
  return Math.ceil((req.system.length + req.user.length) / 4) + (req.maxTokens ?? 256);
}

const query = (params: Record<string, string | number | undefined>) =>
  new URLSearchParams(
    Object.entries(params)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, String(v)] as [string, string]),
  ).toString();

/** Wraps raw adapters with the gateway. */
export function gateProviders(raw: Providers, gateway: Gateway): Providers {
  return {
    yelp: gateYelp(raw, gateway),
    pagespeed: gatePagespeed(raw, gateway),
    openai: gateOpenai(raw, gateway),
    sendgrid: gateSendgrid(raw, gateway),
    stripe: gateStripe(raw, gateway),
  };
}

/** Yelp search through the gateway: a cached read keyed by its query. */
function gateYelp(raw: Providers, gateway: Gateway): Providers['yelp'] {
  return {
    search: (p) =>
      gateway.call({
        provider: 'yelp',
        operation: 'search',
        kind: 'read',
        cacheRequest: {
          method: 'GET',
          url: `/v3/businesses/search?${query({ location: p.location, categories: p.category, limit: p.limit, offset: p.offset })}`,
        },
        fn: () => raw.yelp.search(p),
      }),
  };
}

/** PageSpeed runs through the gateway: cached reads keyed by URL and strategy. */
function gatePagespeed(raw: Providers, gateway: Gateway): Providers['pagespeed'] {
  return {
    run: (url, strategy = 'mobile') =>
      gateway.call({
        provider: 'pagespeed',
        operation: 'runPagespeed',
        kind: 'read',
        cacheRequest: { method: 'GET', url: `/pagespeedonline/v5/runPagespeed?${query({ url, strategy })}` },
        fn: () => raw.pagespeed.run(url, strategy),
      }),
  };
}

/** OpenAI chat through the gateway: token-charged, complete answers cached. */
function gateOpenai(raw: Providers, gateway: Gateway): Providers['openai'] {
  return {
    // Same facts in, same insight out: LeadFactory caches completions for a day (OPENAI_CACHE_TTL).
    chat: (req) =>
      gateway.call({
        provider: 'openai',
        operation: 'chat.completions',
        kind: 'read',
        cacheRequest: { method: 'POST', url: '/v1/chat/completions', body: JSON.stringify(req) },
        estimatedTokens: estimateTokens(req),
        usage: (r) => ({ promptTokens: r.usage.promptTokens, completionTokens: r.usage.completionTokens }),
        // Only complete answers are worth reusing: a cut-off (length) or filtered one would be served all day.
        cacheable: (r) => r.finishReason === 'stop',
        fn: () => raw.openai.chat(req),
      }),
  };
}

/** SendGrid through the gateway: sends retried only when certainly not accepted; reads uncached. */
function gateSendgrid(raw: Providers, gateway: Gateway): Providers['sendgrid'] {
  return {
    // SendGrid has no idempotency key: a send is retried only when it certainly was not accepted (429, an error
    // answer, a refused connection). A timeout may have been accepted: it surfaces, and the email stays claimed.
    send: (msg) =>
      gateway.call({
        provider: 'sendgrid',
        operation: 'mail.send',
        kind: 'write',
        retrySafe: certainlyNotAccepted,
        fn: () => raw.sendgrid.send(msg),
      }),
    scopes: () =>
      gateway.call({ provider: 'sendgrid', operation: 'scopes', kind: 'read', fn: () => raw.sendgrid.scopes() }),
    searchMessages: (query, limit) =>
      gateway.call({ provider: 'sendgrid', operation: 'messages.search', kind: 'read', fn: () => raw.sendgrid.searchMessages(query, limit) }),
  };
}

/** Stripe through the gateway: the balance cached, checkout writes idempotent, session and event reads live. */
function gateStripe(raw: Providers, gateway: Gateway): Providers['stripe'] {
  return {
    retrieveBalance: () =>
      gateway.call({
        provider: 'stripe',
        operation: 'balance.retrieve',
        kind: 'read',
        cacheRequest: { method: 'GET', url: '/v1/balance' },
        fn: () => raw.stripe.retrieveBalance(),
      }),
    // A write with the caller's Idempotency-Key: a retry (here or a second createCheckout) gets the first session.
    createCheckoutSession: (params, opts) =>
      gateway.call({
        provider: 'stripe',
        operation: 'checkout.sessions.create',
        kind: 'write',
        idempotencyKey: opts.idempotencyKey,
        fn: () => raw.stripe.createCheckoutSession(params, opts),
      }),
    // Session state changes (open → complete | expired): read, never cached.
    retrieveCheckoutSession: (id) =>
      gateway.call({
        provider: 'stripe',
        operation: 'checkout.sessions.retrieve',
        kind: 'read',
        fn: () => raw.stripe.retrieveCheckoutSession(id),
      }),
    // Replays must see new events: never cached.
    listEvents: (params) =>
      gateway.call({ provider: 'stripe', operation: 'events.list', kind: 'read', fn: () => raw.stripe.listEvents(params) }),
  };
}
