/**
 * The provider sandbox: one local HTTP server (node:http) that speaks the wire formats of Yelp Fusion, PageSpeed
 * Insights v5, OpenAI chat completions, SendGrid v3 mail send and Stripe, deterministically from a seed.
 *
 * Paths follow `sandboxBaseUrls()` in domain/providers/urls.ts:
 * - `GET  /yelp/v3/businesses/search`
 * - `GET  /pagespeed/pagespeedonline/v5/runPagespeed`
 * - `POST /openai/v1/chat/completions`
 * - `POST /sendgrid/v3/mail/send`, `GET /sendgrid/v3/scopes`, `GET /sendgrid/v3/messages` (Email Activity API,
 *   sendgrid-activity.ts)
 * - `GET  /v1/balance` (Stripe, at the root: the stripe SDK always requests `/v1/...` on a host and port)
 * - `POST /v1/checkout/sessions`, `GET /v1/checkout/sessions/:id`, `GET /v1/events`, and `POST /sandbox/stripe/checkout`
 *   to play the customer on the hosted page (stripe-checkout.ts)
 * - `POST /pagerduty/v2/enqueue` (Events API v2), `POST /opsgenie/v2/alerts[/{alias}/acknowledge|close]`,
 *   `GET /opsgenie/v2/alerts/requests/{id}`, admin `GET|DELETE /sandbox/paging`, `PUT /sandbox/paging/webhooks`,
 *   `POST /sandbox/paging/pagerduty/incidents/{key}/acknowledge|resolve`, `POST
 *   /sandbox/paging/opsgenie/alerts/{alias}/acknowledge|close` (acks there, sending the signed webhooks back) (paging.ts)
 * - `GET  /sandbox/health` → `{"ok": true}`
 * - admin routes for run-time fault injection and enforced rate limits (faults.ts), and {@link sandboxAdmin}, a
 *   typed client for them
 *
 * With `fixturesDir` (a folder laid out like shared/fixtures/real) Yelp, PageSpeed and OpenAI answer with recorded
 * bodies, byte for byte (see fixtures.ts); providers without recordings fall back to generated answers.
 */
import { systemClock, type Clock } from '../clock.js';
import { FaultController, type ActiveFault, type FaultProvider, type FaultSpec, type SandboxStats } from './faults.js';
import { loadFixtures } from './fixtures.js';
import { LatencyModel, type LatencyMode } from './latency.js';
import { pagespeedRun, sendgridScopes, stripeBalance, yelpSearch } from './handlers-get.js';
import { openaiChat, sendgridSend } from './handlers-post.js';
import { sendgridMessages } from './sendgrid-activity.js';
import { STRIPE_CHECKOUT_ROUTES, stripeFallback } from './stripe-checkout.js';
import { PAGING_ROUTES, opsgenieHandler, pagingAdminHandler } from './paging.js';
import { serveRoutes, type Interceptor, type Route, type SandboxContext } from './server.js';

export { FAULT_KINDS, FAULT_PROVIDERS, FaultController, FaultSpecError, isFaultProvider, parseFaultSpec } from './faults.js';
export type { ActiveFault, FaultKind, FaultProvider, FaultSpec, SandboxStats } from './faults.js';

export type { Interceptor, Route, RouteHandler, SandboxContext, SandboxProvider, SandboxRequest, SandboxResponse } from './server.js';
export type { FixtureSet } from './fixtures.js';
export { LatencyModel, REALISTIC_LATENCY, drawLatencyMs, meanLatencyMs, type LatencyMode, type LatencyProfile } from './latency.js';

