/**
 * The gateway: every outbound provider call goes through `call()`, which applies, in order,
 * budget (blocking budgets only) → cache (reads and deterministic calls) → circuit breaker (shared) →
 * rate limits and daily quota (shared) → the call, retried here and only here (the adapters, got and the SDKs
 * never retry) → ledger row, cost, budget thresholds and an observation for metrics.
 *
 * Bookkeeping stays off the hot path: breaker state comes from a short cache invalidated across replicas by
 * LISTEN/NOTIFY (breaker-cache.ts), rate-limit units are reserved in batches (reservations.ts), and ledger rows
 * are written in batches behind the call (ledger.ts). `close()` flushes them on shutdown.
 *
 * Retries: only for reads, requests with an idempotency key, or write failures the call site proves were not
 * carried out (`retrySafe`); exponential backoff with full jitter;
 * Retry-After honoured up to a cap (a longer wait fails fast and blocks the provider for that period);
 * one overall deadline per call, covering the provider's time (attempts and the backoff between them); a wait for
 * rate budget extends it. The deadline is per provider (`deadlineMsOf`: PageSpeed's is twice its 90 s attempt
 * timeout, the others' GATEWAY_DEADLINE_MS).
 *
 * Cache TTLs are read per call through an {@link OverrideCache}, so an operator's
 * `gateway.cache_ttl_seconds.<provider>` override (domain/overrides.ts) applies within seconds without a restart.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import type { ProviderId } from '../config.js';
import type { Clock } from '../clock.js';
import { waitingInOwnQueue } from '../concurrency/budget.js';
import { AppError, ProviderError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { OverrideCache } from '../overrides.js';
import { QUOTA_EXHAUSTED_CODES } from '../providers/http-errors.js';
import type { CircuitBreaker, Permit } from './breaker.js';
import { ResponseCache, cacheKey } from './cache.js';
import { deadlineMsOf, type GatewayConfig } from './config.js';
import { CostLedger, openaiCostUsd } from './ledger.js';
import type { RateLimiter } from './limiter.js';
import { outcomeOf, type GatewayObserver } from './observer.js';
import { ReservationPool } from './reservations.js';

/** One logical call. `fn(attempt)` performs a single attempt (attempt starts at 1) with the real adapter. */
export interface CallSpec<T> {
  provider: ProviderId;
  operation: string;
  /** `read`: idempotent (cacheable, retryable). `write`: retried only with an `idempotencyKey`. */
  kind: 'read' | 'write';
  /** For writes: the key the provider dedupes on (Stripe `Idempotency-Key`); such writes retry like reads. */
  idempotencyKey?: string;
  /**
   * For writes without a provider-side idempotency key: which failures are safe to retry (the request certainly
   * was not carried out, e.g. a refused connection or a 429). Timeouts never are: the provider may have acted.
   */
  retrySafe?: (err: unknown) => boolean;
  /** Method, URL and body of the request, for the cache key; omit to never cache this call. */
  cacheRequest?: { method: string; url: string; body?: string };
  /** Whether a successful result may be cached (default: yes); e.g. a completion cut off by max_tokens may not. */
  cacheable?: (result: T) => boolean;
  /** Estimated tokens (OpenAI) to take from token-per-minute limits before the call. */
  estimatedTokens?: number;
  /** Token usage of a result (OpenAI `usage`), for the cost. */
  usage?: (result: T) => { promptTokens: number; completionTokens: number } | undefined;
  fn: (attempt: number) => Promise<T>;
}

/** What the gateway needs. */
export interface GatewayDeps {
  orm: MikroORM;
  clock: Clock;
  logger: Logger;
  config: GatewayConfig;
  limiter: RateLimiter;
  breaker: CircuitBreaker;
  observer?: GatewayObserver;
  /** Sleep used between retries (tests pass a fast one). */
  sleep?: (ms: number) => Promise<void>;
  /** Random in [0,1) for jitter. */
  random?: () => number;
  /**
   * Run-time overrides (the app config plus stored overrides, refreshed every few seconds), read for cache TTLs:
   * the service's one {@link OverrideCache} (domain/services.ts), shared with the limiter.
   */
  overrides: OverrideCache;
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Thrown when the overall deadline of a call passes. */
export class DeadlineExceededError extends AppError {
  constructor(provider: string, operation: string, ms: number) {
    super('deadline_exceeded', `${provider} ${operation}: no answer within the ${ms} ms deadline`, { retryable: true });
  }
}

/** The shared gateway. */
export class Gateway {
  readonly cache: ResponseCache;
  readonly ledger: CostLedger;
  /** The run-time config the gateway reads TTLs from; `await gateway.overrides.refresh()` applies a change at once. */
  readonly overrides: OverrideCache;
  /** Rate-limit units reserved in batches (reservations.ts); `config.bookkeeping.reserveBatch` 1 turns it off. */
  readonly reservations: ReservationPool;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;

