/**
 * Signals from the gateway to the concurrency gates of the same process (thread): how long calls waited for rate
 * budget in the shared limiter, per provider, cumulative in ms. Waiting means the budget — shared by every thread
 * and replica through PostgreSQL — is taken, so more calls in flight would only queue.
 */
import type { ProviderId } from '../config.js';

const waits = new Map<ProviderId, number>();
const queuedAt = new Map<ProviderId, number>();

/** The gateway reports a wait for rate budget (ms); waits under 20 ms (a statement's round trip) are not waits. */
export function reportRateWait(provider: ProviderId, ms: number): void {
  if (ms >= 20) waits.set(provider, (waits.get(provider) ?? 0) + ms);
}

/** Cumulative ms calls to `provider` in this process waited for rate budget. */
export function totalRateWait(provider: ProviderId): number {
  return waits.get(provider) ?? 0;
}

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