/** Options for {@link startSandbox}. */
export interface SandboxOptions {
  /** Seed for every generated answer: same seed + same request → same body. */
  seed: number;
  /** TCP port; 0 (the default) picks a free one. */
  port?: number;
  /** Interface to bind; default 127.0.0.1. */
  host?: string;
  /** Folder of recorded payloads (layout of shared/fixtures/real). Unset = generated answers only. */
  fixturesDir?: string;
  /** Clock for timestamps (`created`, `fetchTime`, Yelp `RateLimit-ResetTime`); default the wall clock. */
  clock?: Clock;
  /** `zero` (default: answer at once) or `realistic` provider latency (latency.ts, with the published figures). */
  latency?: LatencyMode;
  /** Multiplies every realistic delay (default 1; 0.1 runs ten times faster). */
  timeScale?: number;
}

/** A running sandbox. `url` is the origin, e.g. `http://127.0.0.1:43817` (pass it to `sandboxBaseUrls`). */
export interface Sandbox {
  url: string;
  port: number;
  /**
   * Hooks run before every route handler, in order; the first that returns a response answers instead of the
   * handler. Reserved for fault injection (429 + Retry-After, 5xx, hangs, malformed bodies).
   */
  interceptors: Interceptor[];
  /** This sandbox's faults and enforced limits (the same state the `/sandbox/faults|limits|stats` routes change). */
  faults: FaultController;
  /** The latency model in force (mode and time scale). */
  latency: LatencyModel;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/** The route table: one row per provider endpoint. Fault injection keys on `provider`. */
export const SANDBOX_ROUTES: readonly Route[] = [
  { method: 'GET', path: '/sandbox/health', provider: 'sandbox', handler: () => ({ status: 200, json: { ok: true } }) },
  { method: 'GET', path: '/yelp/v3/businesses/search', provider: 'yelp', handler: yelpSearch },
  { method: 'GET', path: '/pagespeed/pagespeedonline/v5/runPagespeed', provider: 'pagespeed', handler: pagespeedRun },
  { method: 'POST', path: '/openai/v1/chat/completions', provider: 'openai', handler: openaiChat },
  { method: 'POST', path: '/sendgrid/v3/mail/send', provider: 'sendgrid', handler: sendgridSend, successStatus: 202 },
  { method: 'GET', path: '/sendgrid/v3/scopes', provider: 'sendgrid', handler: sendgridScopes },
  { method: 'GET', path: '/sendgrid/v3/messages', provider: 'sendgrid', handler: sendgridMessages },
  { method: 'GET', path: '/v1/balance', provider: 'stripe', handler: stripeBalance },
  ...STRIPE_CHECKOUT_ROUTES,
  // PagerDuty Events API v2 and Opsgenie Alert API, with their own state, recorded calls and faults (paging.ts)
  ...PAGING_ROUTES,
];

/**
 * Starts the sandbox. Resolves once it listens. Rejects when the port is taken or `fixturesDir` does not exist.
 */
export async function startSandbox(opts: SandboxOptions): Promise<Sandbox> {
  const ctx: SandboxContext = {
    seed: opts.seed,
    clock: opts.clock ?? systemClock,
    fixtures: opts.fixturesDir ? await loadFixtures(opts.fixturesDir) : undefined,
    counters: new Map(),
  };
  const faults = new FaultController();
  const latency = new LatencyModel(opts.latency ?? 'zero', opts.timeScale ?? 1, opts.seed);
  const server = await serveRoutes({
    latency: (provider, status, json) => latency.delayMs(provider, status, json),
    routes: [...SANDBOX_ROUTES, ...faults.routes()],
    ctx,
    port: opts.port ?? 0,
    host: opts.host ?? '127.0.0.1',
    guard: faults.guard,
    notFound: async (req) => {
      if (req.path.startsWith('/v1/')) return stripeFallback(req, ctx);
      const opsgenie = opsgenieHandler(req, ctx); // per-alias paths: /opsgenie/v2/alerts/{alias}/acknowledge|close
      if (opsgenie) return opsgenie;
      const paging = await pagingAdminHandler(req, ctx); // a person acking in PagerDuty/Opsgenie: state + webhook
      if (paging) return paging;
      const admin = /^\/sandbox\/(faults|limits)\/([^/]+)$/.exec(req.path);
      if (admin) {
        return { status: 404, json: { error: 'not_found', message: `unknown provider "${admin[2]}" (yelp, pagespeed, openai, sendgrid, stripe)` } };
      }
      return { status: 404, json: { error: 'not_found', path: req.path } };
    },
  });
  return { url: server.url, port: server.port, interceptors: server.interceptors, faults, latency, close: server.close };
}

/** A failed admin call: `status` is the sandbox's HTTP status (undefined when it could not be reached). */
export class SandboxAdminError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
  ) {
    super(message);
    this.name = 'SandboxAdminError';
  }
}

