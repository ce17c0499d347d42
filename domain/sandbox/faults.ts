/**
 * Fault injection and enforced rate limits for the sandbox, switchable at run time per provider.
 *
 * A {@link FaultController} lives inside one sandbox server, so a fault set through the admin routes applies to
 * every process that talks to that sandbox. Its `guard` runs before each provider route (server.ts):
 * 1. counts the request (`stats`);
 * 2. when an enforced limit is set for the provider, takes a token from a bucket of capacity n refilled at n/s and
 *    answers the provider's 429 (recorded body + `Retry-After`) when the bucket is empty;
 * 3. when a fault is set, answers it (see {@link FaultKind}); a fault with `count` expires after that many answers.
 *
 * Admin routes (JSON; all under `/sandbox/`):
 * - `GET /sandbox/faults` → `{"faults": {<provider>: ActiveFault}}`
 * - `PUT /sandbox/faults/<provider>` body {@link FaultSpec} → `{"provider", "fault": ActiveFault}` (400 on a bad spec)
 * - `DELETE /sandbox/faults/<provider>`, `DELETE /sandbox/faults` → `{"cleared": [providers]}`
 * - `PUT /sandbox/limits/<provider>` body `{"perSecond": n}` → `{"provider", "perSecond"}`; `DELETE` removes it
 * - `GET /sandbox/stats` → {@link SandboxStats}; `DELETE /sandbox/stats` zeroes the counters
 */
import { errorBody, type ErrorKind, type FaultProvider } from './fault-bodies.js';
import { DEFAULT_LIGHTHOUSE_CODE, LIGHTHOUSE_RUNTIME_ERRORS, withRuntimeError } from './lighthouse-runtime-error.js';
import { bump, type Interceptor, type Route, type SandboxContext, type SandboxRequest, type SandboxResponse } from './server.js';

export type { FaultProvider } from './fault-bodies.js';

/** The providers a fault or limit can target. */
export const FAULT_PROVIDERS: readonly FaultProvider[] = ['yelp', 'pagespeed', 'openai', 'sendgrid', 'stripe'];

/**
 * - `rate_limit`: 429 + `Retry-After` (default 1 s), the provider's recorded rate-limit body
 * - `server_error`: 5xx (default 503), the provider's recorded 5xx body when there is one, else a realistic one
 * - `timeout`: never answers
 * - `slow`: the normal answer after `ms` (default 2000); the route's handler answers directly (interceptors skipped)
 * - `invalid_key`: 401 (PageSpeed 400, or 403 with `status`) with the provider's invalid-key body
 * - `quota_exhausted`: 429 meaning the daily quota / credits are gone
 * - `bad_request`: 400, the provider's refusal of a malformed request (SendGrid: its recorded recipient error)
 * - `malformed`: the route's success status (200, SendGrid mail send 202) with a body that is not valid JSON
 *   (the SendGrid mail-send adapter never reads a 202 body, so only `scopes()` notices it)
 * - `runtime_error` (PageSpeed only): 200 with the normal runPagespeed body failed by Lighthouse:
 *   `lighthouseResult.runtimeError` = `{code, message}` (`code` default FAILED_DOCUMENT_REQUEST), null scores
 *   (lighthouse-runtime-error.ts)
 */
export type FaultKind = ErrorKind | 'timeout' | 'slow' | 'malformed' | 'runtime_error';

/** Every {@link FaultKind}, in documentation order. */
export const FAULT_KINDS: readonly FaultKind[] = ['rate_limit', 'server_error', 'timeout', 'slow', 'invalid_key', 'quota_exhausted', 'bad_request', 'malformed', 'runtime_error'];

/**
 * What `PUT /sandbox/faults/<provider>` takes. `status` overrides the kind's HTTP status (100–599);
 * `ms` is the delay of `slow` in milliseconds; `retryAfterSeconds` sets `Retry-After` (default 1 for
 * `rate_limit`, absent otherwise); `count` limits the fault to the next N requests (else until cleared); `code` is
 * the Lighthouse runtime error code of `runtime_error` (see LIGHTHOUSE_RUNTIME_ERRORS).
 */
