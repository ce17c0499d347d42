/**
 * The least makespan the providers' published limits allow a pipeline run, for `bench pipeline --latency
 * realistic`: per provider, the calls the run *needed* (not the calls it happened to make: retries and repeats do
 * not raise the bound), spent against each of its rate rules as our limiter enforces it — a GCRA bucket of
 * `burst` units (GATEWAY_BURST, default the rule's limit) refilled at limit / period — so the last needed unit
 * cannot be taken before (units − burst) / rate; plus one chain of mean latencies (Yelp → PageSpeed → OpenAI →
 * SendGrid, scaled) for the last business to go through after it. The largest provider bound binds.
 */
import type { AppConfig, ProviderId } from '../domain/config.js';
import { REALISTIC_LATENCY, meanLatencyMs } from '../domain/sandbox/index.js';

/** What a run needed of one provider: calls, and tokens (the answers' `usage`, prompt + completion). */
export interface Needed {
  provider: ProviderId;
  calls: number;
  tokens: number;
}

/** One provider's bound (s) and the rule that sets it. */
export interface ProviderBound extends Needed {
  rule: string;
  /** Least time the rule allows for the needed units (s), without the latency chain. */
  limitS: number;
  /** `limitS` + the latency chain (s). */
  boundS: number;
}

/** The scaled mean latency (s) of one business's chain of calls, with the insight's ~250 completion tokens. */
export function latencyChainS(scale: number): number {
  const providers = ['yelp', 'pagespeed', 'openai', 'sendgrid'] as const;
  const meanMs = providers.reduce((s, p) => s + meanLatencyMs(REALISTIC_LATENCY[p]), 0);
  const tokensMs = 250 * (REALISTIC_LATENCY.openai.perCompletionTokenMs ?? 0);
  return ((meanMs + tokensMs) / 1000) * scale;
}

/** Each provider's bound, largest (binding) first. */
export function providerBounds(config: AppConfig, needed: Needed[], chainS: number): ProviderBound[] {
  const out = needed.map((n): ProviderBound => {
    let limitS = 0;
    let rule = 'none';
    for (const r of config.gateway.limits[n.provider]?.rates ?? []) {
      const units = r.unit === 'token' ? n.tokens : n.calls;
      const burst = Math.min(r.limit, Math.max(1, config.gateway.burst ?? r.limit));
      const s = (Math.max(0, units - burst) * r.periodMs) / r.limit / 1000;
      if (s >= limitS) {
        limitS = s;
        rule = `${r.limit} ${r.unit}s per ${r.periodMs / 1000} s`;
      }
    }
    return { ...n, rule, limitS, boundS: limitS + chainS };
  });
  return out.sort((a, b) => b.boundS - a.boundS);
}
