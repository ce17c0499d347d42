/**
 * `npm run bench -- gateway`:
 * 1. Overhead — the same Yelp search through the raw adapter and through the gateway (limits high, cache off)
 *    against the zero-latency sandbox, interleaved in rounds; prints mean latency of each and the ratio.
 * 2. Saturation — our Yelp limit set to 50 req/s and the sandbox enforcing 50 req/s itself; 20 concurrent callers
 *    over 2 worker threads for 20 s; prints the share of the limit achieved (goal ≥ 95%) and the upstream 429s
 *    the sandbox sent (goal 0).
 * Options: --seconds N (saturation duration, default 20), --calls N (overhead calls per side, default 300).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { openDatabase } from '../db/orm.js';
import { startEmbeddedDatabase } from '../db/embedded.js';
import { loadConfig } from '../domain/config.js';
import { createLogger } from '../domain/logger.js';
import { sandboxAdmin, startSandbox } from '../domain/sandbox/index.js';
import { buildServices } from '../domain/services.js';

const here = dirname(fileURLToPath(import.meta.url));

function opt(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}

async function database() {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL, close: async () => {} };
  const e = await startEmbeddedDatabase({ dataDir: ':memory:', maxConnections: 40 });
  return { url: e.url, close: () => e.close() };
}

export async function run(args: string[]): Promise<void> {
  const seconds = opt(args, 'seconds', 20);
  const calls = opt(args, 'calls', 300);
  const dbHandle = await database();
  const db = await openDatabase({ url: dbHandle.url, dataDir: ':memory:', poolMax: 10 });
  await db.orm.getSchemaGenerator().dropSchema({ dropMigrationsTable: true });
  await db.orm.getMigrator().up();
  const sandbox = await startSandbox({ seed: 7, port: 0 });
  const admin = sandboxAdmin(sandbox.url);
  const baseEnv = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: dbHandle.url,
    SANDBOX_URL: sandbox.url,
    YELP_CACHE_TTL: '0',
    YELP_DAILY_LIMIT: '10000000',
  };
  console.log(`database: ${process.env.DATABASE_URL ? 'PostgreSQL (DATABASE_URL)' : 'embedded PGlite'}; sandbox ${sandbox.url}`);

  // 1. Overhead
  {
    const config = loadConfig({ ...baseEnv, YELP_PER_SECOND: '1000000' });
    const s = await buildServices(config, { db, logger: createLogger('silent') });
    const params = { location: 'Denver, CO', category: 'dentists', limit: 10, offset: 0 };
    for (let i = 0; i < 20; i++) {
      await s.rawProviders.yelp.search(params);
      await s.providers.yelp.search(params);
    }
    let rawMs = 0;
    let gatedMs = 0;
    const rounds = 10;
    for (let r = 0; r < rounds; r++) {
      let t = performance.now();
      for (let i = 0; i < calls / rounds; i++) await s.rawProviders.yelp.search({ ...params, offset: i });
      rawMs += performance.now() - t;
      t = performance.now();
      for (let i = 0; i < calls / rounds; i++) await s.providers.yelp.search({ ...params, offset: i });
      gatedMs += performance.now() - t;
    }
    await s.close();
    const raw = rawMs / calls;
    const gated = gatedMs / calls;
    console.log('\n== overhead: Yelp search, zero-latency sandbox, sequential ==');
    console.log(`raw adapter     ${raw.toFixed(2)} ms/call`);
    console.log(`through gateway ${gated.toFixed(2)} ms/call  (+${(gated - raw).toFixed(2)} ms: breaker, limiter, ledger row)`);
    console.log(`ratio gateway/raw = ${(gated / raw).toFixed(2)}`);
  }

  // 2. Saturation
  {
    const limit = 50;
    await db.orm.em.getConnection().execute('truncate rate_limit_state, provider_quota_usage, provider_state, api_calls');
    await admin.setLimit('yelp', limit);
    const before = await admin.stats();
    // burst 5 (10% of the limit): calls paced near-evenly, late grants can catch up, and our start-up burst never drains the provider's own bucket
    const env = { ...baseEnv, YELP_PER_SECOND: String(limit), GATEWAY_MAX_WAIT_MS: '5000', GATEWAY_BURST: '5' };
    const workers = [0, 1].map(
      () =>
        new Worker(join(here, 'thread-entry.mjs'), {
          workerData: { script: pathToFileURL(join(here, 'gateway-thread.ts')).href, env, concurrency: 10, durationMs: seconds * 1000 },
        }),
    );
    const ready = workers.map((w) => new Promise<void>((resolve, reject) => { w.once('message', () => resolve()); w.once('error', reject); }));
    await Promise.all(ready);
    const t0 = performance.now();
    const done = workers.map(
      (w) =>
        new Promise<{ ok: number; limited: number; failed: number }>((resolve, reject) => {
          w.once('message', resolve);
          w.once('error', reject);
        }),
    );
    for (const w of workers) w.postMessage('go');
    const results = await Promise.all(done);
    const elapsed = (performance.now() - t0) / 1000;
    const after = await admin.stats();
    const ok = results.reduce((s, r) => s + r.ok, 0);
    const upstream429 = after.rateLimited.yelp - before.rateLimited.yelp;
    console.log(`\n== saturation: limit ${limit} req/s, 2 threads × 10 callers, ${seconds} s ==`);
    console.log(`calls succeeded ${ok} in ${elapsed.toFixed(1)} s = ${(ok / elapsed).toFixed(1)} req/s`);
    console.log(`share of the limit achieved = ${((ok / (limit * elapsed)) * 100).toFixed(1)}% (goal >= 95%)`);
    console.log(`upstream 429s seen = ${upstream429} (goal 0); our own waits past the bound: ${results.reduce((s, r) => s + r.limited, 0)}; other failures: ${results.reduce((s, r) => s + r.failed, 0)}`);
    await admin.clearLimit('yelp');
  }

  await sandbox.close();
  await db.close();
  await dbHandle.close();
}
