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
 *   `latency` is the age of the oldest call in flight before the first answer (a slow provider is known to be
 *   slow before it answers), then the short-term average, held at 1.5 × the long-term average while latency grows.
 * - **Start**: at the ceiling the provider's published budget admits at once (its burst + 1; without a rate
 *   rule, the process bound): the budget is the provider's own word, so no probing is needed to use it.
 * - **Growth**: +1 per successful call (doubling per round trip) until the first congestion signal. After a
 *   back-off, +1 per success again (fast recovery) up to a resume level below where the back-off happened
 *   (× 0.75 after a 429, × 0.9 after the softer signals), then +0.25 per success (about +25 % per round trip)
 *   probing beyond it. (+0.1 per success took 7 round trips — 2 minutes at PageSpeed's 15 s — to recover.)
 * - **Back-off**, at most once per round trip: × 0.5 on a 429 (the provider's, or our shared limiter refusing past
 *   its wait bound); × 0.8 when calls wait in the shared rate limiter, on short-term average, for more than 0.4 ×
 *   the provider's latency (the budget, shared by every thread and replica through the database, is taken by
 *   others: alone, the ceiling's 1.2 × margin makes calls wait about 0.2 × latency); × 0.8 when the short-term
 *   latency exceeds 1.5 × the long-term one (the provider is queueing our calls). Latencies are the provider's:
 *   a call's time minus its wait for budget. The short-term averages span about half a round trip of answers.
 * - **Warm-up**: latency growth is judged only once every call in flight at the first answer has answered. The
 *   first answers of a burst are its fastest calls (a burst of 200 PageSpeed calls answers first with its 4–8 s
 *   ones), so until the whole first cohort is back the long-term average is biased low and the median call looks
 *   like growth; until then the long-term average is the plain mean of the answers (bias-free), an EWMA after.
 * Time comes from an injected monotonic clock (ms) so tests drive it.
 */

/**
 * What one finished call tells the controller: `latencyMs`, its whole time (ms) once admitted, of which `waitMs`
 * waiting for rate budget in our own limiter; the provider's latency is the difference.
 */
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
/** Growth per success below the resume level (fast recovery, slow start) and above it (probing). */
const FAST = 1;
const PROBE = 0.25;
/** Back-off factor and resume level (fraction of the level backed off from) by cause. */
const BACKOFF: Record<keyof AdaptiveLimit['backoffs'], { factor: number; resume: number }> = {
  rate_limited: { factor: 0.5, resume: 0.75 },
  waiting: { factor: 0.8, resume: 0.9 },
  latency: { factor: 0.8, resume: 0.9 },
};

/** The controller; see the module comment. */
export class AdaptiveLimit {
  private value: number;
  /** Growth is FAST per success below this level, PROBE above it (Infinity: slow start, before any back-off). */
  private resumeAt = Infinity;
  private short = 0;
  private long = 0;
  /** Short-term average wait for rate budget (ms). */
  private waitAvg = 0;
  private samples = 0;
  /** Calls of the first cohort (in flight at the first answer) not back yet; undefined before the first answer. */
  private cohort: Set<number> | undefined;
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

  /**
   * Latency (ms) the ceiling is computed from: before the first answer the age of the oldest call in flight (0
   * before any call), then the short-term average (held at 1.5 × the long-term one while latency grows). Not the
   * oldest call's age once answers come back: with PageSpeed's long tail (answers up to 60 s, mean ~17 s) some call
   * in flight is nearly always 40–60 s old, and counting it kept 2–3 × rate × latency in flight, queueing in our
   * limiter.
   */
  latencyMs(): number {
    if (this.samples === 0) {
      let oldest = 0;
      const t = this.now();
      for (const s of this.started.values()) oldest = Math.max(oldest, t - s);
      return oldest;
    }
    const growing = this.warm && this.short > 1.5 * this.long;
    return growing ? 1.5 * this.long : this.short;
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

  /** True once the first cohort of calls has answered: latency growth is judged from then on (warm-up). */
  get warm(): boolean {
    return this.cohort !== undefined && this.cohort.size === 0;
  }

  /** Registers a call end with what it observed. */
  finish(id: number, s: CallSample): void {
    this.started.delete(id);
    this.cohort ??= new Set(this.started.keys());
    this.cohort.delete(id);
    this.samples++;
    // short-term: about the last half round trip of answers (limit / 4 answers; 5 at most in flight ≤ 20), so
    // one answer from a long tail (PageSpeed: 60 s against a 17 s mean) is not taken for latency growth
    const alpha = Math.min(SHORT, 4 / Math.max(1, this.limit));
    // the provider's latency, without the wait for budget: counting the wait in, the ceiling (rate × latency)
    // grew with every wait it caused, until the waiting back-off stopped it at 1.25 × rate × latency
    const wait = Math.max(0, s.waitMs ?? 0);
    const latency = Math.max(0, s.latencyMs - wait);
    this.short = this.short === 0 ? latency : this.short + alpha * (latency - this.short);
    // the plain mean until the first cohort is back and for 1 / LONG answers, an EWMA after
    const w = this.warm ? Math.max(LONG, 1 / this.samples) : 1 / this.samples;
    this.long += w * (latency - this.long);
    if (s.outcome === 'rate_limited') {
      this.backoff('rate_limited');
      return;
    }
    this.waitAvg += alpha * (wait - this.waitAvg);
    // the short-term average wait against the short-term latency (one call's wait depends on its place in the
    // queue); 0.4: the ceiling's own 1.2 × margin makes calls wait about 0.2 × latency when the budget is ours
    if (this.waitAvg > 0.4 * Math.max(this.short, 1)) {
      this.backoff('waiting');
      return;
    }
    if (this.warm && this.short > 1.5 * this.long) {
      this.backoff('latency');
      return;
    }
    if (s.outcome !== 'ok') return;
    const ceiling = this.ceiling();
    this.value = Math.min(ceiling + 1, this.value + (this.value < this.resumeAt ? FAST : PROBE));
  }

  private backoff(cause: keyof AdaptiveLimit['backoffs']): void {
    const t = this.now();
    if (t - this.lastBackoff < Math.max(this.short, 1)) return; // once per round trip
    this.lastBackoff = t;
    this.backoffs[cause]++;
    const from = Math.min(this.value, this.limit);
    this.resumeAt = from * BACKOFF[cause].resume;
    this.value = Math.max(1, from * BACKOFF[cause].factor);
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
