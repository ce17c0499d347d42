/**
 * The shared rate limiter: daily quotas and burst limits per provider, kept in PostgreSQL so every worker thread,
 * process and replica draws on ONE budget (SGrondin/bottleneck#5: in-memory limiters count per process). Every state change is one atomic SQL statement (conditional
 * UPDATE … RETURNING, INSERT … ON CONFLICT), so it is race-free on a real server and on the embedded PGlite, whose
 * connections share one backend session. Times come from the injected {@link Clock}, never from SQL `now()`.
 *
 * Rate rules use GCRA, one `rate_limit_state` row per (provider, rule name): emission interval T = periodMs / limit,
 * `tat` = theoretical arrival time. A call of `cost` units is allowed when
 * `max(tat, now) + cost·T − burst·T ≤ now`, and then sets `tat = max(tat, now) + cost·T`.
 *
 * **Burst capacity** (`burst`, in units; per limiter via {@link LimiterDeps.burst}, per call via `acquire`'s
 * `opts.burst`; clamped to 1..limit): the default `burst = limit` is a token bucket of capacity `limit` refilled at
 * `limit / periodMs` (GCRA's usual tau = periodMs − T). Its sustained rate equals the limit, but a window of
 * `periodMs` that starts with a full bucket can see up to `burst − 1 + limit` grants. When a provider counts in a
 * sliding window and must never see more than `limit` per `periodMs` (e.g. the saturation benchmark), use
 * `burst: 1`: grants are then spaced T apart, so no window of `periodMs` holds more than `limit` grants (measured at
 * grant time: network jitter between grant and arrival is not covered, so leave headroom in the configured limit).
 *
 * **Run-time overrides**: with {@link LimiterDeps.overrides} the limits in force are the configured ones plus the
 * operators' overrides (domain/overrides.ts), read through a cache refreshed every few seconds; each `acquire` reads
 * them once, so one call sees one consistent set of rules.
 *
 * The statements are named queries (domain/queries/rate-limits.ts, provider-quotas.ts, and breakers.ts for the
 * Retry-After block), run on the connection outside any transaction of the caller.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import type { ProviderId } from '../config.js';
import { startOfUtcDay, type Clock } from '../clock.js';
import { QuotaExhaustedError, RateLimitedError } from '../errors.js';
import type { OverrideCache } from '../overrides.js';
import type { ProviderLimits, RateRule } from './config.js';
import * as rates from '../queries/rate-limits.js';
import * as quotas from '../queries/provider-quotas.js';
import { blockProviderUntil } from '../queries/breakers.js';

/** What the limiter needs. `maxWaitMs` bounds how long `acquire` may wait for budget (ms). */
export interface LimiterDeps {
  orm: MikroORM;
  clock: Clock;
  limits: Record<ProviderId, ProviderLimits>;
  /**
   * Run-time overrides (settings `gateway.rate_limit.<provider>`, `gateway.daily_limit.<provider>`): when given, the
   * limits in force are `overrides.get().gateway.limits` (refreshed every few seconds), else `limits`. So an
   * operator's change (the external-apis runbook's set-rate-limit) applies within seconds in every process.
   */
  overrides?: OverrideCache;
  /** Longest total wait for rate budget or a Retry-After block, in ms; beyond it `acquire` throws RateLimitedError. */
  maxWaitMs: number;
  /** How to wait (default setTimeout). Tests with a ManualClock pass one that advances the clock. */
  sleep?: (ms: number) => Promise<void>;
  /** Default burst capacity in units for every rule (clamped to 1..limit); undefined = the rule's limit. */
  burst?: number;
  /** Up to this many ms of random jitter added to each wait so contending callers don't stampede (default 10). */
  jitterMs?: number;
}

/** Options of one {@link RateLimiter.acquire} call. */
export interface AcquireOptions {
  /** Estimated OpenAI tokens, charged to rules with unit 'token' (default 0: token rules are skipped). */
  tokens?: number;
  /** Overrides {@link LimiterDeps.maxWaitMs} for this call (ms). */
  maxWaitMs?: number;
  /** Overrides {@link LimiterDeps.burst} for this call (units, clamped to 1..limit). */
  burst?: number;
  /**
   * Reserve up to this many calls at once (default 1): once one unit is available, takes as many as every request
   * rule and the daily quota allow, up to `units`, in one statement each (token rules: never batched). `acquire`
   * resolves with the number taken. The caller spends them (the gateway's reservation pool, reservations.ts).
   */
  units?: number;
  /** Told the wait (ms) before the call sleeps for budget (the shared budget is empty now: concurrency/signals.ts). */
  onWait?: (waitMs: number) => void;
}

