/**
 * Gateway settings from the environment: rate limits, circuit breaker, cache TTLs, retries, prices and budgets,
 * per provider. Defaults are the providers' documented limits (troubleshooting guide, LeadFactory v1 §3.2):
 * Yelp 5,000/day and 10/s; PageSpeed 25,000/day and 400 per 100 s; OpenAI requests and tokens per minute;
 * SendGrid 100,000/day; Stripe 25/s. Merged into the app schema by domain/config.ts.
 */
import { z } from 'zod';
import type { ProviderId } from '../config.js';

const nonNegInt = z.coerce.number().int().min(0);
const positiveInt = z.coerce.number().int().positive();
const usd = z.coerce.number().min(0);
const optionalUsd = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : Number(v)))
  .pipe(z.number().positive().optional());

/** Environment keys read for the gateway (all optional, with defaults). */
export const GatewayEnvSchema = z.object({
  YELP_DAILY_LIMIT: nonNegInt.default(5000),
  YELP_PER_SECOND: positiveInt.default(10),
  PAGESPEED_DAILY_LIMIT: nonNegInt.default(25_000),
  PAGESPEED_PER_100_SECONDS: positiveInt.default(400),
  OPENAI_REQUESTS_PER_MINUTE: positiveInt.default(500),
  OPENAI_TOKENS_PER_MINUTE: positiveInt.default(200_000),
  SENDGRID_DAILY_LIMIT: nonNegInt.default(100_000),
  STRIPE_PER_SECOND: positiveInt.default(25),

  BREAKER_FAILURE_THRESHOLD: positiveInt.default(5),
  BREAKER_COOLDOWN_MS: positiveInt.default(60_000),
  BREAKER_HALF_OPEN_SUCCESSES: positiveInt.default(3),
  /** After a remediation, how long its live verification may wait for the effect (e.g. a reset breaker's probe), ms. */
  VERIFY_WAIT_MS: positiveInt.max(300_000).default(30_000),
  /** Pause between the verification's polls (ms). */
  VERIFY_POLL_MS: positiveInt.max(60_000).default(500),

  YELP_CACHE_TTL: nonNegInt.default(3600),
  PAGESPEED_CACHE_TTL: nonNegInt.default(86_400),
  OPENAI_CACHE_TTL: nonNegInt.default(86_400),
  STRIPE_CACHE_TTL: nonNegInt.default(300),

  GATEWAY_MAX_WAIT_MS: nonNegInt.default(30_000),
  GATEWAY_BURST: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : Number(v)))
    .pipe(z.number().int().positive().optional()),
  GATEWAY_RESERVE_BATCH: positiveInt.max(1000).default(16),
  GATEWAY_RESERVE_TTL_MS: positiveInt.max(10_000).default(200),
  GATEWAY_BREAKER_CACHE_MS: nonNegInt.max(60_000).default(1000),
  GATEWAY_LEDGER_BATCH: positiveInt.max(5000).default(200),
  GATEWAY_LEDGER_FLUSH_MS: nonNegInt.max(60_000).default(100),
  GATEWAY_RETRY_ATTEMPTS: positiveInt.max(10).default(3),
  GATEWAY_RETRY_BASE_MS: positiveInt.default(250),
  GATEWAY_RETRY_MAX_MS: positiveInt.default(8_000),
  GATEWAY_RETRY_AFTER_CAP_MS: positiveInt.default(30_000),
  GATEWAY_DEADLINE_MS: positiveInt.default(60_000),
  /**
   * PageSpeed's overall deadline per call (ms), all attempts included; unset: the larger of GATEWAY_DEADLINE_MS
   * and twice PAGESPEED_TIMEOUT_MS, so an attempt cut off by its timeout can still be retried once.
   */
  PAGESPEED_DEADLINE_MS: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : Number(v)))
    .pipe(z.number().int().positive().optional()),

  OPENAI_PRICE_INPUT_PER_1M: usd.default(0.15),
  OPENAI_PRICE_OUTPUT_PER_1M: usd.default(0.6),
  YELP_COST_PER_CALL: usd.default(0),
  PAGESPEED_COST_PER_CALL: usd.default(0),
  SENDGRID_COST_PER_CALL: usd.default(0.0006),
  STRIPE_COST_PER_CALL: usd.default(0),

  OPENAI_BUDGET_DAILY_USD: optionalUsd,
  OPENAI_BUDGET_MONTHLY_USD: optionalUsd,
  YELP_BUDGET_DAILY_USD: optionalUsd,
  YELP_BUDGET_MONTHLY_USD: optionalUsd,
  PAGESPEED_BUDGET_DAILY_USD: optionalUsd,
  PAGESPEED_BUDGET_MONTHLY_USD: optionalUsd,
  SENDGRID_BUDGET_DAILY_USD: optionalUsd,
  SENDGRID_BUDGET_MONTHLY_USD: optionalUsd,
  STRIPE_BUDGET_DAILY_USD: optionalUsd,
  STRIPE_BUDGET_MONTHLY_USD: optionalUsd,
  BUDGET_BLOCKING: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean)),
});

