/**
 * The provider diagnostics of the "Assessment failures" runbook (runbooks/assessment-failures.ts): PageSpeed and
 * OpenAI, each a live call through the raw adapter plus today's quota, ledger and spend.
 */
import { providerStatus, testConnection, usage, type ProbeResult } from '../domain/gateway/diagnostics.js';
import { effectiveConfig } from '../domain/overrides.js';
import { assessmentResultsByStatus } from '../domain/queries/assessments.js';
import { throttledCallsSince } from '../domain/queries/api-calls.js';
import type { RunbookContext } from './context.js';
import type { Finding } from './define.js';

/** Window (ms) of recent assessment results the diagnostics look at. */
export const RESULTS_WINDOW_MS = 24 * 3600_000;

// A provider's error text may echo a request URL; never let a key parameter through.
/** A provider's error text cut to 160 characters with key parameters and key-like tokens replaced. */
export const redact = (s: string): string =>
  s
    .replace(/([?&](?:key|api_key|apikey)=)[^&\s]+/gi, '$1REDACTED')
    .replace(/\b(sk|SG|rk|pk)[-_.][A-Za-z0-9_\-.*]{6,}/g, '$1-REDACTED')
    .replace(/\bAIza[0-9A-Za-z_-]{10,}/g, 'REDACTED')
    .slice(0, 160);

/** Classifies a live probe: `unavailable` (no answer, 5xx, key refused), `limited` (429) or fine. */
function probeVerdict(p: ProbeResult): { unavailable: boolean; limited: boolean } {
  if (!p.ok) return { unavailable: true, limited: false };
  if (p.status === undefined) return { unavailable: false, limited: false };
  if (p.status === 429) return { unavailable: false, limited: true };
  return { unavailable: p.status >= 500 || p.status === 401 || p.status === 403 || p.status === 400, limited: false };
}

/** pagespeed: a live call (raw adapter), today's quota and ledger, breaker, and the cache TTL in force. */
export async function pagespeed(ctx: RunbookContext): Promise<Finding> {
  const em = ctx.em();
  const now = ctx.services.clock.now();
  const [probe, st, used, cfg, ledger] = await Promise.all([
    testConnection(ctx.services, 'pagespeed'),
    providerStatus(ctx.services, 'pagespeed'),
    usage(ctx.services, 'pagespeed', 'day'),
    effectiveConfig(em, ctx.services.config),
    throttledCallsSince(em, 'pagespeed', new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()))),
  ]);
  const v = probeVerdict(probe);
  const daily = st.limits.daily;
  const quotaExhausted = v.limited || daily.exhausted || ledger.quotaExhausted > 0;
  const unavailable = v.unavailable || st.breaker.state === 'open';
  const ttl = cfg.gateway.cacheTtlSeconds.pagespeed;
  const evidence = {
    reachable: probe.ok,
    httpStatus: probe.status ?? null,
    providerCode: probe.providerCode ?? null,
    latencyMs: probe.latencyMs,
    detail: redact(probe.detail),
    breaker: st.breaker.state,
    dailyLimit: daily.limit ?? null,
    usedToday: daily.used,
    remainingToday: daily.remaining ?? null,
    callsToday: used.calls,
    errorsToday: used.errors,
    cacheHitsToday: used.cacheHits,
    http429Today: ledger.http429,
    cacheTtlSeconds: ttl,
    cacheTtlSource: ttl === ctx.services.config.gateway.cacheTtlSeconds.pagespeed ? 'config' : 'override',
    sandbox: st.sandbox,
    unavailable,
    quotaExhausted,
  };
  const quotaText = daily.limit === undefined ? `${daily.used} calls today` : `${daily.used} of ${daily.limit} daily calls used`;
  const tail = `${quotaText}, ${used.cacheHits} cache hits; cache TTL ${ttl} s; breaker ${st.breaker.state}`;
  if (unavailable)
    return { status: 'problem', summary: `PageSpeed is unavailable (${redact(probe.detail)}, ${probe.latencyMs} ms); ${tail}.`, evidence };
  if (quotaExhausted)
    return { status: 'problem', summary: `PageSpeed quota exhausted (${v.limited ? 'the live check got HTTP 429' : 'daily quota used up'}); ${tail}.`, evidence };
  return { status: 'ok', summary: `PageSpeed answered in ${probe.latencyMs} ms; ${tail}.`, evidence };
}

/** openai: a live call (raw adapter), tokens and cost today, partial assessments without an insight. */
export async function openai(ctx: RunbookContext): Promise<Finding> {
  const em = ctx.em();
  const now = ctx.services.clock.now();
  const [probe, st, used, results] = await Promise.all([
    testConnection(ctx.services, 'openai'),
    providerStatus(ctx.services, 'openai'),
    usage(ctx.services, 'openai', 'day'),
    assessmentResultsByStatus(em, new Date(now.getTime() - RESULTS_WINDOW_MS)),
  ]);
  const v = probeVerdict(probe);
  const budget = ctx.services.config.gateway.budgets.openai;
  const overBudget = budget.dailyUsd !== undefined && used.costUsd >= budget.dailyUsd;
  const unavailable = v.unavailable || v.limited || st.breaker.state === 'open' || (overBudget && budget.blocking);
  const evidence = {
    reachable: probe.ok,
    httpStatus: probe.status ?? null,
    providerCode: probe.providerCode ?? null,
    latencyMs: probe.latencyMs,
    detail: redact(probe.detail),
    breaker: st.breaker.state,
    callsToday: used.calls,
    errorsToday: used.errors,
    promptTokensToday: used.promptTokens,
    completionTokensToday: used.completionTokens,
    costUsdToday: Math.round(used.costUsd * 10_000) / 10_000,
    dailyBudgetUsd: budget.dailyUsd ?? null,
    partialResults24h: results.partial ?? 0,
    results24h: Object.values(results).reduce((sum, k) => sum + k, 0),
    unavailable,
  };
  const tail = `${used.promptTokens + used.completionTokens} tokens ($${evidence.costUsdToday}) today; ${evidence.partialResults24h} of ${evidence.results24h} assessments in 24 h without an AI insight; breaker ${st.breaker.state}`;
  if (unavailable)
    return {
      status: 'problem',
      summary: `OpenAI is ${v.limited ? 'rate limiting' : overBudget ? 'over its blocking daily budget' : 'unavailable'} (${redact(probe.detail)}); ${tail}.`,
      evidence,
    };
  if (evidence.partialResults24h > 0 || overBudget) return { status: 'warn', summary: `OpenAI answered in ${probe.latencyMs} ms; ${tail}.`, evidence };
  return { status: 'ok', summary: `OpenAI answered in ${probe.latencyMs} ms; ${tail}.`, evidence };
}

