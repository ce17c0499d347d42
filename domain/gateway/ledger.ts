/**
 * The cost ledger (`api_calls`): one row per logical provider call, with outcome, latency, attempts, tokens and
 * cost in USD; spend per day and month per provider; budget thresholds (80% warning, 95% critical, 100%
 * blocking where configured) recorded once per period as ops events.
 *
 * Rows are written off the call path, in batches (write-behind): `record` buffers the row and returns; a flush
 * writes up to `batch` rows in one multi-row INSERT when the buffer holds `batch` rows or `flushMs` after the
 * first buffered row. The buffer is bounded: at `maxBuffered` rows `record` waits for a flush (backpressure), so
 * memory stays bounded. A failed flush keeps its rows and is retried; `close()` flushes everything (the service
 * calls it on shutdown), so rows are never dropped while the database answers. Budget thresholds are checked per
 * flush for the providers whose rows carried a cost, and spend includes the rows still buffered here. Readers in
 * this process call {@link flushLedgers} first (runbooks, usage), so they see every call made so far.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import type { ProviderId } from '../config.js';
import type { Clock } from '../clock.js';
import { startOfUtcDay } from '../clock.js';
import { BudgetExceededError } from '../errors.js';
import { recordOpsEvent } from '../events.js';
import type { GatewayConfig } from './config.js';
import { insertApiCalls, usageByOperation, type ApiCallRow, type OperationUsage } from '../queries/api-calls.js';
import { providerSpendSince } from '../queries/costs.js';

/** One ledger row to write (domain/queries/api-calls.ts ApiCallRow without its time, which the ledger stamps). `costUsd` in US dollars. */
export type CallRecord = Omit<ApiCallRow, 'at' | 'provider'> & { provider: ProviderId };

/** Usage of one provider over a window (from the ledger): its operations' {@link OperationUsage} added up. Money in USD, latency in ms. */
export interface UsageSummary extends Omit<OperationUsage, 'operation'> {
  provider: ProviderId;
  since: string;
  byOperation: Pick<OperationUsage, 'operation' | 'calls' | 'errors' | 'costUsd'>[];
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

/** Write-behind settings of the ledger: rows per INSERT, ms before a partial batch is written (0: each row before the call returns), buffer bound. */
export interface LedgerBatching {
  batch: number;
  flushMs: number;
  maxBuffered: number;
}

/** Default batching: 200 rows per INSERT, within 100 ms, at most 5,000 rows buffered. */
export const DEFAULT_LEDGER_BATCHING: LedgerBatching = { batch: 200, flushMs: 100, maxBuffered: 5000 };

const live = new Set<CostLedger>();

/** Writes every ledger buffer of this process (thread) now; readers of `api_calls` call it first. */
export async function flushLedgers(): Promise<void> {
  // a ledger whose database is gone cannot be written: it leaves the registry (its rows are lost with it)
  await Promise.all([...live].map((l) => l.flush().catch(() => l.abandonIfClosed())));
}

type Buffered = CallRecord & { at: Date };

/** Ledger writes, spend queries and budget checks. */
export class CostLedger {
  private buffer: Buffered[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private readonly batching: LedgerBatching;

  constructor(private readonly deps: { orm: MikroORM; clock: Clock; config: GatewayConfig; batching?: LedgerBatching; onError?: (err: unknown, rows: number) => void }) {
    this.batching = deps.batching ?? DEFAULT_LEDGER_BATCHING;
    live.add(this);
  }

  /** Rows buffered and not yet written. */
  get pending(): number {
    return this.buffer.length;
  }

  /**
   * Buffers a row (its `created_at` is now); written within `flushMs`. Waits only when the buffer is at its bound.
   */
  async record(r: CallRecord): Promise<void> {
    this.buffer.push({ ...r, at: this.deps.clock.now() });
    if (this.batching.flushMs <= 0) return this.flush(); // flushMs 0: written before the call returns (no batching)
    if (this.buffer.length >= this.batching.batch) void this.flush().catch(() => undefined);
    else this.timer ??= setTimeout(() => void this.flush().catch(() => undefined), this.batching.flushMs);
    while (this.buffer.length >= this.batching.maxBuffered) await this.flush();
  }

  /**
   * Writes the buffered rows (in INSERTs of `batch` rows), then checks budget thresholds of the providers whose
   * rows cost something. A failure puts the rows back (retried in `flushMs`) and rethrows.
   */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.buffer.length === 0) return;
    this.flushing = this.writeAll().finally(() => {
      this.flushing = undefined;
    });
    await this.flushing;
  }

  private async writeAll(): Promise<void> {
    const costly = new Set<ProviderId>();
    while (this.buffer.length > 0) {
      const rows = this.buffer.splice(0, this.batching.batch);
      try {
        await this.insert(rows);
      } catch (err) {
        this.buffer.unshift(...rows);
        this.deps.onError?.(err, rows.length);
        this.timer ??= setTimeout(() => void this.flush().catch(() => undefined), Math.max(this.batching.flushMs, 1000));
        throw err;
      }
      for (const r of rows) if (r.costUsd > 0) costly.add(r.provider);
    }
    for (const p of costly) await this.checkThresholds(p);
  }

  private async insert(rows: Buffered[]): Promise<void> {
    await insertApiCalls(this.deps.orm.em, rows);
  }

  /** Drops this ledger from the process registry when its ORM is closed (called after a failed flush). */
  async abandonIfClosed(): Promise<void> {
    if (!(await this.deps.orm.isConnected())) live.delete(this);
  }

  /** Writes what is buffered and stops the timer; the ledger keeps working (a later record starts it again). */
  async close(): Promise<void> {
    await this.flush();
    live.delete(this);
  }

  /** USD spent by `provider` since `since`: the written rows plus the ones still buffered here. */
  async spend(provider: ProviderId, since: Date): Promise<number> {
    const written = await providerSpendSince(this.deps.orm.em, provider, since);
    const buffered = this.buffer.reduce((s, r) => (r.provider === provider && r.at >= since ? s + r.costUsd : s), 0);
    return written + buffered;
  }

  /** Usage summary for runbooks (`usage(provider, window)`); writes this process's buffered rows first. */
  async usage(provider: ProviderId, window: UsageWindow): Promise<UsageSummary> {
    await flushLedgers();
    const since = windowStart(window, this.deps.clock.now());
    const rows = await usageByOperation(this.deps.orm.em, provider, since);
    const calls = rows.reduce((s, r) => s + r.calls, 0);
    const latSum = rows.reduce((s, r) => s + (r.avgLatencyMs ?? 0) * r.calls, 0);
    return {
      provider,
      since: since.toISOString(),
      calls,
      errors: rows.reduce((s, r) => s + r.errors, 0),
      cacheHits: rows.reduce((s, r) => s + r.cacheHits, 0),
      costUsd: rows.reduce((s, r) => s + r.costUsd, 0),
      avgLatencyMs: calls > 0 ? Math.round(latSum / calls) : null,
      promptTokens: rows.reduce((s, r) => s + r.promptTokens, 0),
      completionTokens: rows.reduce((s, r) => s + r.completionTokens, 0),
      byOperation: rows.map((r) => ({ operation: r.operation, calls: r.calls, errors: r.errors, costUsd: r.costUsd })),
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
