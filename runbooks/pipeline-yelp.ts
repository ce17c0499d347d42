/**
 * The Yelp diagnostic of the "Pipeline not processing" runbook (runbooks/pipeline-not-processing.ts): is sourcing
 * held back by Yelp's rate limit, its daily quota or our own limiter?
 */
import { providerStatus, testConnection, type ProbeResult } from '../domain/gateway/diagnostics.js';
import { rateLimitingSince } from '../domain/queries/api-calls.js';
import { yelpBatchSize } from '../domain/targeting/batch-size.js';
import type { RunbookContext } from './context.js';
import type { Finding } from './define.js';

/** Minutes of ledger history in which a Yelp 429 still counts as "rate limited now". */
export const RECENT_429_MINUTES = 10;

/**
 * yelp-rate-limit: a live probe of Yelp (does it answer 429 now?), Yelp 429s in the ledger (last hour; the last
 * {@link RECENT_429_MINUTES} minutes count as current), the Retry-After block, breaker, quota, batch size.
 */
export async function yelpRateLimit(ctx: RunbookContext): Promise<Finding> {
  const em = ctx.em();
  const now = ctx.services.clock.now();
  const live = Promise.race([
    testConnection(ctx.services, 'yelp'),
    new Promise<ProbeResult>((resolve) => setTimeout(() => resolve({ provider: 'yelp', ok: false, latencyMs: 4000, detail: 'no answer within 4 s' }), 4000).unref()),
  ]);
  const [r, st, batch, probe] = await Promise.all([
    rateLimitingSince(em, 'yelp', new Date(now.getTime() - 3600_000), new Date(now.getTime() - RECENT_429_MINUTES * 60_000)),
    providerStatus(ctx.services, 'yelp'),
    yelpBatchSize(em, ctx.services.config),
    live,
  ]);
  const blockedUntil = st.limits.blockedUntil && st.limits.blockedUntil > now ? st.limits.blockedUntil : undefined;
  const daily = st.limits.daily;
  const live429 = probe.status === 429;
  const rateLimited = live429 || r.recent429 > 0 || blockedUntil !== undefined;
  const evidence = {
    liveProbe: probe.status !== undefined ? `HTTP ${probe.status}` : probe.detail,
    callsLastHour: r.calls,
    http429LastHour: r.http429,
    localRateLimitedLastHour: r.localRateLimited,
    last429At: r.last429At?.toISOString() ?? null,
    blockedUntil: blockedUntil?.toISOString() ?? null,
    breaker: st.breaker.state,
    breakerFailures: st.breaker.consecutiveFailures,
    dailyLimit: daily.limit ?? null,
    usedToday: daily.used,
    remainingToday: daily.remaining ?? null,
    quotaExhausted: daily.exhausted,
    quotaResetAt: daily.resetAt.toISOString(),
    batchSize: batch.value,
    batchSizeSource: batch.source,
    rateLimited,
    sandbox: st.sandbox,
  };
  const quotaText = daily.limit === undefined ? `${daily.used} calls today (no daily limit)` : `${daily.used} of ${daily.limit} daily calls used`;
  const tail = `breaker ${st.breaker.state}; ${quotaText}; batch size ${batch.value} (${batch.source})`;
  if (rateLimited)
    return {
      status: 'problem',
      summary: `${live429 ? 'Yelp answers 429 Too Many Requests right now; ' : ''}Yelp answered 429 ${r.http429} time(s) in the last hour${blockedUntil ? `, calls blocked until ${blockedUntil.toISOString()}` : ''}; ${tail}.`,
      evidence,
    };
  if (daily.exhausted) return { status: 'problem', summary: `Yelp daily quota used up (resets ${daily.resetAt.toISOString()}); ${tail}.`, evidence };
  if (r.localRateLimited > 0 || st.breaker.state !== 'closed')
    return { status: 'warn', summary: `${r.localRateLimited} Yelp call(s) held back by the local rate limiter in the last hour; ${tail}.`, evidence };
  return { status: 'ok', summary: `No Yelp 429 in the last hour (${r.calls} calls); ${tail}.`, evidence };
}