/** One GCRA limit: at most `limit` units (requests, or tokens) per `periodMs`. */
export interface RateRule {
  /** Bucket name, e.g. `per_second`, `per_100_seconds`, `requests_per_minute`, `tokens_per_minute`. */
  name: string;
  limit: number;
  periodMs: number;
  /** What one unit is: a request, or an OpenAI token. */
  unit: 'request' | 'token';
}

/** Limits of one provider. `daily` undefined = no daily quota; 0 = none allowed. */
export interface ProviderLimits {
  daily: number | undefined;
  rates: RateRule[];
}

/** Spend budgets in USD; `blocking` refuses calls at 100% (else only warns at 80% and 95%). */
export interface ProviderBudget {
  dailyUsd: number | undefined;
  monthlyUsd: number | undefined;
  blocking: boolean;
}

/** The overall deadline (ms) of one call to `provider`, all attempts included. */
export function deadlineMsOf(config: Pick<GatewayConfig, 'retry'>, provider: ProviderId): number {
  return config.retry.providerDeadlineMs?.[provider] ?? config.retry.deadlineMs;
}

/** The gateway's configuration. Durations in ms, TTLs in seconds, money in USD. */
export interface GatewayConfig {
  limits: Record<ProviderId, ProviderLimits>;
  breaker: { failureThreshold: number; cooldownMs: number; halfOpenSuccesses: number };
  /**
   * Verification after a remediation (runbooks/verify.ts): the longest it waits for the effect (`waitMs`, measured
   * on the services' clock) and the pause between polls (`pollMs`).
   */
  verify: { waitMs: number; pollMs: number };
  cacheTtlSeconds: Record<ProviderId, number>;
  /**
   * Retries and the overall deadline per call (ms, all attempts included): `deadlineMs` for every provider
   * (GATEWAY_DEADLINE_MS) unless `providerDeadlineMs` names one (PageSpeed: PAGESPEED_DEADLINE_MS).
   */
  retry: {
    attempts: number;
    baseMs: number;
    maxMs: number;
    retryAfterCapMs: number;
    deadlineMs: number;
    providerDeadlineMs?: Partial<Record<ProviderId, number>>;
  };
  /** How long a call may wait for rate-limit budget before failing with RateLimitedError. */
  maxWaitMs: number;
  /**
   * Burst capacity in units for every rate rule (clamped to 1..limit); undefined = the rule's limit (a full
   * token bucket). 1 paces calls evenly, for providers that count in sliding windows.
   */
  burst: number | undefined;
  prices: { openaiInputPer1M: number; openaiOutputPer1M: number; perCall: Record<ProviderId, number> };
  budgets: Record<ProviderId, ProviderBudget>;
  /**
   * Hot-path bookkeeping: rate-limit units reserved per statement (at most; 1 = off) and how long they stay
   * spendable (ms); breaker cache TTL (ms; 0 = off); ledger rows per INSERT and the longest a row waits (ms).
   */
  bookkeeping: { reserveBatch: number; reserveTtlMs: number; breakerCacheMs: number; ledgerBatch: number; ledgerFlushMs: number };
}

/**
 * Builds {@link GatewayConfig} from parsed environment values; `clients.pagespeedTimeoutMs` (PageSpeed's
 * per-attempt timeout, ms; default 90 s) sets PageSpeed's default deadline (twice it, at least GATEWAY_DEADLINE_MS).
 */
