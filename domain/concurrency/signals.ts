/**
 * Signals from the gateway to the concurrency gates of the same process (thread): how long calls waited for rate
 * budget in the shared limiter, per provider, cumulative in ms. Waiting means the budget — shared by every thread
 * and replica through PostgreSQL — is taken, so more calls in flight would only queue.
 */
import type { ProviderId } from '../config.js';

const waits = new Map<ProviderId, number>();

/** The gateway reports a wait for rate budget (ms); waits under 20 ms (a statement's round trip) are not waits. */
export function reportRateWait(provider: ProviderId, ms: number): void {
  if (ms >= 20) waits.set(provider, (waits.get(provider) ?? 0) + ms);
}

/** Cumulative ms calls to `provider` in this process waited for rate budget. */
export function totalRateWait(provider: ProviderId): number {
  return waits.get(provider) ?? 0;
}
