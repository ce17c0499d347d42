/**
 * `npm run bench -- pipeline --latency realistic [--businesses N] [--time-scale S] [--trace]`: the pipeline with
 * DEFAULT settings (the providers' default limits, no *_CONCURRENCY) against the sandbox answering with realistic
 * latency (domain/sandbox/latency.ts) multiplied by S (default 1: real latency; limits are never scaled). Prints
 * the machine's load, the makespan, each provider's needed calls and bound (bench/pipeline-bounds.ts), the binding
 * provider, the ratio makespan / bound (goal ≤ 1.15), how busy PageSpeed's gate was, and every failure by cause.
 * Exits 1 when the run failed, any assessment or send failed for a cause of ours (timeout, rate limit, provider
 * error — not an invalid URL or a page Lighthouse could not load), or the ratio misses the goal: a run that
 * fails work must not look fast. `--trace` prints the PageSpeed gate every 5 s.
 */
import { loadavg } from 'node:os';
import { openDatabase, type Database } from '../db/orm.js';
import { startEmbeddedDatabase } from '../db/embedded.js';
import { validateWebsiteUrl } from '../domain/assessment/url.js';
import { createGates, type Gate } from '../domain/concurrency/gate.js';
import { loadConfig, type ProviderId } from '../domain/config.js';
import { flushLedgers } from '../domain/gateway/ledger.js';
import { createLogger } from '../domain/logger.js';
import { runPipeline, type PipelineRunSummary } from '../domain/pipeline/run.js';
import { startSandbox } from '../domain/sandbox/index.js';
import { buildServices } from '../domain/services.js';
import { latencyChainS, providerBounds, type Needed } from './pipeline-bounds.js';
import { businessWebsites, failedAssessmentCauses, insertBenchTarget, measuredAssessments, okCallsByProvider } from '../domain/queries/bench.js';

const CITIES = ['Austin, TX', 'Denver, CO', 'Boise, ID', 'Tulsa, OK', 'Reno, NV', 'Omaha, NE', 'Tampa, FL', 'Fresno, CA'];
const CATEGORIES = ['restaurants', 'plumbing', 'dentists', 'florists', 'bakeries', 'gyms', 'salons', 'autorepair'];
const GOAL = 1.15;

function opt(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}

const load = () => loadavg().map((l) => l.toFixed(2)).join(', ');

async function seedTargets(db: Database, yelpSearch: (c: string, k: string) => Promise<number>, n: number): Promise<void> {
  const em = db.orm.em.fork();
  let planned = 0;
  for (const city of CITIES)
    for (const category of CATEGORIES) {
      if (planned >= n) return;
      const quota = Math.min(await yelpSearch(city, category), n - planned, 1000);
      planned += quota;
      await insertBenchTarget(em, city, category, quota);
    }
}

/** Samples the PageSpeed gate every 250 ms: in flight, queued, limit; `--trace` prints it every 5 s. */
function watchGate(gate: Gate, t0: number, trace: boolean) {
  const samples: { t: number; running: number; waiting: number; limit: number }[] = [];
  const timer = setInterval(() => {
    const t = (performance.now() - t0) / 1000;
    const s = { t, running: gate.control.inFlight, waiting: gate.waiting, limit: gate.control.limit };
    samples.push(s);
    if (trace && samples.length % 20 === 0)
      console.log(`  t=${t.toFixed(0)}s pagespeed in flight ${s.running}, queued ${s.waiting}, limit ${s.limit}, ceiling ${gate.control.ceiling()}`);
  }, 250);
  return {
    stop: () => clearInterval(timer),
    /** Seconds (of the sampled run) PageSpeed had no call in flight, and the mean and peak in flight. */
    summary: () => {
      const idle = samples.filter((s) => s.running === 0).length * 0.25;
      const mean = samples.reduce((a, s) => a + s.running, 0) / Math.max(1, samples.length);
      return { idle, mean, peak: gate.peak, backoffs: gate.control.backoffs };
    },
  };
}

/** What the run needed of each provider, read back from its rows (see pipeline-bounds.ts). */
async function neededCalls(db: Database, summary: PipelineRunSummary): Promise<Needed[]> {
  const em = db.orm.em.fork();
  const sites = await businessWebsites(em);
  const insights = await measuredAssessments(em);
  const ledger = await okCallsByProvider(em);
  const made = (p: ProviderId) => ledger.find((r) => r.provider === p) ?? { calls: 0, tokens: 0 };
  const tokensPerInsight = made('openai').calls > 0 ? made('openai').tokens / made('openai').calls : 0;
  return [
    { provider: 'yelp', calls: made('yelp').calls, tokens: 0 },
    { provider: 'pagespeed', calls: sites.filter((website) => validateWebsiteUrl(website).ok).length, tokens: 0 },
    { provider: 'openai', calls: insights, tokens: Math.round(insights * tokensPerInsight) },
    { provider: 'sendgrid', calls: summary.counts.emailed, tokens: 0 },
  ];
}

