/**
 * External APIs (troubleshooting guide, playbook 7: "verify integrations, list breaker state for each provider,
 * check keys/limits"): live connection tests, circuit breakers, the last hour's calls from the `api_calls` ledger,
 * which keys are configured, and the rate limits and quotas in force (with operators' overrides).
 *
 * Thresholds: a provider with at least {@link MIN_CALLS_FOR_RATE} calls in the hour and an error rate of
 * {@link ERROR_RATE_WARN} (5 %) warns, {@link ERROR_RATE_PROBLEM} (25 %) is a problem; a daily quota used to
 * {@link QUOTA_WARN_RATIO} (80 %, the guide's "API rate-limit utilisation > 80 %") warns, used up is a problem.
 */
import { z } from 'zod';
import { PROVIDERS, type ProviderId } from '../domain/config.js';
import { AppError } from '../domain/errors.js';
import { checkIntegrations, providerEndpoint, PROVIDER_NAMES, recentCallStats } from '../domain/gateway/checks.js';
import type { ProviderLimits } from '../domain/gateway/config.js';
import { effectiveConfig, setOverride } from '../domain/overrides.js';
import type { RunbookContext } from './context.js';
import { defineRunbook, type Finding } from './define.js';
import { providerFailureCauses } from './provider-causes.js';
import { BREAKER_CARD_REMEDIATIONS, breakerAfterReset, breakerBefore, providerSchema } from './breaker-actions.js';

/** Calls in the window below which an error rate is not judged. */
export const MIN_CALLS_FOR_RATE = 5;
/** Error rate (0..1) over the last hour that warns / is a problem. */
export const ERROR_RATE_WARN = 0.05;
export const ERROR_RATE_PROBLEM = 0.25;
/** Share of the daily quota used from which the rate-limits check warns. */
export const QUOTA_WARN_RATIO = 0.8;

const HOUR_MS = 3_600_000;
const names = (ids: ProviderId[]) => ids.map((p) => PROVIDER_NAMES[p]).join(', ');
const list = (f: Finding | undefined, key: string): string[] => {
  const v = f?.evidence?.[key];
  return Array.isArray(v) ? (v as string[]) : [];
};
const perProvider = (f: Finding | undefined): Record<string, Record<string, unknown>> =>
  (f?.evidence?.providers as Record<string, Record<string, unknown>> | undefined) ?? {};

function limitsView(l: ProviderLimits) {
  return { daily: l.daily ?? null, rates: l.rates.map((r) => ({ name: r.name, limit: r.limit, periodMs: r.periodMs, unit: r.unit })) };
}

/** True when `provider`'s key was refused in the live test or by calls in the last hour. */
function authRejected(f: Record<string, Finding>, provider: ProviderId): boolean {
  if (list(f.integrations, 'authRejected').includes(provider)) return true;
  return Number(perProvider(f['api-metrics'])[provider]?.authErrors ?? 0) > 0;
}

