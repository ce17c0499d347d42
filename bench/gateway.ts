/**
 * `npm run bench -- gateway`:
 * 1. Overhead — the same Yelp search through the raw adapter, through the gateway with per-call bookkeeping
 *    (breaker read, GCRA statement, quota statement and ledger INSERT per call: GATEWAY_RESERVE_BATCH=1,
 *    GATEWAY_BREAKER_CACHE_MS=0, GATEWAY_LEDGER_FLUSH_MS=0) and through the gateway with the defaults (batched
 *    reservations, cached breaker, write-behind ledger), against the zero-latency sandbox, interleaved in rounds;
 *    prints ms per call of each, the overhead over raw (goal ≤ 1.5 ms) and the ratios.
 * 2. Saturation — our Yelp limit set to 50 req/s and the sandbox enforcing 50 req/s itself; 20 concurrent callers
 *    for N s, once over 2 worker threads and once over 2 processes; prints the share of the limit achieved
 *    (goal ≥ 98%) and the upstream 429s the sandbox sent (goal 0).
 * Options: --seconds N (saturation duration, default 20), --calls N (overhead calls per side, default 600).
 */
import { fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { openDatabase } from '../db/orm.js';
import { startEmbeddedDatabase } from '../db/embedded.js';
import { loadConfig } from '../domain/config.js';
import { createLogger } from '../domain/logger.js';
import { sandboxAdmin, startSandbox } from '../domain/sandbox/index.js';
import { buildServices, type Services } from '../domain/services.js';
import { truncateGatewayTables } from '../domain/queries/bench.js';
import type { LoadResult } from './gateway-load.js';

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

const PER_CALL = { GATEWAY_RESERVE_BATCH: '1', GATEWAY_BREAKER_CACHE_MS: '0', GATEWAY_LEDGER_FLUSH_MS: '0' };

async function overhead(baseEnv: Record<string, string>, db: Awaited<ReturnType<typeof openDatabase>>, calls: number): Promise<void> {
  const build = (env: Record<string, string>) =>
    buildServices(loadConfig({ ...baseEnv, YELP_PER_SECOND: '1000000', ...env }), { db, logger: createLogger('silent') });
  const perCall = await build(PER_CALL);
  const batched = await build({});
  const params = { location: 'Denver, CO', category: 'dentists', limit: 10, offset: 0 };
  const sides: [string, (o: number) => Promise<unknown>][] = [
    ['raw', (o) => batched.rawProviders.yelp.search({ ...params, offset: o })],
    ['per-call', (o) => perCall.providers.yelp.search({ ...params, offset: o })],
    ['batched', (o) => batched.providers.yelp.search({ ...params, offset: o })],
  ];
  for (let i = 0; i < 30; i++) for (const [, f] of sides) await f(i);
  const ms = new Map<string, number>(sides.map(([n]) => [n, 0]));
  const rounds = 20;
  for (let r = 0; r < rounds; r++) {
    for (const [name, f] of sides) {
      const t = performance.now();
      for (let i = 0; i < calls / rounds; i++) await f(i);
      ms.set(name, ms.get(name)! + performance.now() - t);
    }
  }
  const per = (n: string) => ms.get(n)! / calls;
  const close = async (s: Services) => s.close();
  await close(perCall);
  await close(batched);
  const raw = per('raw');
  console.log('\n== overhead: Yelp search, zero-latency sandbox, sequential, interleaved rounds ==');
  console.log(`raw adapter                         ${raw.toFixed(2)} ms/call`);
  console.log(`gateway, per-call bookkeeping       ${per('per-call').toFixed(2)} ms/call  (+${(per('per-call') - raw).toFixed(2)} ms, ratio ${(per('per-call') / raw).toFixed(2)})`);
  console.log(`gateway, defaults (batched, cached) ${per('batched').toFixed(2)} ms/call  (+${(per('batched') - raw).toFixed(2)} ms, goal <= 1.5 ms; ratio ${(per('batched') / raw).toFixed(2)})`);
  console.log(`per-call / defaults = ${(per('per-call') / per('batched')).toFixed(2)}`);
}

type Runner = { ready: Promise<void>; go(endAt: number): void; done: Promise<LoadResult> };

function threadRunner(env: Record<string, string>, concurrency: number): Runner {
  const w = new Worker(join(here, 'thread-entry.mjs'), {
    workerData: { script: pathToFileURL(join(here, 'gateway-thread.ts')).href, env, concurrency },
  });
  const ready = new Promise<void>((resolve, reject) => { w.once('message', () => resolve()); w.once('error', reject); });
  const done = ready.then(() => new Promise<LoadResult>((resolve, reject) => { w.once('message', resolve); w.once('error', reject); }));
  return { ready, go: (endAt) => w.postMessage({ endAt }), done };
}

function processRunner(env: Record<string, string>, concurrency: number): Runner {
  const child = fork(join(here, 'gateway-proc.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...env, BENCH_CONCURRENCY: String(concurrency) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = new Promise<void>((resolve, reject) => { child.once('message', () => resolve()); child.once('error', reject); });
  const done = ready.then(() => new Promise<LoadResult>((resolve, reject) => { child.once('message', (m) => resolve(m as LoadResult)); child.once('error', reject); }));
  return { ready, go: (endAt) => child.send({ endAt }), done };
}

async function saturation(kind: 'threads' | 'processes', baseEnv: Record<string, string>, dbUrl: string, sandboxUrl: string, seconds: number) {
  const limit = 50;
  const admin = sandboxAdmin(sandboxUrl);
  const conn = await openDatabase({ url: dbUrl, dataDir: ':memory:', poolMax: 1 });
  await truncateGatewayTables(conn.orm.em.fork());
  await conn.close();
  await admin.setLimit('yelp', limit);
  await new Promise((r) => setTimeout(r, 1100)); // the sandbox's bucket refills
  const before = await admin.stats();
  // burst 5 (10% of the limit): calls paced near-evenly, late grants can catch up, and our start-up burst never drains the provider's own bucket
  const env = { ...baseEnv, YELP_PER_SECOND: String(limit), GATEWAY_MAX_WAIT_MS: '5000', GATEWAY_BURST: '5' };
  const runners = [0, 1].map(() => (kind === 'threads' ? threadRunner(env, 10) : processRunner(env, 10)));
  await Promise.all(runners.map((r) => r.ready));
  const endAt = Date.now() + 200 + seconds * 1000;
  for (const r of runners) r.go(endAt);
  const startAt = endAt - seconds * 1000;
  const results = await Promise.all(runners.map((r) => r.done));
  const after = await admin.stats();
  await admin.clearLimit('yelp');
  const ok = results.reduce((s, r) => s + r.ok, 0);
  const elapsed = (endAt - startAt) / 1000;
  // calls granted in the 200 ms before the window opened are not counted: the window is [startAt, endAt]
  return {
    kind,
    ok,
    rate: ok / elapsed,
    share: ok / (limit * elapsed),
    upstream429: after.rateLimited.yelp - before.rateLimited.yelp,
    limited: results.reduce((s, r) => s + r.limited, 0),
    failed: results.reduce((s, r) => s + r.failed, 0),
    elapsed,
  };
}

export async function run(args: string[]): Promise<void> {
  const seconds = opt(args, 'seconds', 20);
  const calls = opt(args, 'calls', 600);
  const dbHandle = await database();
  const db = await openDatabase({ url: dbHandle.url, dataDir: ':memory:', poolMax: 10 });
  await db.orm.getSchemaGenerator().dropSchema({ dropMigrationsTable: true });
  await db.orm.getMigrator().up();
  const sandbox = await startSandbox({ seed: 7, port: 0 });
  const baseEnv = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: dbHandle.url,
    SANDBOX_URL: sandbox.url,
    YELP_CACHE_TTL: '0',
    YELP_DAILY_LIMIT: '10000000',
  };
  console.log(`database: ${process.env.DATABASE_URL ? 'PostgreSQL (DATABASE_URL)' : 'embedded PGlite'}; sandbox ${sandbox.url}`);
  await overhead(baseEnv, db, calls);
  console.log(`\n== saturation: limit 50 req/s (ours and the sandbox's), 2 × 10 callers, ${seconds} s window ==`);
  for (const kind of ['threads', 'processes'] as const) {
    const s = await saturation(kind, baseEnv, dbHandle.url, sandbox.url, seconds);
    console.log(
      `2 ${s.kind.padEnd(9)}: ${s.ok} calls in ${s.elapsed.toFixed(1)} s = ${s.rate.toFixed(2)} req/s = ${(s.share * 100).toFixed(1)}% of the limit (goal >= 98%); ` +
        `upstream 429s ${s.upstream429} (goal 0); our waits past the bound ${s.limited}; other failures ${s.failed}`,
    );
  }
  await sandbox.close();
  await db.close();
  await dbHandle.close();
}