/** Failed assessments by cause: the site's own (invalid URL, Lighthouse could not load it) or ours. */
async function failuresByCause(db: Database): Promise<{ site: number; ours: number; causes: string[] }> {
  const rows = await failedAssessmentCauses(db.orm.em.fork());
  return {
    site: rows.filter((r) => r.site).reduce((a, r) => a + r.n, 0),
    ours: rows.filter((r) => !r.site).reduce((a, r) => a + r.n, 0),
    causes: rows.map((r) => `${r.n} × ${r.cause.trim()}${r.site ? ' (the site)' : ''}`),
  };
}

export async function run(args: string[]): Promise<void> {
  const n = opt(args, 'businesses', 1000);
  const scale = opt(args, 'time-scale', 1);
  const embedded = process.env.DATABASE_URL ? undefined : await startEmbeddedDatabase({ dataDir: ':memory:', maxConnections: 40 });
  const url = process.env.DATABASE_URL ?? embedded!.url;
  const db = await openDatabase({ url, dataDir: ':memory:', poolMax: 10 });
  await db.orm.getSchemaGenerator().dropSchema({ dropMigrationsTable: true });
  await db.orm.getMigrator().up();
  const sandbox = await startSandbox({ seed: 11, port: 0, latency: 'realistic', timeScale: scale });
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: url, SANDBOX_URL: sandbox.url });
  const services = await buildServices(config, { db, logger: createLogger('silent') });
  console.log(`database: ${embedded ? 'embedded PGlite' : 'PostgreSQL (DATABASE_URL)'}; realistic latency × ${scale}; default limits and concurrency`);
  console.log(`load average before (1, 5, 15 min): ${load()}`);
  await seedTargets(db, async (c, k) => (await services.rawProviders.yelp.search({ location: c, category: k, limit: 1, offset: 0 })).total, n);
  sandbox.faults.resetStats();
  const gates = createGates(config);
  const t0 = performance.now();
  const watch = watchGate(gates.pagespeed, t0, args.includes('--trace'));
  const spans = new Map<string, [number, number]>();
  const summary = await runPipeline(
    { em: db.orm.em.fork(), providers: services.providers, config, logger: services.logger, clock: services.clock },
    {
      gates,
      progress: (stage) => {
        const t = (performance.now() - t0) / 1000;
        const s = spans.get(stage);
        spans.set(stage, s ? [s[0], t] : [t, t]);
      },
    },
  );
  const makespan = (performance.now() - t0) / 1000;
  watch.stop();
  await flushLedgers();
  const bounds = providerBounds(config, await neededCalls(db, summary), latencyChainS(scale));
  const binding = bounds[0]!;
  const fails = await failuresByCause(db);
  const stats = sandbox.faults.stats();
  const gate = watch.summary();
  const c = summary.counts;
  const ratio = makespan / binding.boundS;
  console.log(`load average after (1, 5, 15 min): ${load()}`);
  console.log(`\n== pipeline, realistic latency × ${scale}: ${c.sourced} sourced, ${c.assessed} assessed, ${c.emailed} emailed; status ${summary.status}${summary.error ? ` (${summary.error})` : ''} ==`);
  console.log(`FAILED: ${c.assessment_failed} assessments (${fails.ours} for causes of ours, ${fails.site} the site's own), ${c.send_failed} sends`);
  for (const cause of fails.causes) console.log(`  ${cause}`);
  for (const b of bounds)
    console.log(`${b.provider.padEnd(9)} needed ${String(b.calls).padStart(5)} calls${b.tokens ? `, ${b.tokens} tokens` : ''}, made ${stats.requests[b.provider]} (${stats.rateLimited[b.provider]} upstream 429s); limit ${b.rule} → ${b.limitS.toFixed(1)} s; bound ${b.boundS.toFixed(1)} s`);
  console.log(`pagespeed gate: mean ${gate.mean.toFixed(1)} in flight, peak ${gate.peak}; no call in flight for ${gate.idle.toFixed(1)} s of the run; back-offs ${JSON.stringify(gate.backoffs)}`);
  console.log(`stage activity (first..last progress, s): ${[...spans].map(([k, [a, b]]) => `${k} ${a.toFixed(1)}..${b.toFixed(1)}`).join(', ')}`);
  console.log(`makespan ${makespan.toFixed(1)} s; binding provider ${binding.provider}, bound ${binding.boundS.toFixed(1)} s (${binding.limitS.toFixed(1)} s of its limit + one latency chain ${(binding.boundS - binding.limitS).toFixed(1)} s)`);
  console.log(`ratio makespan / bound = ${ratio.toFixed(2)} (goal <= ${GOAL})`);
  const problems = [
    ...(summary.status !== 'succeeded' ? [`run ${summary.status}`] : []),
    ...(fails.ours > 0 ? [`${fails.ours} assessments failed for causes of ours`] : []),
    ...(c.send_failed > 0 ? [`${c.send_failed} sends failed`] : []),
    ...(ratio > GOAL ? [`ratio ${ratio.toFixed(2)} > ${GOAL}`] : []),
  ];
  console.log(problems.length ? `RESULT: FAIL (${problems.join('; ')})` : 'RESULT: PASS');
  if (problems.length) process.exitCode = 1;
  await services.close();
  await sandbox.close();
  await db.close();
  await embedded?.close();
}