/** The external-apis runbook. */
export const runbook = defineRunbook<RunbookContext>({
  id: 'external-apis',
  title: 'External APIs',
  symptoms: [
    'yelp rate limit',
    '429 too many requests',
    'api errors',
    'provider down',
    'sendgrid not working',
    'openai errors',
    'pagespeed quota',
    'stripe api failing',
    'circuit breaker open',
    'api key invalid',
    'unauthorized 401',
    'quota exhausted',
    'integrations failing',
    'external api slow',
  ],
  diagnostics: [
    {
      id: 'integrations',
      title: 'Provider connection tests',
      timeoutMs: 7000,
      async run(ctx) {
        const checks = await checkIntegrations(ctx.services, 4000);
        const providers: Record<string, unknown> = {};
        for (const c of checks)
          providers[c.provider] = {
            mode: c.sandbox ? 'sandbox' : 'real',
            host: c.host,
            reachable: c.reachable,
            auth: c.authOk ? 'ok' : c.authRejected ? 'rejected' : 'failed',
            status: c.status ?? null,
            latencyMs: c.latencyMs,
            detail: c.detail,
          };
        const pick = (fn: (c: (typeof checks)[number]) => boolean) => checks.filter(fn).map((c) => c.provider);
        const unreachable = pick((c) => !c.reachable);
        const rejected = pick((c) => c.reachable && c.authRejected);
        const rateLimited = pick((c) => c.rateLimited);
        const quotaExhausted = pick((c) => c.quotaExhausted);
        const failing = pick((c) => c.reachable && !c.authOk && !c.authRejected && !c.rateLimited && !c.quotaExhausted);
        const evidence = { providers, unreachable, authRejected: rejected, rateLimited, quotaExhausted, failing };
        const bad: string[] = [];
        if (unreachable.length) bad.push(`unreachable: ${names(unreachable)}`);
        if (rejected.length) bad.push(`key rejected: ${names(rejected)}`);
        if (rateLimited.length) bad.push(`rate limited (429): ${names(rateLimited)}`);
        if (quotaExhausted.length) bad.push(`quota exhausted: ${names(quotaExhausted)}`);
        if (failing.length) bad.push(`erroring: ${failing.map((p) => `${PROVIDER_NAMES[p]} (${(providers[p] as { detail: string }).detail})`).join(', ')}`);
        const healthy = checks.length - new Set([...unreachable, ...rejected, ...rateLimited, ...quotaExhausted, ...failing]).size;
        if (!bad.length)
          return { status: 'ok', summary: `All ${checks.length} providers answer and accept their keys; slowest ${Math.max(...checks.map((c) => c.latencyMs))} ms.`, evidence };
        return {
          status: unreachable.length || rejected.length ? 'problem' : 'warn',
          summary: `${healthy} of ${checks.length} providers healthy; ${bad.join('; ')}.`,
          evidence,
        };
      },
    },
    {
      id: 'breaker-states',
      title: 'Circuit breakers',
      async run(ctx) {
        const snaps = await Promise.all(PROVIDERS.map((p) => ctx.services.gateway.breaker.snapshot(p)));
        const providers: Record<string, unknown> = {};
        for (const b of snaps)
          providers[b.provider] = {
            state: b.state,
            since: b.lastTransitionAt?.toISOString() ?? null,
            consecutiveFailures: b.consecutiveFailures,
            retryAt: b.retryAt?.toISOString() ?? null,
            lastError: b.lastError?.slice(0, 160) ?? null,
            lastErrorAt: b.lastErrorAt?.toISOString() ?? null,
          };
        const open = snaps.filter((b) => b.state === 'open').map((b) => b.provider);
        const halfOpen = snaps.filter((b) => b.state === 'half_open').map((b) => b.provider);
        const failing = snaps.filter((b) => b.state === 'closed' && b.consecutiveFailures > 0).map((b) => b.provider);
        const evidence = { providers, open, halfOpen, failing };
        const describe = (p: ProviderId) => {
          const b = snaps.find((x) => x.provider === p)!;
          return `${PROVIDER_NAMES[p]} ${b.state.replace('_', '-')}${b.lastTransitionAt ? ` since ${b.lastTransitionAt.toISOString()}` : ''}${b.retryAt ? ` (retry at ${b.retryAt.toISOString()})` : ''}`;
        };
        if (open.length)
          return { status: 'problem', summary: `Breaker open: ${open.map(describe).join('; ')}; calls to ${open.length === 1 ? 'it' : 'them'} are refused.`, evidence };
        if (halfOpen.length) return { status: 'warn', summary: `Breaker half-open (probing): ${halfOpen.map(describe).join('; ')}.`, evidence };
        if (failing.length)
          return {
            status: 'warn',
            summary: `All breakers closed; recent consecutive failures: ${failing.map((p) => `${PROVIDER_NAMES[p]} ${snaps.find((b) => b.provider === p)!.consecutiveFailures}`).join(', ')}.`,
            evidence,
          };
        return { status: 'ok', summary: `All ${snaps.length} breakers closed.`, evidence };
      },
    },
    {
      id: 'api-metrics',
      title: 'API calls in the last hour',
      async run(ctx) {
        const now = ctx.services.clock.now();
        const stats = await recentCallStats(ctx.em(), new Date(now.getTime() - HOUR_MS));
        const providers: Record<string, unknown> = {};
        let total = 0;
        const warn: string[] = [];
        const problem: string[] = [];
        for (const p of PROVIDERS) {
          const s = stats[p];
          total += s.calls;
          providers[p] = {
            calls: s.calls,
            errors: s.errors,
            errorRatePct: Math.round(s.errorRate * 1000) / 10,
            p95LatencyMs: s.p95LatencyMs,
            http429: s.http429,
            authErrors: s.authErrors,
          };
          const judged = s.calls >= MIN_CALLS_FOR_RATE;
          const line = `${PROVIDER_NAMES[p]} ${s.errors}/${s.calls} errors${s.http429 ? `, ${s.http429}×429` : ''}`;
          if (judged && s.errorRate >= ERROR_RATE_PROBLEM) problem.push(line);
          else if ((judged && s.errorRate >= ERROR_RATE_WARN) || s.http429 > 0 || s.authErrors > 0) warn.push(line);
        }
        const evidence = { windowHours: 1, totalCalls: total, providers };
        if (total === 0) return { status: 'no_data', summary: 'No provider calls in the last hour.', evidence };
        const busiest = PROVIDERS.filter((p) => stats[p].calls > 0)
          .map((p) => `${PROVIDER_NAMES[p]} ${stats[p].calls} calls, p95 ${stats[p].p95LatencyMs} ms`)
          .join('; ');
        if (problem.length) return { status: 'problem', summary: `High error rate in the last hour: ${[...problem, ...warn].join('; ')}.`, evidence };
        if (warn.length) return { status: 'warn', summary: `Errors in the last hour: ${warn.join('; ')}.`, evidence };
        return { status: 'ok', summary: `${total} calls in the last hour, error rates under ${ERROR_RATE_WARN * 100} %: ${busiest}.`, evidence };
      },
    },
    {
      id: 'api-keys',
      title: 'API keys',
      async run(ctx) {
        const eps = PROVIDERS.map((p) => providerEndpoint(ctx.services, p));
        const providers = Object.fromEntries(eps.map((e) => [e.provider, { key: e.key, mode: e.sandbox ? 'sandbox' : 'real', host: e.host }]));
        const missing = eps.filter((e) => e.key === 'MISSING').map((e) => e.provider);
        const evidence = { providers, missing };
        if (!missing.length) return { status: 'ok', summary: `All ${eps.length} API keys are SET; every provider is real.`, evidence };
        return {
          status: 'warn',
          summary: `${eps.length - missing.length} of ${eps.length} API keys SET; MISSING for ${names(missing)}, so the local sandbox answers ${missing.length === 1 ? 'it' : 'them'}.`,
          evidence,
        };
      },
    },
    {
      id: 'rate-limits',
      title: 'Rate limits and quotas',
      async run(ctx) {
        const s = ctx.services;
        const [eff, statuses] = await Promise.all([
          effectiveConfig(ctx.em(), s.config),
          Promise.all(PROVIDERS.map((p) => s.gateway.limiter.status(p))),
        ]);
        const providers: Record<string, unknown> = {};
        const exhausted: ProviderId[] = [];
        const blocked: ProviderId[] = [];
        const nearly: ProviderId[] = [];
        for (const st of statuses) {
          const p = st.provider;
          const configured = limitsView(s.config.gateway.limits[p]);
          const effective = limitsView(eff.gateway.limits[p]);
          const daily = effective.daily;
          const isExhausted = st.daily.exhausted || (daily !== null && st.daily.used >= daily);
          if (isExhausted) exhausted.push(p);
          else if (daily !== null && daily > 0 && st.daily.used >= daily * QUOTA_WARN_RATIO) nearly.push(p);
          if (st.blockedUntil) blocked.push(p);
          providers[p] = {
            configured,
            effective,
            overridden: JSON.stringify(configured) !== JSON.stringify(effective),
            usedToday: st.daily.used,
            dailyLimit: daily,
            remaining: daily === null ? null : isExhausted ? 0 : Math.max(0, daily - st.daily.used),
            exhausted: isExhausted,
            resetAt: st.daily.resetAt.toISOString(),
            blockedUntil: st.blockedUntil?.toISOString() ?? null,
          };
        }
        const evidence = { providers, exhausted, blocked, nearlyExhausted: nearly };
        const quota = (p: ProviderId) => {
          const v = providers[p] as { usedToday: number; dailyLimit: number | null };
          return `${PROVIDER_NAMES[p]} ${v.usedToday}/${v.dailyLimit ?? '∞'}`;
        };
        const bad: string[] = [];
        if (exhausted.length) bad.push(`daily quota used up: ${exhausted.map(quota).join(', ')}`);
        if (blocked.length)
          bad.push(`blocked by Retry-After: ${blocked.map((p) => `${PROVIDER_NAMES[p]} until ${(providers[p] as { blockedUntil: string }).blockedUntil}`).join(', ')}`);
        if (bad.length) return { status: 'problem', summary: `${bad.join('; ')}.`, evidence };
        if (nearly.length) return { status: 'warn', summary: `Over ${QUOTA_WARN_RATIO * 100} % of the daily quota used: ${nearly.map(quota).join(', ')}.`, evidence };
        const withQuota = PROVIDERS.filter((p) => s.config.gateway.limits[p].daily !== undefined);
        return { status: 'ok', summary: `No provider blocked; quotas used today: ${withQuota.map(quota).join(', ')}.`, evidence };
      },
    },
  ],
  rootCauses: [
    {
      id: 'breaker-open',
      title: "A provider's circuit breaker is open, so its calls are refused",
      indicatedBy: (f) => list(f['breaker-states'], 'open').length > 0,
      remediations: ['reset-breaker'],
    },
    {
      id: 'provider-auth',
      title: 'A provider rejects its API key (401/403 or missing scope)',
      indicatedBy: (f) => PROVIDERS.some((p) => authRejected(f, p)),
      remediations: [],
    },
    // every provider × failure mode (down, 429, key refused, quota spent): runbooks/provider-causes.ts
    ...providerFailureCauses(),
    {
      id: 'provider-unreachable',
      title: 'A provider does not answer (network, DNS or provider outage)',
      indicatedBy: (f) => list(f.integrations, 'unreachable').length > 0,
      remediations: ['force-open-breaker'],
    },
    {
      id: 'quota-exhausted',
      title: "A provider's daily quota is used up (calls refused until midnight UTC)",
      indicatedBy: (f) => list(f['rate-limits'], 'exhausted').length > 0 || list(f.integrations, 'quotaExhausted').length > 0,
      remediations: [],
    },
  ],
  remediations: [
    {
      id: 'reset-breaker',
      title: "Reset a provider's circuit breaker",
      risk: 'write',
      requiredRole: 'operator',
      confirmation:
        "Reset the provider's circuit breaker? The next call to it is a probe: it closes the breaker if the provider answers, and re-opens it if not.",
      inputSchema: z.object({ provider: providerSchema }),
      defaultInput: (f) => {
        const p = list(f['breaker-states'], 'open')[0] ?? list(f['breaker-states'], 'halfOpen')[0];
        return p ? { provider: p } : {};
      },
      idempotencyKey: (input) => `reset-breaker:${String(input.provider)}`,
      recheck: 'breaker-states',
      // the breaker-states diagnostic would read back the reset we just wrote: the provider's breaker before, and a
      // live call through the gateway (the probe) after
      verify: { before: (ctx, input) => breakerBefore(ctx, providerSchema.parse(input.provider)), after: (ctx, input, opts) => breakerAfterReset(ctx, providerSchema.parse(input.provider), opts) },
      async run(ctx, input, actor) {
        const provider = providerSchema.parse(input.provider);
        const r = await ctx.services.gateway.breaker.reset(provider, `by ${actor}`, actor);
        ctx.services.logger.info({ remediation: 'reset-breaker', provider, actor, from: r.from, to: r.to }, 'breaker reset');
        const name = PROVIDER_NAMES[provider];
        if (r.from === 'closed') return { summary: `${name} breaker was already closed; its failure count is back to 0.` };
        return { summary: `${name} breaker reset (was ${r.from.replace('_', '-')}); the next call to ${name} is a probe that closes it if ${name} answers.` };
      },
    },
    {
      id: 'force-open-breaker',
      title: "Force a provider's circuit breaker open",
      risk: 'destructive',
      requiredRole: 'admin',
      confirmation: "Open the provider's circuit breaker for the given minutes? Every call to it is refused until then.",
      inputSchema: z.object({ provider: providerSchema, minutes: z.number().int().min(1).max(24 * 60) }),
      defaultInput: (f) => {
        const p = list(f.integrations, 'unreachable')[0];
        return p ? { provider: p, minutes: 15 } : { minutes: 15 };
      },
      idempotencyKey: (input) => `force-open-breaker:${String(input.provider)}:${String(input.minutes)}`,
      // what motivates it is the provider failing (the live connection tests), not the breaker it opens
      recheck: 'integrations',
      async run(ctx, input, actor) {
        const provider = providerSchema.parse(input.provider);
        const minutes = z.number().int().min(1).max(24 * 60).parse(input.minutes);
        await ctx.services.gateway.breaker.forceOpen(provider, `by ${actor} for ${minutes} min`, { forMs: minutes * 60_000 });
        const after = await ctx.services.gateway.breaker.snapshot(provider);
        ctx.services.logger.info({ remediation: 'force-open-breaker', provider, minutes, actor }, 'breaker forced open');
        return {
          summary: `${PROVIDER_NAMES[provider]} breaker forced open for ${minutes} min; calls refused until ${after.retryAt?.toISOString() ?? 'the cooldown ends'}.`,
        };
      },
    },
    {
      id: 'set-rate-limit',
      title: "Change a provider's rate limit",
      risk: 'write',
      requiredRole: 'operator',
      confirmation: "Set the provider's rate limit (its first rate rule, e.g. Yelp requests per second) to the given value?",
      inputSchema: z.object({ provider: providerSchema, limit: z.number().int().positive().max(100_000) }),
      defaultInput: (f) => {
        const rl = perProvider(f['rate-limits']);
        const p = (list(f.integrations, 'rateLimited')[0] ?? 'yelp') as ProviderId;
        const rate = (rl[p]?.effective as { rates?: { limit: number }[] } | undefined)?.rates?.[0]?.limit;
        return rate ? { provider: p, limit: Math.max(1, Math.floor(rate / 2)) } : { provider: p };
      },
      idempotencyKey: (input) => `rate-limit:${String(input.provider)}:${String(input.limit)}`,
      recheck: 'rate-limits',
      async run(ctx, input, actor) {
        const provider = providerSchema.parse(input.provider);
        const limit = z.number().int().positive().max(100_000).parse(input.limit);
        const em = ctx.em();
        const before = (await effectiveConfig(em, ctx.services.config)).gateway.limits[provider].rates[0];
        if (!before) throw new AppError('bad_request', `${PROVIDER_NAMES[provider]} has no rate rule (only a daily quota)`);
        await setOverride(em, `gateway.rate_limit.${provider}`, limit, actor, ctx.services.clock.now());
        await ctx.services.gateway.limiter.refreshOverrides(); // this process at once; the others within seconds
        ctx.services.logger.info({ remediation: 'set-rate-limit', provider, limit, was: before.limit, actor }, 'rate limit overridden');
        return {
          summary: `${PROVIDER_NAMES[provider]} rate limit set to ${limit} per ${before.periodMs / 1000} s (${before.name}; was ${before.limit}); every process applies it within seconds.`,
        };
      },
    },
     // the breaker cards' buttons (`/lf breakers`): probe now, keep open 1 h, force close
    ...BREAKER_CARD_REMEDIATIONS,
  ],
});
