/**
 * Read-only provider checks for runbooks (quick-diagnostics, external-apis), built on diagnostics.ts:
 *
 * - {@link providerEndpoint}: where a provider's calls go (sandbox or real, base-URL host, key SET/MISSING — never the
 *   key itself);
 * - {@link checkIntegration}: a live connection test and key test with the raw adapter, each bounded by a budget so a
 *   hung provider reads as unreachable instead of stalling the runbook, classified (reachable, key rejected, rate
 *   limited, quota exhausted);
 * - {@link recentCallStats}: per-provider calls, errors, 429s and latency percentiles from the `api_calls` ledger.
 */
import { flushLedgers } from './ledger.js';
import type { EntityManager } from '@mikro-orm/postgresql';
import { PROVIDERS, type ProviderId } from '../config.js';
import { QUOTA_EXHAUSTED_CODES } from '../providers/http-errors.js';
import { resolveProvider } from '../providers/urls.js';
import type { Services } from '../services.js';
import { testAuthentication, testConnection, type ProbeResult } from './diagnostics.js';
import { callHealthByProvider } from '../queries/api-calls.js';

/** Display names of the providers (for operator sentences). */
export const PROVIDER_NAMES: Record<ProviderId, string> = {
  yelp: 'Yelp',
  pagespeed: 'PageSpeed',
  openai: 'OpenAI',
  sendgrid: 'SendGrid',
  stripe: 'Stripe',
};

/** Where a provider's calls go. `key` says whether an API key is configured — never its value. */
export interface ProviderEndpoint {
  provider: ProviderId;
  /** True when the local sandbox answers (no key configured). */
  sandbox: boolean;
  /** Host (and port) of the base URL in use, e.g. `api.yelp.com` or `127.0.0.1:43817`; `unknown` when unresolvable. */
  host: string;
  key: 'SET' | 'MISSING';
}

/** A provider's endpoint from config (no I/O). */
export function providerEndpoint(s: Pick<Services, 'config' | 'sandboxUrl'>, provider: ProviderId): ProviderEndpoint {
  const p = s.config.providers[provider];
  let host = 'unknown';
  let sandbox = p.sandbox;
  try {
    const r = resolveProvider(s.config, provider, s.sandboxUrl);
    host = new URL(r.baseUrl).host;
    sandbox = r.sandbox;
  } catch {
    // no sandbox running for a key-less provider: host stays unknown
  }
  return { provider, sandbox, host, key: p.apiKey ? 'SET' : 'MISSING' };
}

/** The outcome of {@link checkIntegration}. Latency in ms (the slower of the two probes). */
export interface IntegrationCheck extends ProviderEndpoint {
  /** Any HTTP answer arrived (even an error status). */
  reachable: boolean;
  /** The key test passed (for SendGrid: the key holds `mail.send`). */
  authOk: boolean;
  /** 401/403, Google's invalid-key 400, or a SendGrid key without the `mail.send` scope. */
  authRejected: boolean;
  /** The provider answered 429 (not a quota code). */
  rateLimited: boolean;
  /** The provider said its quota or credits are used up (e.g. Yelp ACCESS_LIMIT_REACHED). */
  quotaExhausted: boolean;
  /** HTTP status of the error answer, when there was one. */
  status: number | undefined;
  latencyMs: number;
  /** One short phrase: `ok`, `answered HTTP 401: …`, `no answer within 4000 ms`, … */
  detail: string;
}