export interface FaultSpec {
  fault: FaultKind;
  code?: string;
  status?: number;
  ms?: number;
  retryAfterSeconds?: number;
  count?: number;
}

/** A fault in force: its spec, `remaining` answers (null = until cleared), `served` so far, `since` (ISO time set). */
export interface ActiveFault extends FaultSpec {
  remaining: number | null;
  served: number;
  since: string;
}

/**
 * `GET /sandbox/stats`: counters per provider since start (or the last `DELETE /sandbox/stats`), and the enforced
 * limits in force (`perSecond`). Every provider appears in each counter map (0 when unused).
 */
export interface SandboxStats {
  /** Requests that reached one of the provider's routes (faulted and limited ones included). */
  requests: Record<FaultProvider, number>;
  /** 429s the sandbox answered because the provider's enforced limit (token bucket) was empty. */
  rateLimited: Record<FaultProvider, number>;
  /** Answers replaced or delayed by a fault. */
  faulted: Record<FaultProvider, number>;
  limits: Partial<Record<FaultProvider, { perSecond: number }>>;
}

/** A fault spec or limit that does not validate; the admin routes answer it as a 400. */
export class FaultSpecError extends Error {}

const MALFORMED_BODY = '{"sandbox": "malformed on purpose", "truncated": [1, 2, ';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optInt(body: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new FaultSpecError(`"${key}" must be an integer from ${min} to ${max}`);
  }
  return v;
}

/** Validates a {@link FaultSpec} from untrusted JSON. @throws FaultSpecError naming the bad field. */
export function parseFaultSpec(body: unknown): FaultSpec {
  if (!isRecord(body)) throw new FaultSpecError('body must be a JSON object like {"fault": "rate_limit"}');
  const fault = body.fault;
  if (typeof fault !== 'string' || !(FAULT_KINDS as readonly string[]).includes(fault)) {
    throw new FaultSpecError(`"fault" must be one of ${FAULT_KINDS.join(', ')}`);
  }
  const spec: FaultSpec = { fault: fault as FaultKind };
  const status = optInt(body, 'status', 100, 599);
  const ms = optInt(body, 'ms', 0, 600_000);
  const retryAfterSeconds = optInt(body, 'retryAfterSeconds', 0, 86_400);
  const count = optInt(body, 'count', 1, 1_000_000);
  if (status !== undefined) spec.status = status;
  if (ms !== undefined) spec.ms = ms;
  if (retryAfterSeconds !== undefined) spec.retryAfterSeconds = retryAfterSeconds;
  if (count !== undefined) spec.count = count;
  if (body.code !== undefined && body.code !== null) {
    if (fault !== 'runtime_error' || typeof body.code !== 'string' || !(body.code in LIGHTHOUSE_RUNTIME_ERRORS)) {
      throw new FaultSpecError(`"code" applies to runtime_error only and must be one of ${Object.keys(LIGHTHOUSE_RUNTIME_ERRORS).join(', ')}`);
    }
    spec.code = body.code;
  }
  return spec;
}

/** True for the five provider ids. */
export function isFaultProvider(v: string): v is FaultProvider {
  return (FAULT_PROVIDERS as readonly string[]).includes(v);
}

interface Bucket {
  perSecond: number;
  tokens: number;
  last: number;
}

type Counters = Omit<SandboxStats, 'limits'>;

function zeroCounts(): Record<FaultProvider, number> {
  return Object.fromEntries(FAULT_PROVIDERS.map((p) => [p, 0])) as Record<FaultProvider, number>;
}

function zeroStats(): Counters {
  return { requests: zeroCounts(), rateLimited: zeroCounts(), faulted: zeroCounts() };
}

/**
 * Headers every answer of `provider` carries: Stripe's `Request-Id` (the stripe SDK keys statuses on it) and
 * OpenAI's `x-request-id`.
 */
function providerHeaders(provider: FaultProvider, ctx: SandboxContext): Record<string, string> {
  const n = bump(ctx, `fault.${provider}`);
  if (provider === 'stripe') return { 'Request-Id': `req_fault${String(n).padStart(9, '0')}` };
  if (provider === 'openai') return { 'x-request-id': `req_fault${String(n).padStart(23, '0')}` };
  return {};
}

