/**
 * The sandbox's HTTP plumbing: a route table (method + path → handler), request parsing, and a response writer.
 *
 * Handlers are plain functions from a parsed {@link SandboxRequest} to a {@link SandboxResponse}; they never touch
 * the socket. That keeps a seam for fault injection: an {@link Interceptor} runs before the route's handler and may
 * answer instead of it (a 429 with `Retry-After`, a 5xx, a malformed body), delay the answer (`delayMs`) or never
 * answer at all (`hang`, for client timeouts). A `guard` (the fault controller, faults.ts) runs before the public
 * interceptors, so clearing `interceptors` never removes the faults set through the admin routes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../clock.js';
import type { FixtureSet } from './fixtures.js';

/** Which provider a route imitates (`sandbox` for the sandbox's own routes such as /sandbox/health). */
export type SandboxProvider = 'yelp' | 'pagespeed' | 'openai' | 'sendgrid' | 'stripe' | 'sandbox';

/** A parsed incoming request. `path` has no query string; `query` is decoded (`%20` and `+` become spaces). */
export interface SandboxRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  /** Raw request body (empty for GET). */
  body: Buffer;
  /** The token of an `Authorization: Bearer <token>` header, or undefined when absent or not Bearer. */
  bearer: string | undefined;
}

/**
 * What a handler answers. `body` is sent as is (a string is UTF-8 encoded); `json` is serialized with
 * JSON.stringify and sets `Content-Type: application/json` unless `headers` sets one. `delayMs` waits before
 * answering; `hang` never answers (the socket stays open until the client gives up or the sandbox closes).
 */
export interface SandboxResponse {
  status: number;
  headers?: Record<string, string>;
  json?: unknown;
  body?: string | Buffer;
  delayMs?: number;
  hang?: boolean;
}

/** Shared state every handler sees: the seed, the clock, loaded fixtures and per-instance counters. */
export interface SandboxContext {
  seed: number;
  clock: Clock;
  /** Recorded payloads when the sandbox runs in fixture mode, else undefined. */
  fixtures: FixtureSet | undefined;
  /** Monotonic counters per name (request numbers, quota use); start at 0 for each sandbox instance. */
  counters: Map<string, number>;
}

/** Increments and returns the counter `name` (first call returns 1). */
export function bump(ctx: SandboxContext, name: string): number {
  const n = (ctx.counters.get(name) ?? 0) + 1;
  ctx.counters.set(name, n);
  return n;
}

/** A route handler. May throw; a thrown error becomes a 500 with a plain JSON body. */
export type RouteHandler = (req: SandboxRequest, ctx: SandboxContext) => SandboxResponse | Promise<SandboxResponse>;

/** One row of the route table. `path` is matched exactly (no patterns). */
export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  provider: SandboxProvider;
  handler: RouteHandler;
  /** The status of a normal success answer (default 200; SendGrid mail send 202). Used by the `malformed` fault. */
  successStatus?: number;
}

/**
 * Runs before a route's handler (in installation order). Returning a response answers in place of the handler;
 * returning undefined lets the request through. The hook for fault injection.
 */
export type Interceptor = (
  route: Route,
  req: SandboxRequest,
  ctx: SandboxContext,
) => SandboxResponse | undefined | Promise<SandboxResponse | undefined>;

