/**
 * The circuit breaker's contract (domain/gateway/breaker.ts): what it needs, the permits it hands out, the snapshot
 * runbooks read, the transitions it reports, and which errors count against a provider's health.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import type { ProviderId } from '../config.js';
import type { Clock } from '../clock.js';
import type { BreakerState } from '../../db/entities/provider-state.entity.js';
import {
  BudgetExceededError,
  CircuitOpenError,
  LighthouseRuntimeError,
  ProviderError,
  QuotaExhaustedError,
  RateLimitedError,
} from '../errors.js';

/** A state change, as reported to {@link BreakerDeps.onTransition} and in the ops event payload. */
export interface BreakerTransition {
  provider: ProviderId;
  from: BreakerState;
  to: BreakerState;
  generation: number;
  reason: string;
}

/** What the breaker needs. Durations in ms. */
export interface BreakerDeps {
  orm: MikroORM;
  clock: Clock;
  config: { failureThreshold: number; cooldownMs: number; halfOpenSuccesses: number };
  /** Lease of a half_open probe in ms (default 30 000): another probe may start once it ends unanswered. */
  probeTimeoutMs?: number;
  /** Called after every transition (after its ops event is recorded); exceptions are swallowed. */
  onTransition?: (t: BreakerTransition) => void;
  /**
   * Serve a closed breaker's permits, an open breaker's refusals and healthy successes from a process-local cache
   * of the row for up to this many ms (breaker-cache.ts: dropped on every write here and, through LISTEN/NOTIFY,
   * on every write anywhere). 0 or absent: every call reads the database.
   */
  cacheMs?: number;
}

/**
 * Permission for one call. Hand it back to `onSuccess`/`onFailure`. `probe` = the single half_open trial call;
 * `probeUntil` is its lease (also its identity: a result after another probe took over is ignored).
 */
export interface Permit {
  provider: ProviderId;
  generation: number;
  probe: boolean;
  probeUntil?: Date;
}

/** The breaker as runbooks see it. `retryAt`: when calls may resume (open, or half_open with a probe in flight). */
export interface BreakerSnapshot {
  provider: ProviderId;
  state: BreakerState;
  consecutiveFailures: number;
  openedAt: Date | undefined;
  retryAt: Date | undefined;
  generation: number;
  halfOpenSuccesses: number;
  probeUntil: Date | undefined;
  lastTransitionAt: Date | undefined;
  lastError: string | undefined;
  lastErrorAt: Date | undefined;
  lastSuccessAt: Date | undefined;
}

/**
 * Whether an error says the provider is unhealthy: ProviderError with a 4xx other than 408/429 → false (our
 * request was wrong, not the provider); our own refusals (RateLimitedError, QuotaExhaustedError, CircuitOpenError,
 * BudgetExceededError) → false; a Lighthouse runtimeError in a 200 → false (the site failed, not PageSpeed);
 * everything else (5xx, network errors, timeouts, 408, 429) → true.
 */
export function countsAsFailure(err: unknown): boolean {
  if (err instanceof RateLimitedError || err instanceof QuotaExhaustedError) return false;
  if (err instanceof CircuitOpenError || err instanceof BudgetExceededError) return false;
  // PageSpeed answered; Lighthouse could not load the audited site: the site's problem, not the provider's
  if (err instanceof LighthouseRuntimeError) return false;
  if (err instanceof ProviderError && err.status !== undefined) {
    const s = err.status;
    if (s >= 400 && s < 500 && s !== 408 && s !== 429) return false;
  }
  return true;
}
