/**
 * Gates: one {@link AdaptiveLimit} per provider per process (thread), wrapped around the gated provider ports so
 * every stage's calls to a provider share its in-flight limit. Calls beyond the limit wait here, in memory, in
 * arrival order (no database round trip). Each call's own wait for rate budget (the gateway's limiter, measured
 * through budget.ts) is told to the controller apart from the provider's latency; the limiter's signal that the
 * shared budget — shared by every thread and replica — was found empty comes through signals.ts.
 */
import { getHeapStatistics } from 'node:v8';
import type { AppConfig, ProviderId } from '../config.js';
import { ProviderError, RateLimitedError } from '../errors.js';
import type { Providers } from '../services.js';
import { AdaptiveLimit, processBound } from './adaptive.js';
import { trackQueueing, waitingInOwnQueue } from './budget.js';
import { rateQueuedAt } from './signals.js';

/** A provider's in-flight gate. */
export class Gate {
  private readonly queue: (() => void)[] = [];
  private listeners: (() => void)[] = [];
  private running = 0;
  /** Most calls in flight at once so far. */
  peak = 0;

  constructor(
    readonly provider: ProviderId,
    readonly control: AdaptiveLimit,
  ) {}

  /** Calls waiting for a slot. */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Calls the gate would admit now beyond those in flight and queued (≥ 0): how much new work a producer may
   * start without queueing it here (backpressure: the pipeline claims no more businesses than this).
   */
  get room(): number {
    return Math.max(0, this.control.limit - this.running - this.queue.length);
  }

  /** Resolves the next time a call finishes (room may have opened), or after `maxMs`. */
  changed(maxMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, maxMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.listeners.push(done);
    });
  }

  /** Runs `fn` once a slot is free, reporting its latency and outcome to the controller. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    // waiting here is queueing behind our own limit: it does not count against the call's timeouts
    if (this.running >= this.control.limit)
      await waitingInOwnQueue(async () => {
        while (this.running >= this.control.limit) await new Promise<void>((r) => this.queue.push(r));
      });
    this.running++;
    this.peak = Math.max(this.peak, this.running);
    const id = this.control.start();
    const t0 = performance.now();
    const call = trackQueueing(fn);
    let outcome: 'ok' | 'rate_limited' | 'error' = 'ok';
    try {
      return await call.done;
    } catch (err) {
      outcome = err instanceof RateLimitedError || (err instanceof ProviderError && err.status === 429) ? 'rate_limited' : 'error';
      throw err;
    } finally {
      this.control.finish(id, { latencyMs: performance.now() - t0, waitMs: call.queuedMs(), outcome });
      this.running--;
      for (let free = this.control.limit - this.running; free > 0 && this.queue.length > 0; free--) this.queue.shift()!();
      const listeners = this.listeners;
      this.listeners = [];
      for (const l of listeners) l();
    }
  }
}


/** Approximate memory one call in flight holds (response body and parsed result), bytes. */
const BYTES_PER_CALL: Record<ProviderId, number> = {
  pagespeed: 2_000_000, // a Lighthouse result is large
  openai: 100_000,
  yelp: 200_000,
  sendgrid: 50_000,
  stripe: 50_000,
};

/** SendGrid has no request rate limit but recommends at most 10 concurrent connections (troubleshooting guide). */
const CONNECTION_CAP: Partial<Record<ProviderId, number>> = { sendgrid: 10 };

/** The request rate (calls/s) and burst (units) of `provider`'s tightest request rule; Infinity without one. */
export function providerBudget(config: AppConfig, provider: ProviderId): { rate: number; burst: number } {
  let rate = Infinity;
  let burst = 0;
  for (const r of config.gateway.limits[provider]?.rates ?? []) {
    if (r.unit !== 'request') continue;
    const perSecond = (r.limit * 1000) / r.periodMs;
    if (perSecond < rate) {
      rate = perSecond;
      burst = Math.min(r.limit, config.gateway.burst ?? r.limit);
    }
  }
  return { rate, burst };
}

/** One gate per provider for a run (or a worker), sized from `config` (limits, database pool) and the heap. */
export function createGates(config: AppConfig): Record<ProviderId, Gate> {
  const heap = getHeapStatistics().heap_size_limit;
  const make = (p: ProviderId) => {
    const { rate, burst } = providerBudget(config, p);
    const maxLimit = Math.min(processBound(heap, BYTES_PER_CALL[p], config.db.poolMax), CONNECTION_CAP[p] ?? Infinity);
    return new Gate(p, new AdaptiveLimit({ rate, burst, maxLimit, budgetTakenAt: () => rateQueuedAt(p) }));
  };
  return { yelp: make('yelp'), pagespeed: make('pagespeed'), openai: make('openai'), sendgrid: make('sendgrid'), stripe: make('stripe') };
}

/** `base` with some methods replaced (the others still reach `base`, class methods included). */
function over<T extends object>(base: T, methods: Partial<T>): T {
  return Object.assign(Object.create(base) as T, methods);
}

/** The provider ports with every call passing its provider's gate. */
export function gateConcurrency(p: Providers, g: Record<ProviderId, Gate>): Providers {
  return {
    yelp: over(p.yelp, { search: (q) => g.yelp.run(() => p.yelp.search(q)) }),
    pagespeed: over(p.pagespeed, { run: (url, strategy) => g.pagespeed.run(() => p.pagespeed.run(url, strategy)) }),
    openai: over(p.openai, { chat: (req) => g.openai.run(() => p.openai.chat(req)) }),
    sendgrid: over(p.sendgrid, { send: (m) => g.sendgrid.run(() => p.sendgrid.send(m)) }),
    stripe: p.stripe,
  };
}
