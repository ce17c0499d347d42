/**
 * The provider sandbox: one local HTTP server (node:http) that speaks the wire formats of Yelp Fusion, PageSpeed
 * Insights v5, OpenAI chat completions, SendGrid v3 mail send and Stripe, deterministically from a seed.
 *
 * Paths follow `sandboxBaseUrls()` in domain/providers/urls.ts:
 * - `GET  /yelp/v3/businesses/search`
 * - `GET  /pagespeed/pagespeedonline/v5/runPagespeed`
 * - `POST /openai/v1/chat/completions`
 * - `POST /sendgrid/v3/mail/send`
 * - `GET  /v1/balance` (Stripe, at the root: the stripe SDK always requests `/v1/...` on a host and port)
 * - `GET  /sandbox/health` → `{"ok": true}`
 *
 * With `fixturesDir` (a folder laid out like shared/fixtures/real) Yelp, PageSpeed and OpenAI answer with recorded
 * bodies, byte for byte (see fixtures.ts); providers without recordings fall back to generated answers.
 */
import { systemClock, type Clock } from '../clock.js';
import { loadFixtures } from './fixtures.js';
import { pagespeedRun, stripeBalance, stripeNotFound, yelpSearch } from './handlers-get.js';
import { openaiChat, sendgridSend } from './handlers-post.js';
import { serveRoutes, type Interceptor, type Route, type SandboxContext } from './server.js';

export type { Interceptor, Route, RouteHandler, SandboxContext, SandboxProvider, SandboxRequest, SandboxResponse } from './server.js';
export type { FixtureSet } from './fixtures.js';

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
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/** The route table: one row per provider endpoint. Fault injection keys on `provider`. */
export const SANDBOX_ROUTES: readonly Route[] = [
  { method: 'GET', path: '/sandbox/health', provider: 'sandbox', handler: () => ({ status: 200, json: { ok: true } }) },
  { method: 'GET', path: '/yelp/v3/businesses/search', provider: 'yelp', handler: yelpSearch },
  { method: 'GET', path: '/pagespeed/pagespeedonline/v5/runPagespeed', provider: 'pagespeed', handler: pagespeedRun },
  { method: 'POST', path: '/openai/v1/chat/completions', provider: 'openai', handler: openaiChat },
  { method: 'POST', path: '/sendgrid/v3/mail/send', provider: 'sendgrid', handler: sendgridSend },
  { method: 'GET', path: '/v1/balance', provider: 'stripe', handler: stripeBalance },
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
  const server = await serveRoutes({
    routes: [...SANDBOX_ROUTES],
    ctx,
    port: opts.port ?? 0,
    host: opts.host ?? '127.0.0.1',
    notFound: (req) =>
      req.path.startsWith('/v1/') ? stripeNotFound(req, ctx) : { status: 404, json: { error: 'not_found', path: req.path } },
  });
  return { url: server.url, port: server.port, interceptors: server.interceptors, close: server.close };
}
