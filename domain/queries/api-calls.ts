/**
 * Throttling figures over the gateway's call ledger (`api_calls`, one row per logical provider call; written by
 * domain/gateway/ledger.ts): provider 429s, quota refusals and calls held back by the local rate limiter.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** A call the provider refused with HTTP 429 (status recorded, or the gateway's `http_429` outcome). */
const IS_HTTP_429 = `(http_status = 429 or outcome = 'http_429')`;

/** Calls of `provider` since `since` (inclusive) that got a 429, and that the gateway refused for an exhausted quota. */
export async function throttledCallsSince(em: EntityManager, provider: string, since: Date): Promise<{ http429: number; quotaExhausted: number }> {
  const [row] = await em.execute<{ n429: number; quota: number }[]>(
    `select count(*) filter (where ${IS_HTTP_429})::int as n429,
            count(*) filter (where outcome = 'quota_exhausted')::int as quota
       from api_calls where provider = ? and created_at >= ?`,
    [provider, since],
  );
  return { http429: row?.n429 ?? 0, quotaExhausted: row?.quota ?? 0 };
}

/** Rate limiting of one provider over a window (see {@link rateLimitingSince}). */
export interface RateLimiting {
  /** Calls in the window. */
  calls: number;
  /** Of them, answered 429 by the provider. */
  http429: number;
  /** Of those 429s, the ones at or after the `recentSince` cut. */
  recent429: number;
  /** Calls held back by our own rate limiter (`rate_limited`). */
  localRateLimited: number;
  /** Time of the last 429 in the window; null when none. */
  last429At: Date | null;
}

/** {@link RateLimiting} of `provider` for calls since `since` (inclusive), with `recentSince` (≥ `since`) for `recent429`. */
export async function rateLimitingSince(em: EntityManager, provider: string, since: Date, recentSince: Date): Promise<RateLimiting> {
  const [row] = await em.execute<{ provider429: number; recent429: number; local: number; calls: number; last429: Date | string | null }[]>(
    `select count(*) filter (where ${IS_HTTP_429})::int as provider429,
            count(*) filter (where ${IS_HTTP_429} and created_at >= ?)::int as recent429,
            count(*) filter (where outcome = 'rate_limited')::int as local,
            count(*)::int as calls,
            max(created_at) filter (where ${IS_HTTP_429}) as last429
       from api_calls where provider = ? and created_at >= ?`,
    [recentSince, provider, since],
  );
  return {
    calls: row?.calls ?? 0,
    http429: row?.provider429 ?? 0,
    recent429: row?.recent429 ?? 0,
    localRateLimited: row?.local ?? 0,
    last429At: row?.last429 ? new Date(row.last429) : null,
  };
}

// ---- The gateway's ledger writes and its own readers (domain/gateway/ledger.ts, checks.ts) -----------------------
// These run on `em.getConnection()`, outside any transaction context of `em`, as the gateway always has.

/** One row of the ledger as written (`created_at` = `at`; latency in ms, rounded here; error cut to 1000 chars). */
export interface ApiCallRow {
  provider: string;
  operation: string;
  outcome: string;
  httpStatus?: number;
  attempts: number;
  latencyMs: number;
  costUsd: number;
  cacheHit: boolean;
  promptTokens?: number;
  completionTokens?: number;
  error?: string;
  at: Date;
}

/** Writes `rows` to `api_calls` in one INSERT. */
export async function insertApiCalls(em: EntityManager, rows: ApiCallRow[]): Promise<void> {
  const values = rows.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ');
  await em.getConnection().execute(
    `insert into api_calls (provider, operation, outcome, http_status, attempts, latency_ms, cost_usd, cache_hit, prompt_tokens, completion_tokens, error, created_at)
     values ${values}`,
    rows.flatMap((r) => [
      r.provider,
      r.operation,
      r.outcome,
      r.httpStatus ?? null,
      r.attempts,
      Math.round(r.latencyMs),
      r.costUsd,
      r.cacheHit,
      r.promptTokens ?? null,
      r.completionTokens ?? null,
      r.error?.slice(0, 1000) ?? null,
      r.at,
    ]),
  );
}