  constructor(private readonly deps: GatewayDeps) {
    this.cache = new ResponseCache(deps);
    const b = deps.config.bookkeeping;
    this.ledger = new CostLedger({
      ...deps,
      batching: { batch: b.ledgerBatch, flushMs: b.ledgerFlushMs, maxBuffered: b.ledgerBatch * 25 },
      onError: (err, rows) => deps.logger.error({ err: (err as Error).message, rows }, 'ledger write failed; rows kept for the next flush'),
    });
    this.reservations = new ReservationPool(deps.limiter, { maxBatch: b.reserveBatch, ttlMs: b.reserveTtlMs });
    this.sleep = deps.sleep ?? realSleep;
    this.random = deps.random ?? Math.random;
    this.overrides = deps.overrides;
  }

  /** Cache TTL in force for `provider` (seconds; 0 = no caching): the configured one or its run-time override. */
  cacheTtlSeconds(provider: ProviderId): number {
    return this.overrides.get().gateway.cacheTtlSeconds[provider] ?? this.deps.config.cacheTtlSeconds[provider];
  }

  get limiter(): RateLimiter {
    return this.deps.limiter;
  }

  get breaker(): CircuitBreaker {
    return this.deps.breaker;
  }

  /**
   * Performs one logical call.
   * @throws BudgetExceededError, CircuitOpenError, RateLimitedError, QuotaExhaustedError, DeadlineExceededError,
   * or the last attempt's ProviderError.
   */
  async call<T>(spec: CallSpec<T>): Promise<T> {
    const { config, clock } = this.deps;
    const started = clock.now().getTime();
    const t0 = performance.now();
    const deadlineMs = deadlineMsOf(config, spec.provider);
    let deadline = started + deadlineMs;
    const ttl = this.cacheTtlSeconds(spec.provider);
    const key = spec.cacheRequest && ttl > 0 ? cacheKey(spec.cacheRequest.method, spec.cacheRequest.url, spec.cacheRequest.body) : undefined;
    let attempts = 0;
    try {
      await this.ledger.assertWithinBudget(spec.provider);
      if (key) {
        const hit = await this.cache.get<T>(key);
        this.deps.observer?.({ kind: 'cache', provider: spec.provider, result: hit === undefined ? 'miss' : 'hit' });
        if (hit !== undefined) {
          await this.finish(spec, { outcome: 'cache_hit', attempts: 0, t0, costUsd: 0, cacheHit: true });
          return hit;
        }
      }
      for (;;) {
        attempts++;
        // Checked before taking a permit: no call was made, so the breaker must not count it.
        const remaining = deadline - clock.now().getTime();
        if (remaining <= 0) throw new DeadlineExceededError(spec.provider, spec.operation, deadlineMs);
        const permit = await this.deps.breaker.permit(spec.provider);
        let result: T;
        try {
          // Waiting for rate budget is queueing behind our own limiter, bounded by GATEWAY_MAX_WAIT_MS: it
          // extends the deadline and pauses the caller's timeouts (concurrency/budget.ts).
          const waitStart = clock.now().getTime();
          await waitingInOwnQueue(() => this.reservations.acquire(spec.provider, { tokens: spec.estimatedTokens, maxWaitMs: config.maxWaitMs }));
          deadline += clock.now().getTime() - waitStart;
          result = await this.withDeadline(spec, spec.fn(attempts), deadline);
        } catch (err) {
          await this.onAttemptFailed(spec, permit, err);
          const delay = this.retryDelay(spec, err, attempts, deadline);
          if (delay === undefined) throw err;
          this.deps.logger.debug({ provider: spec.provider, operation: spec.operation, attempts, delay }, 'provider call retry');
          await this.sleep(delay);
          continue;
        }
        await this.deps.breaker.onSuccess(permit);
        const usage = spec.usage?.(result);
        if (usage && spec.estimatedTokens) this.settleTokens(spec.provider, usage.promptTokens + usage.completionTokens - spec.estimatedTokens);
        const costUsd =
          config.prices.perCall[spec.provider] +
          (usage ? openaiCostUsd(config.prices, usage.promptTokens, usage.completionTokens) : 0);
        if (key && (spec.cacheable?.(result) ?? true)) await this.cache.set(key, spec.provider, spec.operation, result, ttl);
        await this.finish(spec, { outcome: 'ok', attempts, t0, costUsd, cacheHit: false, usage });
        return result;
      }
    } catch (err) {
      await this.finish(spec, { outcome: outcomeOf(err), attempts, t0, costUsd: 0, cacheHit: false, err }).catch(
        (e: unknown) => this.deps.logger.error({ err: (e as Error).message }, 'ledger write failed'),
      );
      throw err;
    }
  }