/** One rate rule as `status` sees it. `available` = units that could be taken now. */
export interface RuleStatus {
  name: string;
  unit: RateRule['unit'];
  limit: number;
  periodMs: number;
  /** Burst capacity in units used for this report (the limiter's default). */
  burst: number;
  available: number;
  /** When the next single unit is available (now when `available` ≥ 1). */
  nextAvailableAt: Date;
}

/** A provider's limiter state for runbooks. `daily.limit` undefined = no daily quota configured. */
export interface LimiterStatus {
  provider: ProviderId;
  now: Date;
  daily: {
    limit: number | undefined;
    used: number;
    /** undefined when there is no daily limit (0 when exhausted). */
    remaining: number | undefined;
    /** Used up, or marked exhausted by the provider. */
    exhausted: boolean;
    /** Next midnight UTC. */
    resetAt: Date;
  };
  rules: RuleStatus[];
  /** Retry-After block still in force, else undefined. */
  blockedUntil: Date | undefined;
}

type Charge = { rule: RateRule; t: number; cost: number; cap: number };

const DAY_MS = 86_400_000;

/** YYYY-MM-DD of the UTC day containing `d`. */
function utcDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/** A charge as the rate-limit queries take it (bucket = the rule's name). */
function toRateCharge(c: Charge): rates.RateCharge {
  return { bucket: c.rule.name, t: c.t, cost: c.cost, cap: c.cap };
}

/** Next midnight UTC after `d`. */
function nextMidnight(d: Date): Date {
  return new Date(startOfUtcDay(d).getTime() + DAY_MS);
}

/** The shared limiter; see the module comment for the algorithm and the burst setting. */
export class RateLimiter {
  private readonly deps: LimiterDeps;
  private readonly sleep: (ms: number) => Promise<void>;

