/**
 * `npm run bench -- pipeline`: 5,000 businesses through every stage against the zero-latency sandbox, on the
 * PostgreSQL at DATABASE_URL (else the embedded one, with a note). Prints businesses per second, the ratio to a
 * floor — the same rows inserted and updated by plain batched SQL in the same run — and peak RSS.
 * Provider limits are raised for the run (the sandbox answers at once; the limits under test belong to
 * `bench gateway`). Options: --businesses N (default 5000).
 */
import { loadConfig } from '../domain/config.js';
import { createLogger } from '../domain/logger.js';
import { runPipeline } from '../domain/pipeline/run.js';
import { startSandbox } from '../domain/sandbox/index.js';
import { buildServices } from '../domain/services.js';
import { openDatabase, type Database } from '../db/orm.js';
import { startEmbeddedDatabase } from '../db/embedded.js';
import { insertBenchTarget, seedFloorBusinesses } from '../domain/queries/bench.js';

const CITIES = ['Austin, TX', 'Denver, CO', 'Boise, ID', 'Tulsa, OK', 'Reno, NV', 'Omaha, NE', 'Tampa, FL', 'Fresno, CA', 'Mesa, AZ', 'Raleigh, NC', 'Spokane, WA', 'Madison, WI'];
const CATEGORIES = ['restaurants', 'plumbing', 'dentists', 'florists', 'bakeries', 'gyms', 'salons', 'autorepair', 'chiropractors', 'lawyers'];

function opt(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}

let peakRss = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 50);

async function resetSchema(db: Database) {
  await db.orm.getSchemaGenerator().dropSchema({ dropMigrationsTable: true });
  await db.orm.getMigrator().up();
}

/** The floor: the pipeline's row writes for `n` businesses as plain multi-row SQL, in batches of 500. */
async function floor(db: Database, n: number): Promise<number> {
  await resetSchema(db);
  const em = db.orm.em.fork();
  const t0 = performance.now();
  await insertBenchTarget(em, 'Floor, ZZ', 'floor', 100000);
  for (let start = 0; start < n; start += 500) {
    const size = Math.min(500, n - start);
    await seedFloorBusinesses(em, Array.from({ length: size }, (_, i) => start + i));
  }
  return (performance.now() - t0) / 1000;
}

export async function run(args: string[]): Promise<void> {
  const li = args.indexOf('--latency');
  if (li >= 0 && args[li + 1] === 'realistic') return (await import('./pipeline-realistic.js')).run(args);
  const target = opt(args, 'businesses', 5000);
  const embedded = process.env.DATABASE_URL ? undefined : await startEmbeddedDatabase({ dataDir: ':memory:', maxConnections: 40 });
  const url = process.env.DATABASE_URL ?? embedded!.url;
  console.log(`database: ${embedded ? 'embedded PGlite (set DATABASE_URL for the real PostgreSQL)' : 'PostgreSQL (DATABASE_URL)'}`);
  const db = await openDatabase({ url, dataDir: ':memory:', poolMax: 20 });
  const sandbox = await startSandbox({ seed: 11, port: 0 });
  const high = '100000000';
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: url,
    SANDBOX_URL: sandbox.url,
    YELP_DAILY_LIMIT: high,
    YELP_PER_SECOND: high,
    PAGESPEED_DAILY_LIMIT: high,
    PAGESPEED_PER_100_SECONDS: high,
    OPENAI_REQUESTS_PER_MINUTE: high,
    OPENAI_TOKENS_PER_MINUTE: high,
    SENDGRID_DAILY_LIMIT: high,
    ASSESSMENT_BATCH_SIZE: '500',
    ASSESSMENT_CONCURRENCY: '16',
    EMAIL_BATCH_SIZE: '500',
    EMAIL_CONCURRENCY: '16',
  });
  const services = await buildServices(config, { db, logger: createLogger('silent') });

  // Pipeline run
  await resetSchema(db);
  const em = db.orm.em.fork();
  let planned = 0;
  outer: for (const city of CITIES)
    for (const category of CATEGORIES) {
      if (planned >= target) break outer;
      const { total } = await services.rawProviders.yelp.search({ location: city, category, limit: 1, offset: 0 });
      const quota = Math.min(total, target - planned, 1000);
      planned += quota;
      await insertBenchTarget(em, city, category, quota);
    }
  const t0 = performance.now();
  const spans = new Map<string, [number, number]>();
  const summary = await runPipeline(
    { em: db.orm.em.fork(), providers: services.providers, config, logger: services.logger, clock: services.clock },
    {
      progress: (stage) => {
        const t = (performance.now() - t0) / 1000;
        const span = spans.get(stage);
        spans.set(stage, span ? [span[0], t] : [t, t]);
      },
    },
  );
  const pipelineS = (performance.now() - t0) / 1000;
  const c = summary.counts;
  console.log(`\n== pipeline: ${c.sourced} businesses sourced (${c.no_website} without a website, kept but not assessed) ==`);
  console.log(`status ${summary.status}${summary.error ? ` (${summary.error})` : ''}; assessed ${c.assessed}, failed ${c.assessment_failed}, scored ${c.scored}, personalized ${c.personalized}, held ${c.held}, emailed ${c.emailed}`);
  console.log(`time ${pipelineS.toFixed(1)} s = ${(c.sourced / pipelineS).toFixed(1)} businesses/s (goal >= 50)`);
  console.log(`stage activity (first..last progress, s): ${[...spans].map(([k, [a, b]]) => `${k} ${a.toFixed(1)}..${b.toFixed(1)}`).join(', ')}`);

  // Floor: the same rows by plain batched SQL
  const floorS = await floor(db, c.sourced);
  console.log(`\n== floor: the same ${c.sourced} businesses' rows by plain batched SQL ==`);
  console.log(`time ${floorS.toFixed(2)} s`);
  console.log(`ratio pipeline/floor = ${(pipelineS / floorS).toFixed(1)} (goal <= 5)`);
  console.log(`peak RSS ${(peakRss / 1024 / 1024).toFixed(0)} MiB`);

  clearInterval(sampler);
  await services.close();
  await sandbox.close();
  await db.close();
  await embedded?.close();
}