/** A running HTTP server over a route table. */
export interface RouteServer {
  url: string;
  port: number;
  /** Mutable: add or remove interceptors while the server runs. */
  interceptors: Interceptor[];
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 5 * 1024 * 1024;

/** What {@link serveRoutes} serves. */
export interface ServeOptions {
  routes: Route[];
  ctx: SandboxContext;
  port: number;
  host: string;
  /** Answer for a path no route has (e.g. a provider-shaped 404). */
  notFound: (req: SandboxRequest) => SandboxResponse | Promise<SandboxResponse>;
  /** Runs before `interceptors` on every routed request (the fault controller's hook); not removable at run time. */
  guard?: Interceptor;
  /** Extra delay (ms) of a routed answer, e.g. realistic provider latency (latency.ts); default none. */
  latency?: (provider: SandboxProvider, status: number, json: unknown) => number;
}

/** The route table of one server: by `${method} ${path}`, and every path any route has (for 405 vs 404). */
interface Table {
  byKey: Map<string, Route>;
  paths: Set<string>;
}

/** Starts a node:http server that dispatches by `${method} ${path}` over `routes`. Port 0 picks a free port. */
export async function serveRoutes(opts: ServeOptions): Promise<RouteServer> {
  const table: Table = { byKey: new Map(), paths: new Set() };
  for (const r of opts.routes) {
    table.byKey.set(`${r.method} ${r.path}`, r);
    table.paths.add(r.path);
  }
  const interceptors: Interceptor[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => void handle(req, res, table, interceptors, timers, opts));
  server.keepAliveTimeout = 1000;
  await listen(server, opts.port, opts.host);
  const port = (server.address() as AddressInfo).port;
  const hostForUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${hostForUrl === '0.0.0.0' ? '127.0.0.1' : hostForUrl}:${port}`,
    port,
    interceptors,
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** Starts listening on `host:port`; rejects when the server reports an error first (e.g. the port is taken). */
function listen(server: http.Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * Serves one request: reads it (413 when too large), dispatches it, adds the latency, and writes the answer now,
 * after its delay (the timer is tracked so `close` can cancel it), or never (`hang`).
 */
async function handle(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  table: Table,
  interceptors: Interceptor[],
  timers: Set<NodeJS.Timeout>,
  opts: ServeOptions,
): Promise<void> {
  let sreq: SandboxRequest;
  try {
    sreq = await readRequest(req);
  } catch {
    write(res, { status: 413, json: { error: 'request body too large' } });
    return;
  }
  const route = table.byKey.get(`${sreq.method} ${sreq.path}`);
  let answer = await dispatch(route, sreq, table, interceptors, opts);
  if (answer.hang) return;
  const extra = route && opts.latency ? opts.latency(route.provider, answer.status, answer.json) : 0;
  if (extra > 0) answer = { ...answer, delayMs: (answer.delayMs ?? 0) + extra };
  if (answer.delayMs && answer.delayMs > 0) {
    const t = setTimeout(() => {
      timers.delete(t);
      write(res, answer);
    }, answer.delayMs);
    timers.add(t);
    return;
  }
  write(res, answer);
}

/**
 * The answer to `sreq`: 405 for a known path with another method, `notFound` for an unknown path, else the guard's
 * or the first interceptor's answer, or the route handler's. A thrown error becomes a 500.
 */
async function dispatch(
  route: Route | undefined,
  sreq: SandboxRequest,
  table: Table,
  interceptors: Interceptor[],
  opts: ServeOptions,
): Promise<SandboxResponse> {
  try {
    if (!route) {
      return table.paths.has(sreq.path)
        ? { status: 405, json: { error: `method ${sreq.method} not allowed on ${sreq.path}` } }
        : await opts.notFound(sreq);
    }
    let intercepted = opts.guard ? await opts.guard(route, sreq, opts.ctx) : undefined;
    for (const icpt of intercepted ? [] : interceptors) {
      intercepted = await icpt(route, sreq, opts.ctx);
      if (intercepted) break;
    }
    return intercepted ?? (await route.handler(sreq, opts.ctx));
  } catch (err) {
    return { status: 500, json: { error: 'sandbox handler failed', message: (err as Error).message } };
  }
}

async function readRequest(req: http.IncomingMessage): Promise<SandboxRequest> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Error('too large');
    chunks.push(chunk as Buffer);
  }
  const url = new URL(req.url ?? '/', 'http://sandbox.invalid');
  const auth = req.headers.authorization;
  const m = typeof auth === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
  return {
    method: (req.method ?? 'GET').toUpperCase(),
    path: url.pathname.replace(/\/+$/, '') || '/',
    query: url.searchParams,
    headers: req.headers,
    body: Buffer.concat(chunks),
    bearer: m?.[1],
  };
}

function write(res: http.ServerResponse, answer: SandboxResponse): void {
  const headers: Record<string, string> = { ...(answer.headers ?? {}) };
  let body: Buffer;
  if (answer.json !== undefined) {
    body = Buffer.from(JSON.stringify(answer.json));
    if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/json';
  } else if (answer.body !== undefined) {
    body = typeof answer.body === 'string' ? Buffer.from(answer.body) : answer.body;
  } else {
    body = Buffer.alloc(0);
  }
  headers['Content-Length'] = String(body.length);
  if (res.destroyed) return;
  res.writeHead(answer.status, headers);
  res.end(body);
}