/**
 * The provider's error answer for an error kind, with `Retry-After` when `retryAfterSeconds` is given.
 * Bodies: see fault-bodies.ts.
 */
export function faultErrorAnswer(
  provider: FaultProvider,
  kind: ErrorKind,
  opts: { status?: number; retryAfterSeconds?: number; bearer?: string; ctx: SandboxContext },
): SandboxResponse {
  const e = errorBody(provider, kind, opts.status, opts.bearer);
  const headers: Record<string, string> = { 'Content-Type': e.contentType, ...providerHeaders(provider, opts.ctx) };
  if (opts.retryAfterSeconds !== undefined) headers['Retry-After'] = String(opts.retryAfterSeconds);
  return { status: e.status, headers, body: e.body };
}

/**
 * Fault and limit state of one sandbox, its `guard` (install with serveRoutes' `guard`) and its admin `routes`.
 * `now` is a monotonic millisecond clock for the token buckets (default `performance.now`); fault timestamps use
 * the wall clock.
 */
export class FaultController {
  private readonly active = new Map<FaultProvider, ActiveFault>();
  private readonly buckets = new Map<FaultProvider, Bucket>();
  private counters = zeroStats();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Sets (replaces) the fault of `provider`. @throws FaultSpecError when `spec` does not validate. */
  set(provider: FaultProvider, spec: FaultSpec): ActiveFault {
    const valid = parseFaultSpec(spec);
    if (valid.fault === 'runtime_error' && provider !== 'pagespeed') throw new FaultSpecError('runtime_error is a PageSpeed (Lighthouse) fault');
    const fault: ActiveFault = { ...valid, remaining: valid.count ?? null, served: 0, since: new Date().toISOString() };
    this.active.set(provider, fault);
    return fault;
  }

  /** Clears the fault of `provider`, or every fault; returns the providers that had one. */
  clear(provider?: FaultProvider): FaultProvider[] {
    const had = provider ? (this.active.has(provider) ? [provider] : []) : [...this.active.keys()];
    for (const p of had) this.active.delete(p);
    return had;
  }

  /** The faults in force (copies). */
  list(): Partial<Record<FaultProvider, ActiveFault>> {
    return Object.fromEntries([...this.active].map(([p, f]) => [p, { ...f }]));
  }

  /** Enforces at most a bucket of `perSecond` requests, refilled at `perSecond`/s (starts full). */
  setLimit(provider: FaultProvider, perSecond: number): void {
    if (typeof perSecond !== 'number' || !Number.isFinite(perSecond) || perSecond <= 0 || perSecond > 100_000) {
      throw new FaultSpecError('"perSecond" must be a number above 0 (at most 100000)');
    }
    this.buckets.set(provider, { perSecond, tokens: perSecond, last: this.now() });
  }

  /** Removes the enforced limit of `provider`; true when there was one. */
  clearLimit(provider: FaultProvider): boolean {
    return this.buckets.delete(provider);
  }

  /** Counters per provider and the limits in force. */
  stats(): SandboxStats {
    const limits = Object.fromEntries([...this.buckets].map(([p, b]) => [p, { perSecond: b.perSecond }]));
    return { ...structuredClone(this.counters), limits };
  }

  /** Zeroes the counters (limits and faults stay). */
  resetStats(): void {
    this.counters = zeroStats();
  }

