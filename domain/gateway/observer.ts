/**
 * Gateway observations: plain, serialisable facts the gateway reports for metrics. In the main thread they
 * update prom-client directly; in a worker thread they are posted to the main thread (a worker's own registry
 * is never scraped), which applies them the same way.
 */
import { AppError, ProviderError } from '../errors.js';

/** A finished logical call, a cache lookup. `status` is a bounded outcome label (see {@link outcomeOf}). */
export type GatewayObservation =
  | { kind: 'call'; provider: string; operation: string; status: string; durationSeconds: number; costUsd: number }
  | { kind: 'cache'; provider: string; result: 'hit' | 'miss' };

/** Receives observations. */
export type GatewayObserver = (o: GatewayObservation) => void;

/**
 * A bounded outcome label for an error (metrics labels must not take free text): `http_4xx`, `http_429`,
 * `http_5xx`, `network`, or the AppError code (`rate_limited`, `circuit_open`, …).
 */
export function outcomeOf(err: unknown): string {
  if (err instanceof ProviderError) {
    if (err.status === undefined) return 'network';
    if (err.status === 429) return 'http_429';
    if (err.status >= 500) return 'http_5xx';
    if (err.status >= 400) return 'http_4xx';
    return 'malformed';
  }
  if (err instanceof AppError) return err.code;
  return 'internal';
}