/** Usage of one provider and operation: calls, errors (outcome not ok/cache_hit), cache hits, USD, mean latency (ms), tokens. */
export interface OperationUsage {
  operation: string;
  calls: number;
  errors: number;
  cacheHits: number;
  costUsd: number;
  avgLatencyMs: number | null;
  promptTokens: number;
  completionTokens: number;
}

/** {@link OperationUsage} per operation of `provider` since `since` (inclusive), ordered by operation. */
export async function usageByOperation(em: EntityManager, provider: string, since: Date): Promise<OperationUsage[]> {
  const rows = await em.getConnection().execute<
    { operation: string; calls: string; errors: string; hits: string; cost: number; lat: number | null; pt: string; ct: string }[]
  >(
    `select operation, count(*) as calls,
            count(*) filter (where outcome not in ('ok', 'cache_hit')) as errors,
            count(*) filter (where cache_hit) as hits,
            coalesce(sum(cost_usd), 0)::float8 as cost,
            avg(latency_ms)::float8 as lat,
            coalesce(sum(prompt_tokens), 0) as pt, coalesce(sum(completion_tokens), 0) as ct
     from api_calls where provider = ? and created_at >= ? group by operation order by operation`,
    [provider, since],
  );
  return rows.map((r) => ({
    operation: r.operation,
    calls: Number(r.calls),
    errors: Number(r.errors),
    cacheHits: Number(r.hits),
    costUsd: Number(r.cost),
    avgLatencyMs: r.lat,
    promptTokens: Number(r.pt),
    completionTokens: Number(r.ct),
  }));
}

/** Live-call health of one provider over a window (cache hits excluded); latencies in ms, unrounded. */
export interface ProviderCallHealth {
  provider: string;
  calls: number;
  /** Calls whose outcome was not `ok`. */
  errors: number;
  /** Calls that ended with HTTP 429. */
  http429: number;
  /** Calls that ended with HTTP 401 or 403. */
  authErrors: number;
  p95LatencyMs: number | null;
  avgLatencyMs: number | null;
  lastErrorAt: Date | null;
}

/** {@link ProviderCallHealth} per provider with calls since `since` (inclusive); providers without calls are absent. */
export async function callHealthByProvider(em: EntityManager, since: Date): Promise<ProviderCallHealth[]> {
  const rows = await em.getConnection().execute<
    { provider: string; calls: string; errors: string; r429: string; auth: string; p95: number | null; avg: number | null; last_err: Date | string | null }[]
  >(
    `select provider, count(*) as calls,
            count(*) filter (where outcome <> 'ok') as errors,
            count(*) filter (where ${IS_HTTP_429}) as r429,
            count(*) filter (where http_status in (401, 403)) as auth,
            percentile_cont(0.95) within group (order by latency_ms)::float8 as p95,
            avg(latency_ms)::float8 as avg,
            max(created_at) filter (where outcome <> 'ok') as last_err
       from api_calls where created_at >= ? and not cache_hit group by provider`,
    [since],
  );
  return rows.map((r) => ({
    provider: r.provider,
    calls: Number(r.calls),
    errors: Number(r.errors),
    http429: Number(r.r429),
    authErrors: Number(r.auth),
    p95LatencyMs: r.p95,
    avgLatencyMs: r.avg,
    lastErrorAt: r.last_err == null ? null : new Date(r.last_err),
  }));
}

/**
 * For each of `providers`: its calls answered 429 since `since` (inclusive; the 429 of {@link throttledCallsSince})
 * and whether a Retry-After block (`provider_state.blocked_until`) is in force at `now`.
 */
export async function http429sAndBlocks(em: EntityManager, providers: readonly string[], since: Date, now: Date): Promise<{ provider: string; http429: number; blocked: boolean }[]> {
  const rows = await em.execute<{ provider: string; n: number; blocked: boolean }[]>(
    `select p.provider, coalesce(c.n, 0)::int as n, (s.blocked_until is not null and s.blocked_until > ?) as blocked
       from (select unnest(?::text[]) as provider) p
       left join (select provider, count(*) as n from api_calls where ${IS_HTTP_429} and created_at >= ? group by provider) c on c.provider = p.provider
       left join provider_state s on s.provider = p.provider`,
    [now, `{${providers.join(',')}}`, since],
  );
  return rows.map((r) => ({ provider: r.provider, http429: Number(r.n), blocked: Boolean(r.blocked) }));
}
