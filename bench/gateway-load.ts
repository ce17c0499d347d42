/**
 * The saturation load of `bench gateway`: `concurrency` callers hammering the gated Yelp search for `durationMs`
 * through services of their own (own pool, own reservation pool and breaker cache) on the shared database and
 * sandbox, as a pipeline worker would. Counts only calls that finished inside the window.
 */
import { loadConfig } from '../domain/config.js';
import { RateLimitedError } from '../domain/errors.js';
import { createLogger } from '../domain/logger.js';
import { buildServices, type Services } from '../domain/services.js';

/** What one load reports: calls that succeeded within the window, refused by our own limiter, failed otherwise. */
export interface LoadResult {
  ok: number;
  limited: number;
  failed: number;
}

/** Builds the services a load uses (before the window starts: set-up is not measured). */
export async function loadServices(env: Record<string, string>, concurrency: number): Promise<Services> {
  return buildServices(loadConfig({ ...env }), { logger: createLogger('silent'), poolMax: Math.min(concurrency, 10) });
}

/** Runs the callers until `endAt` (epoch ms, shared by every thread and process of one case). */
export async function hammer(services: Services, concurrency: number, endAt: number): Promise<LoadResult> {
  const r: LoadResult = { ok: 0, limited: 0, failed: 0 };
  let offset = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < endAt) {
        try {
          await services.providers.yelp.search({ location: 'Austin, TX', category: 'plumbing', limit: 1, offset: offset++ % 900 });
          if (Date.now() <= endAt) r.ok++;
        } catch (err) {
          if (err instanceof RateLimitedError) r.limited++;
          else r.failed++;
        }
      }
    }),
  );
  return r;
}