export function buildGatewayConfig(e: z.infer<typeof GatewayEnvSchema>, clients: { pagespeedTimeoutMs?: number } = {}): GatewayConfig {
  const budget = (d: number | undefined, m: number | undefined, id: ProviderId): ProviderBudget => ({
    dailyUsd: d,
    monthlyUsd: m,
    blocking: e.BUDGET_BLOCKING.includes(id) || e.BUDGET_BLOCKING.includes('all'),
  });
  return {
    limits: {
      yelp: { daily: e.YELP_DAILY_LIMIT, rates: [{ name: 'per_second', limit: e.YELP_PER_SECOND, periodMs: 1000, unit: 'request' }] },
      pagespeed: {
        daily: e.PAGESPEED_DAILY_LIMIT,
        rates: [{ name: 'per_100_seconds', limit: e.PAGESPEED_PER_100_SECONDS, periodMs: 100_000, unit: 'request' }],
      },
      openai: {
        daily: undefined,
        rates: [
          { name: 'requests_per_minute', limit: e.OPENAI_REQUESTS_PER_MINUTE, periodMs: 60_000, unit: 'request' },
          { name: 'tokens_per_minute', limit: e.OPENAI_TOKENS_PER_MINUTE, periodMs: 60_000, unit: 'token' },
        ],
      },
      sendgrid: { daily: e.SENDGRID_DAILY_LIMIT, rates: [] },
      stripe: { daily: undefined, rates: [{ name: 'per_second', limit: e.STRIPE_PER_SECOND, periodMs: 1000, unit: 'request' }] },
    },
    breaker: {
      failureThreshold: e.BREAKER_FAILURE_THRESHOLD,
      cooldownMs: e.BREAKER_COOLDOWN_MS,
      halfOpenSuccesses: e.BREAKER_HALF_OPEN_SUCCESSES,
    },
    verify: { waitMs: e.VERIFY_WAIT_MS, pollMs: e.VERIFY_POLL_MS },
    cacheTtlSeconds: {
      yelp: e.YELP_CACHE_TTL,
      pagespeed: e.PAGESPEED_CACHE_TTL,
      openai: e.OPENAI_CACHE_TTL,
      sendgrid: 0,
      stripe: e.STRIPE_CACHE_TTL,
    },
    retry: {
      attempts: e.GATEWAY_RETRY_ATTEMPTS,
      baseMs: e.GATEWAY_RETRY_BASE_MS,
      maxMs: e.GATEWAY_RETRY_MAX_MS,
      retryAfterCapMs: e.GATEWAY_RETRY_AFTER_CAP_MS,
      deadlineMs: e.GATEWAY_DEADLINE_MS,
      providerDeadlineMs: {
        pagespeed: e.PAGESPEED_DEADLINE_MS ?? Math.max(e.GATEWAY_DEADLINE_MS, 2 * (clients.pagespeedTimeoutMs ?? 90_000)),
      },
    },
    maxWaitMs: e.GATEWAY_MAX_WAIT_MS,
    burst: e.GATEWAY_BURST,
    bookkeeping: {
      reserveBatch: e.GATEWAY_RESERVE_BATCH,
      reserveTtlMs: e.GATEWAY_RESERVE_TTL_MS,
      breakerCacheMs: e.GATEWAY_BREAKER_CACHE_MS,
      ledgerBatch: e.GATEWAY_LEDGER_BATCH,
      ledgerFlushMs: e.GATEWAY_LEDGER_FLUSH_MS,
    },
    prices: {
      openaiInputPer1M: e.OPENAI_PRICE_INPUT_PER_1M,
      openaiOutputPer1M: e.OPENAI_PRICE_OUTPUT_PER_1M,
      perCall: {
        yelp: e.YELP_COST_PER_CALL,
        pagespeed: e.PAGESPEED_COST_PER_CALL,
        openai: 0,
        sendgrid: e.SENDGRID_COST_PER_CALL,
        stripe: e.STRIPE_COST_PER_CALL,
      },
    },
    budgets: {
      yelp: budget(e.YELP_BUDGET_DAILY_USD, e.YELP_BUDGET_MONTHLY_USD, 'yelp'),
      pagespeed: budget(e.PAGESPEED_BUDGET_DAILY_USD, e.PAGESPEED_BUDGET_MONTHLY_USD, 'pagespeed'),
      openai: budget(e.OPENAI_BUDGET_DAILY_USD, e.OPENAI_BUDGET_MONTHLY_USD, 'openai'),
      sendgrid: budget(e.SENDGRID_BUDGET_DAILY_USD, e.SENDGRID_BUDGET_MONTHLY_USD, 'sendgrid'),
      stripe: budget(e.STRIPE_BUDGET_DAILY_USD, e.STRIPE_BUDGET_MONTHLY_USD, 'stripe'),
    },
  };
}