  private async withDeadline<T>(spec: CallSpec<T>, p: Promise<T>, deadline: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const ms = Math.max(0, deadline - this.deps.clock.now().getTime());
    try {
      return await Promise.race([
        p,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new DeadlineExceededError(spec.provider, spec.operation, deadlineMsOf(this.deps.config, spec.provider))),
            ms,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async onAttemptFailed<T>(spec: CallSpec<T>, permit: Permit, err: unknown): Promise<void> {
    await this.deps.breaker.onFailure(permit, err);
    if (!(err instanceof ProviderError)) return;
    if (err.providerCode !== undefined && QUOTA_EXHAUSTED_CODES.has(err.providerCode) && spec.provider !== 'openai') {
      this.reservations.drop(spec.provider);
      await this.deps.limiter.markExhausted(spec.provider);
    } else if (err.status === 429 && err.retryAfterMs !== undefined) {
      this.reservations.drop(spec.provider);
      await this.deps.limiter.blockUntil(spec.provider, new Date(this.deps.clock.now().getTime() + err.retryAfterMs));
    }
  }

  /**
   * Settles the tokens charged up front (prompt estimate + max_tokens) to what the answer used (`usage`), behind
   * the call: `delta` < 0 gives the unused reservation back to the shared token budget.
   */
  private settleTokens(provider: ProviderId, delta: number): void {
    if (delta === 0) return;
    void this.deps.limiter.addTokens(provider, delta).catch((e: unknown) =>
      this.deps.logger.warn({ err: (e as Error).message, provider }, 'token settlement failed; the estimate stays charged'),
    );
  }

  /** Shutdown: gives back unspent reserved quota units and writes the buffered ledger rows. */
  async close(): Promise<void> {
    await this.reservations.close();
    await this.ledger.close();
  }

  /** The wait before the next attempt, or undefined when the error must surface now. */
  private retryDelay<T>(spec: CallSpec<T>, err: unknown, attempts: number, deadline: number): number | undefined {
    const r = this.deps.config.retry;
    if (!(err instanceof ProviderError) || !err.retryable) return undefined;
    if (attempts >= r.attempts) return undefined;
    if (spec.kind === 'write' && !spec.idempotencyKey && !spec.retrySafe?.(err)) return undefined;
    let delay: number;
    if (err.retryAfterMs !== undefined) {
      // A provider asking for a longer wait than we are willing to hold a caller: fail fast (the limiter now
      // keeps every call off for that period) rather than sleeping in-process.
      if (err.retryAfterMs > r.retryAfterCapMs) return undefined;
      delay = err.retryAfterMs;
    } else {
      delay = Math.min(r.maxMs, r.baseMs * 2 ** (attempts - 1)) * (0.5 + this.random() / 2);
    }
    if (this.deps.clock.now().getTime() + delay >= deadline) return undefined;
    return Math.round(delay);
  }

  private async finish<T>(
    spec: CallSpec<T>,
    r: {
      outcome: string;
      attempts: number;
      t0: number;
      costUsd: number;
      cacheHit: boolean;
      usage?: { promptTokens: number; completionTokens: number };
      err?: unknown;
    },
  ): Promise<void> {
    const latencyMs = performance.now() - r.t0;
    const status = r.err instanceof ProviderError ? r.err.status : undefined;
    await this.ledger.record({
      provider: spec.provider,
      operation: spec.operation,
      outcome: r.outcome,
      httpStatus: status,
      attempts: r.attempts,
      latencyMs,
      costUsd: r.costUsd,
      cacheHit: r.cacheHit,
      promptTokens: r.usage?.promptTokens,
      completionTokens: r.usage?.completionTokens,
      error: r.err instanceof Error ? r.err.message : undefined,
    });
    this.deps.observer?.({
      kind: 'call',
      provider: spec.provider,
      operation: spec.operation,
      status: r.outcome,
      durationSeconds: latencyMs / 1000,
      costUsd: r.costUsd,
    });
    // budget thresholds are checked when the ledger writes the row (ledger.ts)
  }
}
