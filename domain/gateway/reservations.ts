/**
 * Rate-limit units reserved in batches, so the shared limiter (one PostgreSQL statement per reservation) is off
 * the hot path: a caller takes a unit from this process's pool when one is there, and only an empty pool asks
 * the limiter, for several units at once.
 *
 * - **Batch size**: the calls this process made per `ttlMs` recently (an exponentially weighted rate), at
 *   most `maxBatch`; the limiter never grants more than a rule's free burst capacity, and grants fewer when fewer
 *   are free. A quiet process therefore reserves 1 unit at a time, exactly as before. Only one batch per
 *   provider is asked for at a time: callers arriving while it is pending ask for their own unit only. (Every
 *   caller asking for a batch at once — e.g. 80 calls starting together — reserved 80 × 16 units for 200 ms, so
 *   a 400-unit bucket looked empty, calls waited for budget that was there, and the concurrency gates dropped
 *   the provider's burst: see concurrency/adaptive.ts.)
 * - **Signals** (concurrency/signals.ts): a call about to sleep in the limiter for budget reports it.
 * - **Sharing**: units are taken from the one shared GCRA state, so threads, processes and replicas still draw
 *   on one budget; a reserved unit counts from the moment it was reserved.
 * - **Expiry**: a unit not spent within `ttlMs` (default 200 ms) is dropped — spending it later would send a call
 *   the limiter accounted for earlier, which could bunch calls beyond the provider's own burst; it is given back
 *   (rate units and daily quota), so unspent reservations never drain the provider's budget. A 429 with Retry-After or a quota refusal empties the pool at once (the gateway calls
 *   {@link ReservationPool.drop}); another process's block reaches this pool within `ttlMs`.
 * - Calls that charge tokens (OpenAI) always go to the limiter one by one.
 */
import type { ProviderId } from '../config.js';
import { reportRateQueued } from '../concurrency/signals.js';
import type { AcquireOptions, RateLimiter } from './limiter.js';

/** Pool settings: the most units one reservation asks for, and how long reserved units stay spendable (ms). */
export interface ReservationSettings {
  maxBatch: number;
  ttlMs: number;
}

/** Defaults: up to 16 units per reservation, spendable for 200 ms. */
export const DEFAULT_RESERVATIONS: ReservationSettings = { maxBatch: 16, ttlMs: 200 };

interface Slot {
  units: number;
  expiresAt: number;
  /** Callers waiting in the limiter right now. */
  waiters: number;
  /** Calls per second, exponentially weighted (time constant 1 s), and when it was last updated (ms). */
  rate: number;
  rateAt: number;
}

/** One process's (thread's) pool of reserved rate-limit units per provider. */
export class ReservationPool {
  private readonly slots = new Map<ProviderId, Slot>();

  constructor(
    private readonly limiter: RateLimiter,
    private readonly settings: ReservationSettings = DEFAULT_RESERVATIONS,
  ) {}

  private slot(provider: ProviderId): Slot {
    let s = this.slots.get(provider);
    if (!s) {
      s = { units: 0, expiresAt: 0, waiters: 0, rate: 0, rateAt: performance.now() };
      this.slots.set(provider, s);
    }
    return s;
  }

  private count(s: Slot, now: number): void {
    const dt = Math.max(0, now - s.rateAt) / 1000;
    s.rate = s.rate * Math.exp(-dt) + 1; // each call adds 1; decays with a 1 s time constant → calls per second
    s.rateAt = now;
  }

  private expire(provider: ProviderId, s: Slot, now: number): void {
    if (s.units > 0 && now >= s.expiresAt) {
      const lost = s.units;
      s.units = 0;
      void this.limiter.release(provider, lost).catch(() => undefined);
    }
  }

  /**
   * Takes budget for one call, like {@link RateLimiter.acquire} (same errors: RateLimitedError past the wait
   * bound, QuotaExhaustedError), from the pool when it can.
   */
  async acquire(provider: ProviderId, opts: AcquireOptions = {}): Promise<void> {
    const onWait = (ms: number) => {
      reportRateQueued(provider, ms);
      opts.onWait?.(ms);
    };
    await this.take(provider, { ...opts, onWait });
  }

  private async take(provider: ProviderId, opts: AcquireOptions): Promise<void> {
    if (this.settings.maxBatch <= 1 || (opts.tokens ?? 0) > 0) {
      await this.limiter.acquire(provider, opts);
      return;
    }
    const s = this.slot(provider);
    const now = performance.now();
    this.count(s, now);
    this.expire(provider, s, now);
    if (s.units > 0) {
      s.units--;
      return;
    }
    // Every caller with an empty pool asks the limiter itself (as many waits in parallel as callers, so a busy
    // provider's budget is taken as soon as it returns); what it gets beyond its own unit serves the next callers.
    const want = s.waiters > 0 ? 1 : Math.min(this.settings.maxBatch, Math.max(1, Math.ceil((s.rate * this.settings.ttlMs) / 1000)));
    s.waiters++;
    try {
      const granted = await this.limiter.acquire(provider, { ...opts, units: want });
      if (granted > 1) {
        this.expire(provider, s, performance.now());
        s.units += granted - 1;
        s.expiresAt = performance.now() + this.settings.ttlMs;
      }
    } finally {
      s.waiters--;
    }
  }

  /** Empties the pool of `provider` (a Retry-After block or a spent quota): unspent units are dropped. */
  drop(provider: ProviderId): void {
    const s = this.slots.get(provider);
    if (s) s.units = 0;
  }

  /** Gives back the daily-quota units of everything still reserved (on shutdown). */
  async close(): Promise<void> {
    for (const [provider, s] of this.slots) {
      const left = s.units;
      s.units = 0;
      await this.limiter.release(provider, left).catch(() => undefined);
    }
  }
}