/** Resolves to `fallback()` when `p` takes longer than `ms` (the probe keeps running in the background). */
async function within<T>(p: Promise<T>, ms: number, fallback: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((resolve) => (timer = setTimeout(() => resolve(fallback()), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function isAuthRejection(provider: ProviderId, r: ProbeResult): boolean {
  if (r.ok) return false;
  if (r.status === 401 || r.status === 403) return true;
  if (provider === 'sendgrid' && r.status === undefined && /mail\.send/.test(r.detail)) return true;
  return r.status === 400 && /api[_ ]?key/i.test(`${r.providerCode ?? ''} ${r.detail}`);
}

/**
 * Live check of one provider: `testConnection` and `testAuthentication` (raw adapter, no cache, no limiter, no
 * breaker) run concurrently, each given at most `budgetMs` (default 4000) before it counts as no answer.
 * Never throws.
 */
export async function checkIntegration(
  s: Pick<Services, 'config' | 'sandboxUrl' | 'rawProviders'>,
  provider: ProviderId,
  budgetMs = 4000,
): Promise<IntegrationCheck> {
  const noAnswer = (): ProbeResult => ({ provider, ok: false, latencyMs: budgetMs, detail: `no answer within ${budgetMs} ms` });
  const guard = (p: Promise<ProbeResult>) =>
    within(
      p.catch((err: unknown): ProbeResult => ({ provider, ok: false, latencyMs: 0, detail: String((err as Error)?.message ?? err) })),
      budgetMs,
      noAnswer,
    );
  const [conn, auth] = await Promise.all([guard(testConnection(s, provider)), guard(testAuthentication(s, provider))]);
  const status = auth.status ?? conn.status;
  const code = auth.providerCode ?? conn.providerCode;
  // a quota code (Yelp ACCESS_LIMIT_REACHED, OpenAI insufficient_quota, …), or a 429 whose message names a daily
  // limit (Google: "limit 'Queries per day'"; its per-100-seconds limit is a rate limit with the same code)
  const quotaExhausted = (code !== undefined && QUOTA_EXHAUSTED_CODES.has(code)) || (status === 429 && /per day|daily/i.test(`${auth.detail} ${conn.detail}`));
  const authRejected = isAuthRejection(provider, auth);
  const detail = !conn.ok ? conn.detail : auth.ok ? 'ok' : auth.status !== undefined ? `answered HTTP ${auth.status}${code ? ` (${code})` : ''}` : auth.detail;
  return {
    ...providerEndpoint(s, provider),
    reachable: conn.ok,
    authOk: auth.ok,
    authRejected,
    rateLimited: status === 429 && !quotaExhausted,
    quotaExhausted,
    status,
    latencyMs: Math.max(conn.latencyMs, auth.latencyMs),
    detail: detail.slice(0, 200),
  };
}

/** {@link checkIntegration} for every provider, concurrently. */
export function checkIntegrations(
  s: Pick<Services, 'config' | 'sandboxUrl' | 'rawProviders'>,
  budgetMs = 4000,
): Promise<IntegrationCheck[]> {
  return Promise.all(PROVIDERS.map((p) => checkIntegration(s, p, budgetMs)));
}

/** Ledger figures of one provider since a time. Latency in ms; `errorRate` in 0..1 (0 without calls). */
export interface CallStats {
  provider: ProviderId;
  /** Logical calls that reached the gateway's call path (cache hits excluded). */
  calls: number;
  /** Calls whose outcome was not `ok`. */
  errors: number;
  errorRate: number;
  /** Calls that ended with HTTP 429 from the provider. */
  http429: number;
  /** Calls that ended with HTTP 401 or 403. */
  authErrors: number;
  p95LatencyMs: number | null;
  avgLatencyMs: number | null;
  lastErrorAt: Date | null;
}

/**
 * Calls, errors, 429s, auth errors and p50/p95 latency per provider since `since`, from the `api_calls` ledger (cache
 * hits excluded). Every provider appears (zeros when it had no calls). One read-only query on `em`'s connection.
 */
export async function recentCallStats(em: EntityManager, since: Date): Promise<Record<ProviderId, CallStats>> {
  await flushLedgers();
  const rows = await callHealthByProvider(em, since);
  const out = {} as Record<ProviderId, CallStats>;
  for (const p of PROVIDERS)
    out[p] = { provider: p, calls: 0, errors: 0, errorRate: 0, http429: 0, authErrors: 0, p95LatencyMs: null, avgLatencyMs: null, lastErrorAt: null };
  for (const r of rows) {
    if (!(PROVIDERS as readonly string[]).includes(r.provider)) continue;
    const { calls, errors } = r;
    out[r.provider as ProviderId] = {
      provider: r.provider as ProviderId,
      calls,
      errors,
      errorRate: calls > 0 ? errors / calls : 0,
      http429: r.http429,
      authErrors: r.authErrors,
      p95LatencyMs: r.p95LatencyMs == null ? null : Math.round(r.p95LatencyMs),
      avgLatencyMs: r.avgLatencyMs == null ? null : Math.round(r.avgLatencyMs),
      lastErrorAt: r.lastErrorAt,
    };
  }
  return out;
}
