/**
 * Realistic provider latency for the sandbox (`SANDBOX_LATENCY=realistic`); the default `zero` answers at once,
 * as the tests need. Each provider gets a log-normal distribution (median, 95th percentile), clamped to a range,
 * drawn deterministically from the sandbox seed and the request number, and multiplied by the time scale
 * (`SANDBOX_TIME_SCALE`, e.g. 0.1 so a benchmark of real-world minutes runs in tenths of that; scale the rate
 * limits by 1/scale alongside to keep every ratio).
 *
 * Figures and where they come from:
 * - **PageSpeed Insights** runs a full Lighthouse audit per request: "Time per request: 10-30 seconds"
 *   (https://unlighthouse.dev/learn-lighthouse/pagespeed-insights-api/bulk-testing). Median 15 s, p95 30 s,
 *   clamped to 4–60 s.
 * - **OpenAI chat completions**: "The latency of a completion request is mostly influenced by two factors: the
 *   model and the number of tokens generated" (https://help.openai.com/en/articles/6901266); end-to-end latency
 *   = time to first token + output tokens × time per output token
 *   (https://developers.openai.com/api/docs/guides/latency-optimization). Time to first token median 0.5 s (p95
 *   1.2 s) plus 12 ms per completion token (about 80 tokens/s, a small model such as gpt-4o-mini), so the
 *   insight's ~250 tokens take about 3.5 s.
 * - **Yelp Fusion** business search and **SendGrid** v3 mail send are plain REST calls: hundreds of
 *   milliseconds. Neither publishes latency figures; SendGrid's troubleshooting guide shows ~40 ms network round
 *   trips to its servers (https://docs.sendgrid.com/ui/account-and-settings/troubleshooting-delays-and-latency), the
 *   rest is the request's own work. Yelp median 250 ms (p95 600 ms), SendGrid median 200 ms (p95 500 ms);
 *   Stripe, likewise undocumented, median 300 ms (p95 700 ms).
 * Error answers (status ≥ 400) come back without the delay: providers refuse fast.
 */
import { rng } from './prng.js';
import type { SandboxProvider } from './server.js';

/** Latency mode: `zero` (answer at once) or `realistic` (the distributions above). */
export type LatencyMode = 'zero' | 'realistic';

/** One provider's distribution: log-normal by median and 95th percentile (ms), clamped to [minMs, maxMs]. */
export interface LatencyProfile {
  medianMs: number;
  p95Ms: number;
  minMs: number;
  maxMs: number;
  /** Extra ms per completion token in the answer (OpenAI `usage.completion_tokens`); default 0. */
  perCompletionTokenMs?: number;
}

/** The realistic profiles, per provider (sources in the module comment). */
export const REALISTIC_LATENCY: Readonly<Record<Exclude<SandboxProvider, 'sandbox'>, LatencyProfile>> = {
  pagespeed: { medianMs: 15_000, p95Ms: 30_000, minMs: 4_000, maxMs: 60_000 },
  openai: { medianMs: 500, p95Ms: 1_200, minMs: 150, maxMs: 5_000, perCompletionTokenMs: 12 },
  yelp: { medianMs: 250, p95Ms: 600, minMs: 80, maxMs: 2_000 },
  sendgrid: { medianMs: 200, p95Ms: 500, minMs: 60, maxMs: 2_000 },
  stripe: { medianMs: 300, p95Ms: 700, minMs: 100, maxMs: 2_000 },
};

/** z of the 95th percentile of the standard normal. */
const Z95 = 1.6448536;

/** A standard normal draw from two uniforms (Box–Muller). */
function normal(u1: number, u2: number): number {
  return Math.sqrt(-2 * Math.log(Math.max(u1, 1e-12))) * Math.cos(2 * Math.PI * u2);
}

/**
 * The delay (ms, before time scaling) of one answer drawn from `p` with uniforms `u1`, `u2` in [0, 1), plus
 * `completionTokens × perCompletionTokenMs`.
 */
export function drawLatencyMs(p: LatencyProfile, u1: number, u2: number, completionTokens = 0): number {
  const sigma = Math.log(p.p95Ms / p.medianMs) / Z95;
  const base = p.medianMs * Math.exp(sigma * normal(u1, u2));
  return Math.min(p.maxMs, Math.max(p.minMs, base)) + completionTokens * (p.perCompletionTokenMs ?? 0);
}

/** Mean of a profile's distribution (ms, unclamped log-normal mean, without per-token time): for bench bounds. */
export function meanLatencyMs(p: LatencyProfile): number {
  const sigma = Math.log(p.p95Ms / p.medianMs) / Z95;
  return p.medianMs * Math.exp((sigma * sigma) / 2);
}

/** Completion tokens of an OpenAI answer body (`usage.completion_tokens`), else 0. */
function completionTokensOf(json: unknown): number {
  if (typeof json !== 'object' || json === null) return 0;
  const usage = (json as { usage?: { completion_tokens?: unknown } }).usage;
  return typeof usage?.completion_tokens === 'number' ? usage.completion_tokens : 0;
}

/** The latency model of one sandbox: mode, time scale and a request counter for deterministic draws. */
export class LatencyModel {
  private n = 0;
  /** Answers delayed so far, and their total delay in ms (after time scaling). */
  readonly totals = { delayed: 0, ms: 0 };

  /**
   * @param mode `zero` or `realistic`.
   * @param timeScale factor applied to every delay (1 = real time; 0.1 = ten times faster); must be > 0.
   * @param seed the sandbox seed (same seed → same sequence of delays).
   */
  constructor(
    readonly mode: LatencyMode,
    readonly timeScale: number,
    private readonly seed: number,
  ) {
    if (!(timeScale > 0) || !Number.isFinite(timeScale)) throw new RangeError('timeScale must be a positive number');
  }

  /** Delay in ms to add to an answer of `provider` with HTTP `status` and JSON body `json`; 0 in zero mode. */
  delayMs(provider: SandboxProvider, status: number, json: unknown): number {
    if (this.mode === 'zero' || provider === 'sandbox' || status >= 400) return 0;
    const r = rng(this.seed, 'latency', provider, ++this.n);
    const tokens = provider === 'openai' ? completionTokensOf(json) : 0;
    const ms = Math.round(drawLatencyMs(REALISTIC_LATENCY[provider], r.next(), r.next(), tokens) * this.timeScale);
    this.totals.delayed++;
    this.totals.ms += ms;
    return ms;
  }
}
