/**
 * The cost ledger (`api_calls`): one row per logical provider call, with outcome, latency, attempts, tokens and
 * cost in USD; spend per day and month per provider; budget thresholds (80% warning, 95% critical, 100%
 * blocking where configured) recorded once per period as ops events.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import type { ProviderId } from '../config.js';
import type { Clock } from '../clock.js';
import { startOfUtcDay } from '../clock.js';
import { BudgetExceededError } from '../errors.js';
import { recordOpsEvent } from '../events.js';
import type { GatewayConfig } from './config.js';

/** One ledger row to write. `costUsd` in US dollars. */
export interface CallRecord {
  provider: ProviderId;
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
}

/** Usage of one provider over a window (from the ledger). Money in USD, latency in ms. */
export interface UsageSummary {
  provider: ProviderId;
  since: string;
  calls: number;
  errors: number;
  cacheHits: number;
  costUsd: number;
  avgLatencyMs: number | null;
  promptTokens: number;
  completionTokens: number;
  byOperation: { operation: string; calls: number; errors: number; costUsd: number }[];
}

/** Usage windows: today (UTC), this month (UTC), or the last N hours. */
export type UsageWindow = 'day' | 'month' | { hours: number };

const startOfUtcMonth = (d: Date) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));

/** Start of a window relative to `now`. */
export function windowStart(window: UsageWindow, now: Date): Date {
  if (window === 'day') return startOfUtcDay(now);
  if (window === 'month') return startOfUtcMonth(now);
  return new Date(now.getTime() - window.hours * 3600_000);
}

/** OpenAI cost from token usage and per-million prices (USD). */
export function openaiCostUsd(prices: GatewayConfig['prices'], promptTokens: number, completionTokens: number): number {
  return (promptTokens * prices.openaiInputPer1M + completionTokens * prices.openaiOutputPer1M) / 1_000_000;
}

/** Ledger writes, spend queries and budget checks. */
export class CostLedger {
  constructor(private readonly deps: { orm: MikroORM; clock: Clock; config: GatewayConfig }) {}

  private conn() {
    return this.deps.orm.em.getConnection();
  }

  /** Appends a row. */
  async record(r: CallRecord): Promise<void> {
    await this.conn().execute(
      `insert into api_calls (provider, operation, outcome, http_status, attempts, latency_ms, cost_usd, cache_hit, prompt_tokens, completion_tokens, error, created_at)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
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
        this.deps.clock.now(),
      ],
    );
  }

  /** USD spent by `provider` since `since`. */
  async spend(provider: ProviderId, since: Date): Promise<number> {
    const [row] = await this.conn().execute<{ s: string | number | null }[]>(
      'select coalesce(sum(cost_usd), 0)::float8 as s from api_calls where provider = ? and created_at >= ?',
      [provider, since],
    );
    return Number(row?.s ?? 0);
  }

  /** Usage summary for runbooks (`usage(provider, window)`). */
  async usage(provider: ProviderId, window: UsageWindow): Promise<UsageSummary> {
    const since = windowStart(window, this.deps.clock.now());
    const rows = await this.conn().execute<
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
    const calls = rows.reduce((s, r) => s + Number(r.calls), 0);
    const latSum = rows.reduce((s, r) => s + (r.lat ?? 0) * Number(r.calls), 0);
    return {
      provider,
      since: since.toISOString(),
      calls,
      errors: rows.reduce((s, r) => s + Number(r.errors), 0),
      cacheHits: rows.reduce((s, r) => s + Number(r.hits), 0),
      costUsd: rows.reduce((s, r) => s + Number(r.cost), 0),
      avgLatencyMs: calls > 0 ? Math.round(latSum / calls) : null,
      promptTokens: rows.reduce((s, r) => s + Number(r.pt), 0),
      completionTokens: rows.reduce((s, r) => s + Number(r.ct), 0),
      byOperation: rows.map((r) => ({ operation: r.operation, calls: Number(r.calls), errors: Number(r.errors), costUsd: Number(r.cost) })),
    };
  }

  /** Throws BudgetExceededError when a blocking budget of `provider` is used up for the day or month. */
  async assertWithinBudget(provider: ProviderId): Promise<void> {
    const b = this.deps.config.budgets[provider];
    if (!b.blocking || (b.dailyUsd === undefined && b.monthlyUsd === undefined)) return;
    const now = this.deps.clock.now();
    if (b.dailyUsd !== undefined) {
      const spent = await this.spend(provider, startOfUtcDay(now));
      if (spent >= b.dailyUsd) throw new BudgetExceededError(provider, `daily $${spent.toFixed(4)} of $${b.dailyUsd}`);
    }
    if (b.monthlyUsd !== undefined) {
      const spent = await this.spend(provider, startOfUtcMonth(now));
      if (spent >= b.monthlyUsd) throw new BudgetExceededError(provider, `monthly $${spent.toFixed(4)} of $${b.monthlyUsd}`);
    }
  }

  /**
   * Records `budget.threshold` ops events when spend crosses 80% (warning), 95% (critical) or 100% (critical) of a
   * configured daily or monthly budget; each threshold once per period (dedup key).
   */
  async checkThresholds(provider: ProviderId): Promise<void> {
    const b = this.deps.config.budgets[provider];
    const now = this.deps.clock.now();
    const periods: ['daily' | 'monthly', number | undefined, Date][] = [
      ['daily', b.dailyUsd, startOfUtcDay(now)],
      ['monthly', b.monthlyUsd, startOfUtcMonth(now)],
    ];
    for (const [period, limit, since] of periods) {
      if (limit === undefined) continue;
      const spent = await this.spend(provider, since);
      const pct = (spent / limit) * 100;
      for (const threshold of [80, 95, 100]) {
        if (pct < threshold) continue;
        await recordOpsEvent(
          this.deps.orm.em,
          {
            type: 'budget.threshold',
            severity: threshold >= 95 ? 'critical' : 'warning',
            dedupKey: `budget:${provider}:${period}:${since.toISOString().slice(0, 10)}:${threshold}`,
            payload: { provider, period, threshold, spentUsd: Number(spent.toFixed(6)), limitUsd: limit, blocking: b.blocking },
          },
          now,
        );
      }
    }
  }
}
