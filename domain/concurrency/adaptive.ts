/**
 * Adaptive concurrency per provider: how many calls to a provider this process keeps in flight, sized from the
 * provider's budget and the latency observed, so the binding provider stays busy without hand-tuned
 * `*_CONCURRENCY` settings.
 *
 * - **Ceiling** (never exceeded): `min(maxLimit, credit + rate × latency × 1.2 + 1)` — the most calls the
 *   provider's limit can admit while one call is under way (Little's law in-flight = rate × latency, plus the
 *   bucket's burst while it has credit), and the process's own bound (memory, database pool: {@link processBound}).
 *   `credit` is the provider's burst until a call finds the shared budget empty (`budgetTakenAt`, reported by the
 *   limiter before the call sleeps), then 0 until a whole bucket could have refilled (burst / rate) without
 *   another such wait: calls beyond rate × latency would only queue in our limiter.
 *   `latency` is the short-term average, at least the age of the oldest call in flight (a slow provider is known
 *   to be slow before its first answer), and held at 1.5 × the long-term average while latency grows.
 * - **Start**: at the ceiling the provider's published budget admits at once (its burst + 1; without a rate
 *   rule, the process bound): the budget is the provider's own word, so no probing is needed to use it.
 * - **Growth**: +1 per successful call (doubling per round trip) until the first congestion signal, then +0.1 per
 *   success (about +10 % per round trip): recovery.
 * - **Back-off**, at most once per round trip: × 0.5 on a 429 (the provider's, or our shared limiter refusing past
 *   its wait bound); × 0.8 when calls wait in the shared rate limiter for more than a quarter of their latency (the
 *   budget, shared by every thread and replica through the database, is taken); × 0.8 when the short-term latency
 *   exceeds 1.5 × the long-term one (the provider is queueing our calls).
 * Time comes from an injected monotonic clock (ms) so tests drive it.
 */

/** What one finished call tells the controller. `waitMs`: time spent waiting for rate budget (ms). */
export interface CallSample {
  latencyMs: number;
  waitMs?: number;
  outcome: 'ok' | 'rate_limited' | 'error';
}

/** The provider's budget and the process's bound. `rate` in calls per second (Infinity: no rate rule). */
export interface AdaptiveOptions {
  rate: number;
  /** Calls the provider's limit admits at once (GCRA burst, units); 0 when unknown. */
  burst: number;
  /** The process's own bound on in-flight calls (memory, database pool). */
  maxLimit: number;
  /** Starting limit (default: the ceiling before any latency is known, see the module comment). */
  initial?: number;
  /**
   * When (on the `now` clock, ms) a call last found the provider's shared budget empty; default never. The gate
   * passes the limiter's signal (signals.ts).
   */
  budgetTakenAt?: () => number;
  /** Monotonic clock in ms (default performance.now). */
  now?: () => number;
}

const SHORT = 0.2;
const LONG = 0.02;

/** The controller; see the module comment. */
export class AdaptiveLimit {
  private value: number;
  private slowStart = true;
  private short = 0;
  private long = 0;
  private lastBackoff = -Infinity;
  private readonly started = new Map<number, number>();
  private nextId = 0;
  private readonly now: () => number;
  /** Back-offs so far, by cause (for benches and tests). */
  readonly backoffs = { rate_limited: 0, waiting: 0, latency: 0 };

  constructor(private readonly opts: AdaptiveOptions) {
    this.now = opts.now ?? (() => performance.now());
    this.value = Math.max(1, Math.min(opts.initial ?? this.ceiling(), opts.maxLimit));
  }

  /** Calls in flight now. */
  get inFlight(): number {
    return this.started.size;
  }

  /** Latency (ms) the ceiling is computed from; 0 before any information. */
  latencyMs(): number {
    let oldest = 0;
    const t = this.now();
    for (const s of this.started.values()) oldest = Math.max(oldest, t - s);
    const growing = this.long > 0 && this.short > 1.5 * this.long;
    const recent = growing ? 1.5 * this.long : this.short;
    return Math.max(recent, oldest);
  }

  /** The ceiling in calls (≥ 1): see the module comment. */
  ceiling(): number {
    const { rate, burst, maxLimit } = this.opts;
    if (!Number.isFinite(rate)) return Math.max(1, maxLimit);
    const admitted = this.burstCredit(rate, burst) + (rate * this.latencyMs() * 1.2) / 1000 + 1;
    return Math.max(1, Math.min(maxLimit, Math.floor(admitted)));
  }

  /** The burst counted in the ceiling now: the provider's, unless its shared budget was found empty lately. */
  private burstCredit(rate: number, burst: number): number {
    const takenAt = this.opts.budgetTakenAt?.() ?? -Infinity;
    return this.now() - takenAt >= (burst / rate) * 1000 ? burst : 0;
  }

  /**
   * The largest ceiling this controller can ever reach, for sizing the work a stage keeps ready: the process bound,
   * or without it the provider's burst plus what its rate admits over a minute-long call.
   */
  ceilingBound(): number {
    const { rate, burst, maxLimit } = this.opts;
    if (!Number.isFinite(rate)) return Math.max(1, maxLimit);
    return Math.max(1, Math.min(maxLimit, Math.floor(burst + rate * 60 * 1.2 + 1)));
  }

  /** The number of calls allowed in flight now (≤ {@link ceiling}). */
  get limit(): number {
    return Math.max(1, Math.min(Math.floor(this.value), this.ceiling()));
  }

  /** Registers a call start; pass the id to {@link finish}. */
  start(): number {
    const id = this.nextId++;
    this.started.set(id, this.now());
    return id;
  }

  /** Registers a call end with what it observed. */
  finish(id: number, s: CallSample): void {
    this.started.delete(id);
    this.short = this.short === 0 ? s.latencyMs : this.short + SHORT * (s.latencyMs - this.short);
    this.long = this.long === 0 ? s.latencyMs : this.long + LONG * (s.latencyMs - this.long);
    if (s.outcome === 'rate_limited') {
      this.backoff('rate_limited', 0.5);
      return;
    }
    if ((s.waitMs ?? 0) > 0.25 * Math.max(s.latencyMs - (s.waitMs ?? 0), 1)) {
      this.backoff('waiting', 0.8);
      return;
    }
    if (this.short > 1.5 * this.long && this.long > 0) {
      this.backoff('latency', 0.8);
      return;
    }
    if (s.outcome !== 'ok') return;
    const ceiling = this.ceiling();
    this.value = Math.min(ceiling + 1, this.value + (this.slowStart ? 1 : 0.1));
  }

  private backoff(cause: keyof AdaptiveLimit['backoffs'], factor: number): void {
    this.slowStart = false;
    const t = this.now();
    if (t - this.lastBackoff < Math.max(this.short, 1)) return; // once per round trip
    this.lastBackoff = t;
    this.backoffs[cause]++;
    this.value = Math.max(1, Math.min(this.value, this.limit) * factor);
  }
}

/**
 * The process's bound on calls in flight for one provider: the smaller of what a quarter of the V8 heap holds at
 * `bytesPerCall` per call, and `dbPool × 20` (a call in flight holds no connection; each takes one for a few ms
 * to store its result, so 20 per connection keeps the pool's queue short).
 */
export function processBound(heapLimitBytes: number, bytesPerCall: number, dbPool: number): number {
  return Math.max(1, Math.min(Math.floor((heapLimitBytes * 0.25) / bytesPerCall), dbPool * 20));
}