/** Typed client for a sandbox's admin routes (see faults.ts for the wire format). */
export interface SandboxAdmin {
  /** `PUT /sandbox/faults/<provider>`: sets (replaces) the provider's fault; resolves with it as stored. */
  setFault(provider: FaultProvider, spec: FaultSpec): Promise<ActiveFault>;
  /** `DELETE /sandbox/faults[/<provider>]`: resolves with the providers whose fault was cleared. */
  clearFaults(provider?: FaultProvider): Promise<FaultProvider[]>;
  /** `GET /sandbox/faults`: the faults in force, by provider. */
  faults(): Promise<Partial<Record<FaultProvider, ActiveFault>>>;
  /** `PUT /sandbox/limits/<provider>`: enforce at most `perSecond` requests per second (token bucket of that size). */
  setLimit(provider: FaultProvider, perSecond: number): Promise<void>;
  /** `DELETE /sandbox/limits/<provider>`. */
  clearLimit(provider: FaultProvider): Promise<void>;
  /** `GET /sandbox/stats`: requests, enforced-limit 429s and faulted answers per provider, and the limits. */
  stats(): Promise<SandboxStats>;
  /** `DELETE /sandbox/stats`: zeroes the counters; resolves with the zeroed stats. */
  resetStats(): Promise<SandboxStats>;
}

/**
 * A client for the sandbox at `url` (its origin, e.g. `http://127.0.0.1:43817`), over fetch with a 5 s timeout.
 * Every method rejects with {@link SandboxAdminError} on a non-2xx answer (message = the sandbox's `message`) or
 * when the sandbox cannot be reached.
 */
export function sandboxAdmin(url: string): SandboxAdmin {
  const origin = url.replace(/\/+$/, '');
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    let res: Response;
    try {
      res = await fetch(`${origin}${path}`, {
        method,
        headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(5000),
      });
    } catch (err) {
      throw new SandboxAdminError(`sandbox at ${origin} unreachable: ${(err as Error).message}`, undefined);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const message = (json as { message?: unknown } | undefined)?.message;
      throw new SandboxAdminError(`${method} ${path}: HTTP ${res.status}${typeof message === 'string' ? `: ${message}` : ''}`, res.status);
    }
    return json as T;
  };
  return {
    setFault: async (provider, spec) => (await call<{ fault: ActiveFault }>('PUT', `/sandbox/faults/${provider}`, spec)).fault,
    clearFaults: async (provider) => (await call<{ cleared: FaultProvider[] }>('DELETE', provider ? `/sandbox/faults/${provider}` : '/sandbox/faults')).cleared,
    faults: async () => (await call<{ faults: Partial<Record<FaultProvider, ActiveFault>> }>('GET', '/sandbox/faults')).faults,
    setLimit: async (provider, perSecond) => {
      await call('PUT', `/sandbox/limits/${provider}`, { perSecond });
    },
    clearLimit: async (provider) => {
      await call('DELETE', `/sandbox/limits/${provider}`);
    },
    stats: () => call<SandboxStats>('GET', '/sandbox/stats'),
    resetStats: () => call<SandboxStats>('DELETE', '/sandbox/stats'),
  };
}