  /** @param deps database, clock, per-provider limits and the wait bound. */
  constructor(deps: LimiterDeps) {
    this.deps = deps;
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** The EntityManager whose connection the limiter's statements run on (outside any transaction). */
  private get em() {
    return this.deps.orm.em;
  }

  /** The limits of `provider` in force now: the configured ones with the cached run-time overrides applied. */
  limitsOf(provider: ProviderId): ProviderLimits | undefined {
    return (this.deps.overrides?.get().gateway.limits ?? this.deps.limits)[provider];
  }

  /**
   * Re-reads the run-time overrides now (instead of within the cache's few seconds): called after an operator
   * changed a limit in this process. No-op without overrides.
   */
  async refreshOverrides(): Promise<void> {
    await this.deps.overrides?.refresh();
  }

  /** One read of a provider's limiter state: every rule's tat (ms), the Retry-After block (ms), today's quota row. */
  private readState(provider: ProviderId, now: Date): Promise<rates.LimiterStateRow[]> {
    return rates.limiterState(this.em, provider, utcDay(now));
  }

  private charges(limits: ProviderLimits | undefined, tokens: number, burst: number | undefined): Charge[] {
    const out: Charge[] = [];
    for (const rule of limits?.rates ?? []) {
      const units = rule.unit === 'token' ? tokens : 1;
      if (units <= 0) continue;
      const t = rule.periodMs / rule.limit;
      const cost = Math.min(units, rule.limit); // a call bigger than the bucket waits for a full bucket and takes it
      const b = Math.min(rule.limit, Math.max(1, burst ?? rule.limit, cost));
      out.push({ rule, t, cost, cap: b * t });
    }
    return out;
  }

  /**
   * Takes budget for one call of `provider`: every applicable rate rule (all or none, in one statement), then one
   * unit of the daily quota. Waits (sleeping, with jitter) while the total wait stays within the bound.
   * @throws QuotaExhaustedError at once when today's quota is used up or marked exhausted (resetAt = next
   *   midnight UTC).
   * @throws RateLimitedError when the wait needed exceeds the bound; `availableAt` = when budget returns (for a
   *   Retry-After block, `provider_state.blocked_until`).
   */
  async acquire(provider: ProviderId, opts: AcquireOptions = {}): Promise<number> {
    const limits = this.limitsOf(provider); // one read per call: rules and quota agree for its whole wait
    const charges = this.charges(limits, opts.tokens ?? 0, opts.burst ?? this.deps.burst);
    const deadline = this.deps.clock.now().getTime() + (opts.maxWaitMs ?? this.deps.maxWaitMs);
    const daily = limits?.daily;
    const batch = charges.some((c) => c.rule.unit === 'token') ? 1 : Math.max(1, Math.floor(opts.units ?? 1));
    let granted = 1;
    for (let spins = 0; ; ) {
      const now = this.deps.clock.now();
      if (daily !== undefined && daily <= 0) throw new QuotaExhaustedError(provider, nextMidnight(now), 'daily limit is 0');
      if (batch > 1 && charges.length > 0) {
        granted = await this.tryReserve(provider, charges, batch, now);
        if (granted > 0) break;
      } else if (await this.tryRates(provider, charges, now)) break;
      const w = await this.waitNeeded(provider, charges, daily, now);
      if (w.missing) {
        await rates.createRateBuckets(this.em, provider, w.missing, now);
        continue;
      }
      if (w.waitMs <= 0) {
        if (++spins > 20) await this.sleep(1); // state changed under us; never spin hot
        continue;
      }
      const availableAt = new Date(now.getTime() + w.waitMs);
      if (availableAt.getTime() > deadline) throw new RateLimitedError(provider, availableAt, w.reason);
      opts.onWait?.(w.waitMs);
      const jitter = Math.random() * (this.deps.jitterMs ?? 10);
      await this.sleep(Math.min(w.waitMs + jitter, Math.max(w.waitMs, deadline - now.getTime())));
    }
    if (daily !== undefined) return this.takeDaily(provider, daily, this.deps.clock.now(), granted);
    return granted;
  }

  /**
   * One statement: like {@link tryRates} for request rules, but takes `k` = as many units as every rule allows
   * now (its bucket's free capacity), at most `max`; 0 when none (nothing changed).
   */
  private async tryReserve(provider: ProviderId, charges: Charge[], max: number, now: Date): Promise<number> {
    return rates.reserveRateUnits(this.em, provider, charges.map(toRateCharge), max, now, utcDay(now));
  }

  /**
   * Gives back `units` a reservation took but never spent: today's daily quota, and the request rules' units (the
   * state becomes what it would be had they never been taken, so every later grant still conforms; never beyond
   * a full bucket). Unspent units that were not given back would drain the provider's budget for nothing.
   */
  async release(provider: ProviderId, units: number): Promise<void> {
    if (units <= 0) return;
    const now = this.deps.clock.now();
    for (const rule of this.limitsOf(provider)?.rates ?? [])
      if (rule.unit === 'request') await this.giveBack(provider, rule.name, (units * rule.periodMs) / rule.limit, now);
    if (this.limitsOf(provider)?.daily === undefined) return;
    await quotas.releaseQuota(this.em, provider, utcDay(now), units);
  }

  /** Moves a rule's theoretical arrival time `ms` earlier, never before now (a full bucket). */
  private async giveBack(provider: ProviderId, bucket: string, ms: number, now: Date): Promise<void> {
    await rates.giveBackRate(this.em, provider, bucket, ms, now);
  }

  /** One statement: all rules conform, no Retry-After block, not marked exhausted → advance every tat. */
  private async tryRates(provider: ProviderId, charges: Charge[], now: Date): Promise<boolean> {
    const day = utcDay(now);
    if (charges.length === 0) return !(await rates.providerHeldBack(this.em, provider, now, day));
    return rates.chargeRates(this.em, provider, charges.map(toRateCharge), now, day);
  }

  /** After a refusal: how long until every rule conforms and any block ends; quota refusals throw here. */
  private async waitNeeded(
    provider: ProviderId,
    charges: Charge[],
    daily: number | undefined,
    now: Date,
  ): Promise<{ waitMs: number; reason: string; missing?: string[] }> {
    const rows = await this.readState(provider, now);
    const quota = rows.find((r) => r.kind === 'quota');
    if (quota && (quota.exhausted || (daily !== undefined && (quota.used ?? 0) >= daily))) {
      throw new QuotaExhaustedError(provider, nextMidnight(now), quota.exhausted ? 'marked exhausted by the provider' : `${daily}/day used`);
    }
    const t0 = now.getTime();
    let waitMs = 0;
    let reason = 'rate limit';
    const block = rows.find((r) => r.kind === 'block')?.ms;
    if (block != null && block - t0 > waitMs) {
      waitMs = block - t0;
      reason = 'Retry-After';
    }
    const missing: string[] = [];
    for (const c of charges) {
      const row = rows.find((r) => r.kind === 'rule' && r.bucket === c.rule.name);
      if (!row || row.ms == null) {
        missing.push(c.rule.name);
        continue;
      }
      const need = Math.max(row.ms, t0) + c.cost * c.t - c.cap - t0;
      if (need > waitMs) {
        waitMs = need;
        reason = `${c.rule.name}: ${c.rule.limit} ${c.rule.unit}s per ${c.rule.periodMs} ms`;
      }
    }
    // whole ms, never rounding a real wait down to 0 (timestamps carry microseconds)
    const whole = waitMs > 0 ? Math.max(1, Math.ceil(waitMs - 0.001)) : 0;
    return missing.length ? { waitMs: whole, reason, missing } : { waitMs: whole, reason };
  }

  /**
   * Takes `units` of today's quota when all fit, else (near the limit) a single one; returns how many, or throws
   * QuotaExhaustedError when not even one is left.
   */
  private async takeDaily(provider: ProviderId, limit: number, now: Date, units = 1): Promise<number> {
    for (let n = Math.max(1, Math.min(units, limit)); ; n = 1) {
      if (await quotas.takeQuota(this.em, provider, utcDay(now), n, limit)) return n;
      if (n === 1) throw new QuotaExhaustedError(provider, nextMidnight(now), `${limit}/day used`);
    }
  }

  /**
   * The provider said its daily quota is gone (e.g. Yelp ACCESS_LIMIT_REACHED): marks today's (UTC) row exhausted,
   * so `acquire` throws QuotaExhaustedError until the next midnight UTC (also for providers with no daily limit).
   */
  async markExhausted(provider: ProviderId): Promise<void> {
    await quotas.markQuotaExhausted(this.em, provider, utcDay(this.deps.clock.now()));
  }

  /**
   * A 429 with Retry-After: keeps every call to `provider` off until `until` (sets provider_state.blocked_until;
   * never moves it earlier). Creates the provider_state row when missing.
   */
  async blockUntil(provider: ProviderId, until: Date): Promise<void> {
    await blockProviderUntil(this.em, provider, until, this.deps.clock.now());
  }

  /**
   * Settles token rules after the fact (a call is charged prompt estimate + max_tokens up front): `tokens` > 0 charges
   * more, < 0 gives back, never beyond a full bucket (tat not moved before now). No-op without token rules.
   */
  async addTokens(provider: ProviderId, tokens: number): Promise<void> {
    const now = this.deps.clock.now();
    for (const rule of this.limitsOf(provider)?.rates ?? []) {
      if (rule.unit !== 'token' || tokens === 0) continue;
      const ms = (Math.abs(tokens) * rule.periodMs) / rule.limit;
      if (tokens < 0) await this.giveBack(provider, rule.name, ms, now);
      else await rates.chargeRateAfter(this.em, provider, rule.name, ms, now);
    }
  }

  /** For runbooks: limits, used today, remaining, reset time, per-rule availability (default burst), block. */
  async status(provider: ProviderId): Promise<LimiterStatus> {
    const now = this.deps.clock.now();
    const t0 = now.getTime();
    const rows = await this.readState(provider, now);
    const limits = this.limitsOf(provider);
    const quota = rows.find((r) => r.kind === 'quota');
    const used = quota?.used ?? 0;
    const limit = limits?.daily;
    const exhausted = Boolean(quota?.exhausted) || (limit !== undefined && used >= limit);
    const block = rows.find((r) => r.kind === 'block')?.ms;
    const rules = (limits?.rates ?? []).map((rule): RuleStatus => {
      const t = rule.periodMs / rule.limit;
      const burst = Math.min(rule.limit, Math.max(1, this.deps.burst ?? rule.limit));
      const tat = Math.max(rows.find((r) => r.kind === 'rule' && r.bucket === rule.name)?.ms ?? t0, t0);
      const available = Math.max(0, Math.floor((t0 - (tat - burst * t)) / t + 1e-9));
      return {
        name: rule.name,
        unit: rule.unit,
        limit: rule.limit,
        periodMs: rule.periodMs,
        burst,
        available,
        nextAvailableAt: new Date(Math.max(t0, Math.ceil(tat + t - burst * t))),
      };
    });
    return {
      provider,
      now,
      daily: {
        limit,
        used,
        remaining: limit === undefined ? undefined : exhausted ? 0 : Math.max(0, limit - used),
        exhausted,
        resetAt: nextMidnight(now),
      },
      rules,
      blockedUntil: block != null && block > t0 ? new Date(block) : undefined,
    };
  }
}
