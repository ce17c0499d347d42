/**
 * One benchmark worker thread: `concurrency` callers hammering the gated Yelp search for `durationMs`, through
 * services of its own (own pool) on the shared database and sandbox, as a pipeline worker would.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadConfig } from '../domain/config.js';
import { RateLimitedError } from '../domain/errors.js';
import { createLogger } from '../domain/logger.js';
import { buildServices } from '../domain/services.js';

const { env, concurrency, durationMs } = workerData as { env: Record<string, string>; concurrency: number; durationMs: number };
const config = loadConfig({ ...env });
const services = await buildServices(config, { logger: createLogger('silent'), poolMax: Math.min(concurrency, 10) });
let ok = 0;
let limited = 0;
let failed = 0;
let offset = 0;
// Start together: setup (tsx, pool) is not part of the measured window.
parentPort!.postMessage({ ready: true });
await new Promise<void>((resolve) => parentPort!.once('message', () => resolve()));
const end = Date.now() + durationMs;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (Date.now() < end) {
      try {
        await services.providers.yelp.search({ location: 'Austin, TX', category: 'plumbing', limit: 1, offset: offset++ % 900 });
        ok++;
      } catch (err) {
        if (err instanceof RateLimitedError) limited++;
        else failed++;
      }
    }
  }),
);
await services.close();
parentPort!.postMessage({ ok, limited, failed });
