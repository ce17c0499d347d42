/**
 * Signals from the gateway to the concurrency gates of the same process (thread): when a call last found a
 * provider's rate budget empty in the shared limiter. An empty budget — shared by every thread and replica
 * through PostgreSQL — means more calls in flight would only queue. (Each call's own wait reaches its gate
 * through budget.ts.)
 */
import type { ProviderId } from '../config.js';

const queuedAt = new Map<ProviderId, number>();

/**
 * The limiter tells, before a call sleeps for budget, that `provider`'s shared budget has no free unit now and the
 * call waits `ms` (waits under 20 ms, a statement's round trip, are not waits). Recorded at once, so the gates
 * stop counting the provider's burst before the waiting calls come back.
 */
export function reportRateQueued(provider: ProviderId, ms: number): void {
  if (ms >= 20) queuedAt.set(provider, performance.now());
}

/** When (performance.now() ms) a call to `provider` last had to wait for budget; -Infinity when never. */
export function rateQueuedAt(provider: ProviderId): number {
  return queuedAt.get(provider) ?? -Infinity;
}