  /** Takes one token; returns undefined when allowed, else the wait in ms until a token is back. */
  private take(b: Bucket): number | undefined {
    const t = this.now();
    b.tokens = Math.min(b.perSecond, b.tokens + ((t - b.last) * b.perSecond) / 1000);
    b.last = t;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return undefined;
    }
    return ((1 - b.tokens) / b.perSecond) * 1000;
  }

  /** The serveRoutes guard: counts, enforces limits, answers faults. Routes of provider `sandbox` pass through. */
  readonly guard: Interceptor = async (route, req, ctx) => {
    const provider = route.provider;
    if (provider === 'sandbox') return undefined;
    const counters = this.counters;
    counters.requests[provider]++;
    const bucket = this.buckets.get(provider);
    const waitMs = bucket ? this.take(bucket) : undefined;
    if (waitMs !== undefined) {
      counters.rateLimited[provider]++;
      return faultErrorAnswer(provider, 'rate_limit', { retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)), ctx });
    }
    const fault = this.active.get(provider);
    if (!fault) return undefined;
    fault.served++;
    if (fault.remaining !== null && --fault.remaining <= 0) this.active.delete(provider);
    counters.faulted[provider]++;
    return this.answer(provider, fault, route, req, ctx);
  };

  private async answer(provider: FaultProvider, f: FaultSpec, route: Route, req: SandboxRequest, ctx: SandboxContext): Promise<SandboxResponse> {
    switch (f.fault) {
      case 'timeout':
        return { status: 504, hang: true };
      case 'slow': {
        const normal = await route.handler(req, ctx);
        return { ...normal, delayMs: (normal.delayMs ?? 0) + (f.ms ?? 2000) };
      }
      case 'runtime_error': {
        const normal = await route.handler(req, ctx);
        if (normal.status !== 200) return normal; // a request PageSpeed refuses anyway (bad url, strategy …)
        const body = normal.json ?? JSON.parse(typeof normal.body === 'string' ? normal.body : String(normal.body ?? 'null'));
        if (typeof body !== 'object' || body === null || Array.isArray(body)) return normal;
        return { status: 200, headers: { 'Content-Type': 'application/json; charset=UTF-8' }, json: withRuntimeError(body as Record<string, unknown>, f.code ?? DEFAULT_LIGHTHOUSE_CODE) };
      }
      case 'malformed': {
        const headers = { 'Content-Type': 'application/json', ...providerHeaders(provider, ctx) };
        return { status: f.status ?? route.successStatus ?? 200, headers, body: MALFORMED_BODY };
      }
      default: {
        const retryAfterSeconds = f.retryAfterSeconds ?? (f.fault === 'rate_limit' ? 1 : undefined);
        return faultErrorAnswer(provider, f.fault, { status: f.status, retryAfterSeconds, bearer: req.bearer, ctx });
      }
    }
  }

  /** The admin routes (provider `sandbox`, so the guard never faults them). */
  routes(): Route[] {
    const rows: Route[] = [
      { method: 'GET', path: '/sandbox/faults', provider: 'sandbox', handler: () => ok({ faults: this.list() }) },
      { method: 'DELETE', path: '/sandbox/faults', provider: 'sandbox', handler: () => ok({ cleared: this.clear() }) },
      { method: 'GET', path: '/sandbox/stats', provider: 'sandbox', handler: () => ok(this.stats()) },
      {
        method: 'DELETE',
        path: '/sandbox/stats',
        provider: 'sandbox',
        handler: () => {
          this.resetStats();
          return ok(this.stats());
        },
      },
    ];
    for (const p of FAULT_PROVIDERS) {
      rows.push(
        { method: 'PUT', path: `/sandbox/faults/${p}`, provider: 'sandbox', handler: (req) => admin(req, (b) => ({ provider: p, fault: this.set(p, b as FaultSpec) })) },
        { method: 'DELETE', path: `/sandbox/faults/${p}`, provider: 'sandbox', handler: () => ok({ cleared: this.clear(p) }) },
        {
          method: 'PUT',
          path: `/sandbox/limits/${p}`,
          provider: 'sandbox',
          handler: (req) =>
            admin(req, (b) => {
              const perSecond = isRecord(b) ? b.perSecond : undefined;
              this.setLimit(p, perSecond as number);
              return { provider: p, perSecond };
            }),
        },
        { method: 'DELETE', path: `/sandbox/limits/${p}`, provider: 'sandbox', handler: () => ok({ provider: p, cleared: this.clearLimit(p) }) },
      );
    }
    return rows;
  }
}

function ok(json: unknown): SandboxResponse {
  return { status: 200, json };
}

function admin(req: SandboxRequest, apply: (body: unknown) => unknown): SandboxResponse {
  let body: unknown;
  try {
    body = JSON.parse(req.body.toString('utf8') || 'null');
  } catch {
    return { status: 400, json: { error: 'bad_request', message: 'body is not valid JSON' } };
  }
  try {
    return ok(apply(body));
  } catch (err) {
    if (err instanceof FaultSpecError) return { status: 400, json: { error: 'bad_request', message: err.message } };
    throw err;
  }
}
