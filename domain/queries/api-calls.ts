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
