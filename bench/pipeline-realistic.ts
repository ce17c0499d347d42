/**
 * `npm run bench -- pipeline --latency realistic [--businesses N] [--time-scale S]`: the pipeline with DEFAULT
 * settings (the providers' default limits, no *_CONCURRENCY) against the sandbox answering with realistic latency
 * (domain/sandbox/latency.ts) multiplied by S (default 0.1, so tens of real seconds become seconds). Prints the
 * makespan, each provider's calls and its bound, the binding provider and the ratio makespan / bound (goal ≤ 1.15).
 *
 * A provider's bound is the least time its limits allow for the calls the run made: for each rate rule,
 * (units − burst) / rate (GCRA: a full bucket is spent at once, the rest at the rate; OpenAI's token rule counted
 * with the tokens the answers actually used, fewer than the limiter charges up front), plus one chain of mean
 * latencies (Yelp → PageSpeed → OpenAI → SendGrid, scaled) for the last business to go through. The run's bound
 * is the largest provider bound; that provider is the binding one. Limits are not scaled, latencies are: the
 * ratio is conservative (our own overhead is not scaled down).
 */
import { openDatabase, type Database } from '../db/orm.js';
import { startEmbeddedDatabase } from '../db/embedded.js';
import { loadConfig, type ProviderId } from '../domain/config.js';
import { flushLedgers } from '../domain/gateway/ledger.js';
import { createLogger } from '../domain/logger.js';
import { runPipeline } from '../domain/pipeline/run.js';
import { REALISTIC_LATENCY, meanLatencyMs, startSandbox } from '../domain/sandbox/index.js';
import { buildServices } from '../domain/services.js';

const CITIES = ['Austin, TX', 'Denver, CO', 'Boise, ID', 'Tulsa, OK', 'Reno, NV', 'Omaha, NE', 'Tampa, FL', 'Fresno, CA'];
const CATEGORIES = ['restaurants', 'plumbing', 'dentists', 'florists', 'bakeries', 'gyms', 'salons', 'autorepair'];

function opt(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}

async function seedTargets(db: Database, yelpSearch: (c: string, k: string) => Promise<number>, n: number): Promise<void> {
  const conn = db.orm.em.getConnection();
  let planned = 0;
  for (const city of CITIES)
    for (const category of CATEGORIES) {
      if (planned >= n) return;
      const quota = Math.min(await yelpSearch(city, category), n - planned, 1000);
      planned += quota;
      await conn.execute(
        'insert into targets (location, category, daily_quota, priority, active, created_at, updated_at) values (?, ?, ?, 0, true, now(), now())',
        [city, category, quota],
      );
    }
}

export async function run(args: string[]): Promise<void> {
  const n = opt(args, 'businesses', 600);
  const scale = opt(args, 'time-scale', 0.1);
  const embedded = process.env.DATABASE_URL ? undefined : await startEmbeddedDatabase({ dataDir: ':memory:', maxConnections: 40 });
  const url = process.env.DATABASE_URL ?? embedded!.url;
  const db = await openDatabase({ url, dataDir: ':memory:', poolMax: 10 });
  await db.orm.getSchemaGenerator().dropSchema({ dropMigrationsTable: true });
  await db.orm.getMigrator().up();
  const sandbox = await startSandbox({ seed: 11, port: 0, latency: 'realistic', timeScale: scale });
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: url, SANDBOX_URL: sandbox.url });
  const services = await buildServices(config, { db, logger: createLogger('silent') });
  console.log(`database: ${embedded ? 'embedded PGlite' : 'PostgreSQL (DATABASE_URL)'}; realistic latency × ${scale}; default limits and concurrency`);
  await seedTargets(db, async (c, k) => (await services.rawProviders.yelp.search({ location: c, category: k, limit: 1, offset: 0 })).total, n);
  const t0 = performance.now();
  const spans = new Map<string, [number, number]>();
  const summary = await runPipeline(
    { em: db.orm.em.fork(), providers: services.providers, config, logger: services.logger, clock: services.clock },
    {
      progress: (stage) => {
        const t = (performance.now() - t0) / 1000;
        const s = spans.get(stage);
        spans.set(stage, s ? [s[0], t] : [t, t]);
      },
    },
  );
  const makespan = (performance.now() - t0) / 1000;
  await flushLedgers();
  const rows = await db.orm.em.getConnection().execute<{ provider: ProviderId; calls: number; tokens: number }[]>(
    `select provider, count(*)::int as calls, coalesce(sum(prompt_tokens + completion_tokens), 0)::int as tokens
     from api_calls where outcome = 'ok' and not cache_hit group by provider`,
  );
  const chain = ['yelp', 'pagespeed', 'openai', 'sendgrid'].reduce((s, p) => s + meanLatencyMs(REALISTIC_LATENCY[p as 'yelp']), 0) / 1000 * scale
    + (250 * (REALISTIC_LATENCY.openai.perCompletionTokenMs ?? 0) / 1000) * scale;
  const bounds = rows.map((r) => {
    let t = 0;
    for (const rule of config.gateway.limits[r.provider]?.rates ?? []) {
      const units = rule.unit === 'token' ? r.tokens : r.calls;
      t = Math.max(t, (Math.max(0, units - rule.limit) * rule.periodMs) / rule.limit / 1000);
    }
    return { ...r, bound: t + chain };
  });
  bounds.sort((a, b) => b.bound - a.bound);
  const binding = bounds[0]!;
  const c = summary.counts;
  console.log(`\n== pipeline, realistic latency: ${c.sourced} sourced, ${c.assessed} assessed (${c.assessment_failed} failed), ${c.emailed} emailed; status ${summary.status}${summary.error ? ` (${summary.error})` : ''} ==`);
  for (const b of bounds) console.log(`${b.provider.padEnd(9)} ${String(b.calls).padStart(5)} calls${b.tokens ? `, ${b.tokens} tokens` : ''}; bound ${b.bound.toFixed(1)} s`);
  console.log(`stage activity (first..last progress, s): ${[...spans].map(([k, [a, b]]) => `${k} ${a.toFixed(1)}..${b.toFixed(1)}`).join(', ')}`);
  console.log(`makespan ${makespan.toFixed(1)} s; binding provider ${binding.provider}, bound ${binding.bound.toFixed(1)} s (incl. one latency chain ${chain.toFixed(1)} s)`);
  console.log(`ratio makespan / bound = ${(makespan / binding.bound).toFixed(2)} (goal <= 1.15)`);
  await services.close();
  await sandbox.close();
  await db.close();
  await embedded?.close();
}
