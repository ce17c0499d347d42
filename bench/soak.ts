/**
 * `npm run bench -- soak`: 24 h of the job catalog's schedules in accelerated time, with sandbox faults switching on
 * and off, in one process composed like `npm start` (services with the provider sandbox, runbook context, the Bree
 * scheduler with every job in-process, the ops-event notifier and the Slack outbox poster against a local fake Slack
 * Web API).
 *
 * How time is accelerated: the scheduler is started without Bree's cron timers (`autoStart: false`). The driver
 * computes every fire time of every catalog job in the window from the same cron expressions Bree would use
 * (domain/schedule.ts, cron-parser), jumps an {@link AcceleratedClock} to each fire time in order, fires the due jobs
 * through `Scheduler.fire` (the path Bree's timer takes: pause respected, never overlapping a running run), waits for
 * them to finish, then lets the notifier and the outbox poster deliver what is due (as their 250 ms loops would).
 * Inside a step time flows at wall speed, so timeouts, limiter waits and job durations are real; the idle time
 * between fire times is skipped. Everything that reads the clock (breaker cool-downs, alert `for` durations,
 * escalation deadlines, quota days, the watchdog, Retry-After holds) sees the accelerated time. The 1 post/s
 * per-channel gap of the poster is wall-clock based and is set to 0 here (a fire step is ≥ 30 virtual seconds).
 *
 * Faults (the sandbox's fault injection) switch on and off on a fixed plan across the day, and the fake Slack
 * answers some posts with 429 + Retry-After. Measured:
 * - RSS (and heap) after a forced GC at the end of the first virtual hour (warm-up: modules loaded, JIT done) and at
 *   the end; goal growth ≤ 10 %.
 * - duplicate posts: the texts Slack received (`chat.postMessage`, answered 200) against the posts the system
 *   recorded as made (the text of every sent `slack_outbox` post/reply/DM row and of every posted `ops_events` row
 *   that is not a quiet type); a text received more often than recorded is a duplicate; goal 0. Also counted:
 *   recorded posts Slack never received, outbox rows never sent and events never posted.
 * - missed runs: fire times with no run (fire skipped, no completion, or — for jobs whose runs are recorded in
 *   `job_runs` — no row started at that fire time), plus the product's own watchdog `job.missed` events; goal 0.
 * - double-run jobs: fire times with more than one run, overlapping `job_runs` of one job, and a batch that did work
 *   while a daily run was running; goal 0. Note that the driver waits for a step's runs before the next fire time,
 *   so a job cannot overlap its own next fire here (Bree's no-overlap rule is tested in test/jobs); this counts what
 *   the product does at one instant (the 02:00 daily run and the :00 assessment batch fire together).
 * - failed runs: goal 0 (the fault plan is survivable; a job failing is a finding).
 * - health posts without a change (each `health.changed` must start where the previous one ended) count as
 *   duplicates.
 *
 * Not exercised: worker threads (every job runs in-process so that all of them read the accelerated clock) and
 * wall-clock throttles.
 *
 * Options: --days N (default 1), --start ISO (default 2028-10-01T00:00Z: a Sunday that is the first day of a
 * quarter, so the weekly, monthly and quarterly jobs fall inside the first day), --keep (keep the database).
 * Uses a fresh database `lf_soak_<pid>` on the DATABASE_URL server (dropped afterwards), else an in-memory PGlite.
 * Exits 1 when a goal is missed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { webApi } from '@slack/bolt';
import { createMetrics } from '../alerts/metrics.js';
import { createNotifier } from '../alerts/notifier.js';
import { renderSlackMessage } from '../bot/render/slack-messages.js';
import { createSlackPoster, webClientTransport } from '../alerts/slack-outbox.js';
import { openDatabase } from '../db/orm.js';
import { AcceleratedClock } from '../domain/clock.js';
import { loadConfig } from '../domain/config.js';
import { createLogger } from '../domain/logger.js';
import { sandboxAdmin } from '../domain/sandbox/index.js';
import { nextCronRun } from '../domain/schedule.js';
import { buildServices } from '../domain/services.js';
import { seedDemoTargetsIfEmpty } from '../domain/targeting/seed.js';
import { jobCatalog } from '../jobs/catalog.js';
import { createJobControl } from '../jobs/control.js';
import { mainJobServices } from '../jobs/job-context.js';
import { startScheduler, type Scheduler } from '../jobs/scheduler.js';
import { processProbes } from '../runbooks/probes.js';
import { startFakeSlackApi } from '../test/helpers/slack.js';
import { FAULT_PLAN, HOUR, SLACK_429_AT_H, gcFunction, opt, soakDatabase } from './soak-setup.js';
import { accountSoak } from './soak-accounting.js';


/** Everything the soak runs: database, services, sandbox admin, fake Slack, scheduler, notifier and poster. */
export interface SoakRig {
  soakDb: Awaited<ReturnType<typeof soakDatabase>> | undefined;
  backupDir: string;
  db: Awaited<ReturnType<typeof openDatabase>>;
  fake: Awaited<ReturnType<typeof startFakeSlackApi>>;
  config: ReturnType<typeof loadConfig>;
  clock: AcceleratedClock;
  services: Awaited<ReturnType<typeof buildServices>>;
  admin: ReturnType<typeof sandboxAdmin>;
  scheduler: Scheduler;
  notifier: ReturnType<typeof createNotifier>;
  poster: ReturnType<typeof createSlackPoster>;
  /** Completed runs per job, and the first line of each failure. */
  completions: Map<string, number>;
  failures: Map<string, string[]>;
}

/** Composes the process like `npm start`, on an accelerated clock at `start` and a scheduler without timers. */
async function startRig(start: Date): Promise<SoakRig> {
  const soakDb = process.env.DATABASE_URL ? await soakDatabase(process.env.DATABASE_URL) : undefined;
  const backupDir = await mkdtemp(join(tmpdir(), 'lf-soak-backups-'));
  // without DATABASE_URL: an in-memory PGlite opened as the service opens it (so the nightly backup dumps its data
  // directory on the main thread, as in `npm start`)
  const db = await openDatabase({ url: soakDb?.url, dataDir: ':memory:', poolMax: 10 });
  const url = db.url;
  await db.orm.getMigrator().up();
  const fake = await startFakeSlackApi();
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    SANDBOX_PORT: '0',
    SLACK_BOT_TOKEN: 'xoxb-soak',
    SLACK_API_URL: fake.url,
    JOBS_IN_PROCESS: 'true',
    BACKUP_DIR: backupDir,
    ...(soakDb ? { DATABASE_URL: url } : {}), // else the embedded default, as `npm start` without DATABASE_URL
  });
  const clock = new AcceleratedClock(start);
  const logger = createLogger('silent');
  const services = await buildServices(config, { db, logger, clock });
  const admin = sandboxAdmin(services.sandboxUrl!);
  await seedDemoTargetsIfEmpty(db.orm.em.fork(), clock.now());
  const metrics = createMetrics();
  let scheduler: Scheduler | undefined;
  const jobEnv = { DATABASE_URL: url, SANDBOX_URL: services.sandboxUrl! };
  const runbooks = { services, em: () => db.orm.em.fork(), jobs: createJobControl({ orm: db.orm, config, clock, scheduler: () => scheduler, jobEnv }), probes: processProbes() };
  const jobServices = mainJobServices({ em: () => db.orm.em.fork(), config, clock, logger, runbooks });
  const client = new webApi.WebClient('xoxb-soak', { slackApiUrl: fake.url, rejectRateLimitedCalls: true, retryConfig: { retries: 0 } });
  const notifier = createNotifier({ orm: db.orm, logger, metrics, config, clock });
  const poster = createSlackPoster({ orm: db.orm, logger, clock, transport: webClientTransport(client), render: renderSlackMessage, channelGapMs: 0 });

  const completions = new Map<string, number>();
  const failures = new Map<string, string[]>();
  scheduler = await startScheduler({
    config,
    logger,
    metrics,
    orm: db.orm,
    clock,
    jobEnv,
    jobs: jobServices,
    autoStart: false,
    onJobDone: (name, outcome) => {
      completions.set(name, (completions.get(name) ?? 0) + 1);
      const failed = outcome.error ?? ((outcome.result as { status?: string } | undefined)?.status === 'failed' ? 'status failed' : undefined);
      if (failed) failures.set(name, [...(failures.get(name) ?? []), failed.split('\n')[0]!.slice(0, 160)]);
    },
  });
  return { soakDb, backupDir, db, fake, config, clock, services, admin, scheduler, notifier, poster, completions, failures };
}

/** The plan: the jobs due at each instant (fire times in [start, end)), fault switches and Slack 429s as actions. */
export interface SoakPlan {
  catalog: ReturnType<typeof jobCatalog>;
  steps: Map<number, string[]>;
  actions: { at: number; what: string; run: () => Promise<void> }[];
  instants: number[];
}

/** Every fire time of every catalog job in [start, end), plus the fault plan's switches and the Slack 429s. */
function planSoak(rig: SoakRig, start: Date, end: Date, days: number): SoakPlan {
  const catalog = jobCatalog(rig.config);
  const steps = new Map<number, string[]>();
  for (const job of catalog) {
    let t = nextCronRun(job.cron, new Date(start.getTime() - 1));
    while (t && t < end) {
      const at = t.getTime();
      steps.set(at, [...(steps.get(at) ?? []), job.name]);
      t = nextCronRun(job.cron, t);
    }
  }
  // fault switches and Slack 429s, as actions at instants
  const actions: SoakPlan['actions'] = [];
  for (let d = 0; d < days; d++) {
    const day = start.getTime() + d * 24 * HOUR;
    for (const f of FAULT_PLAN) {
      const on = day + f.atH * HOUR;
      actions.push({ at: on, what: `${f.provider} ${f.spec.fault} on`, run: async () => void (await rig.admin.setFault(f.provider, f.spec)) });
      actions.push({ at: on + f.forMin * 60_000, what: `${f.provider} off`, run: async () => void (await rig.admin.clearFaults(f.provider)) });
    }
    for (const h of SLACK_429_AT_H) actions.push({ at: day + h * HOUR, what: 'slack 429', run: async () => rig.fake.rateLimitNext('chat.postMessage', 3, 1) });
  }
  actions.sort((a, b) => a.at - b.at);
  for (const a of actions) if (!steps.has(a.at)) steps.set(a.at, []);
  const instants = [...steps.keys()].filter((t) => t < end.getTime()).sort((a, b) => a - b);
  return { catalog, steps, actions, instants };
}

/** A memory reading after forced GCs: RSS and heap in bytes, at the accelerated clock's time. */
export type MemoryReading = { rss: number; heap: number; at: string };

/** What the drive observed: fires made and skipped, Slack calls folded into counters, memory readings. */
export interface SoakObservations {
  fireLog: Map<string, number[]>;
  skipped: { job: string; at: string }[];
  received: { posts: number; updates: number; limited: number; byChannel: Map<string, number>; texts: Map<string, number> };
  first: MemoryReading;
  baseline: MemoryReading;
  last: MemoryReading;
}

/**
 * Drives the plan: jumps the clock to each instant, runs the due actions, fires the due jobs, waits for them, lets
 * the notifier and poster deliver; folds Slack calls and reads memory each virtual hour.
 */
async function driveSoak(rig: SoakRig, plan: SoakPlan, start: Date, end: Date): Promise<SoakObservations> {
  const { clock, fake, scheduler } = rig;
  const gc = gcFunction();
  // Slack calls are folded into counters each hour (the fake keeps every call in memory otherwise)
  const received: SoakObservations['received'] = { posts: 0, updates: 0, limited: 0, byChannel: new Map(), texts: new Map() };
  const fold = () => {
    for (const c of fake.calls) {
      if (c.method === 'chat.postMessage') {
        received.posts++;
        const text = String(c.body.text);
        received.texts.set(text, (received.texts.get(text) ?? 0) + 1);
        const ch = String(c.body.channel);
        received.byChannel.set(ch, (received.byChannel.get(ch) ?? 0) + 1);
      } else if (c.method === 'chat.update') received.updates++;
      else if (c.method.endsWith('#429')) received.limited++;
    }
    fake.calls.length = 0;
  };
  const memory = (): MemoryReading => {
    gc();
    gc();
    const m = process.memoryUsage();
    return { rss: m.rss, heap: m.heapUsed, at: clock.now().toISOString() };
  };
  const drain = async () => {
    for (let i = 0; i < 100; i++) {
      const n = (await rig.notifier.tick()) + (await rig.poster.tick());
      if (n === 0) break;
    }
  };

  const skipped: SoakObservations['skipped'] = [];
  const fireLog = new Map<string, number[]>();
  let baseline: MemoryReading | undefined;
  const first = memory();
  let nextAction = 0;
  let nextHour = start.getTime() + HOUR;
  let lastProgress = Date.now();
  for (const at of plan.instants) {
    clock.jumpTo(at);
    while (nextAction < plan.actions.length && plan.actions[nextAction]!.at <= at) await plan.actions[nextAction++]!.run();
    const due = plan.steps.get(at)!;
    for (const name of due) {
      const started = await scheduler.fire(name);
      if (started) fireLog.set(name, [...(fireLog.get(name) ?? []), at]);
      else skipped.push({ job: name, at: new Date(at).toISOString() });
    }
    // wait for this step's runs (in-process jobs finish on their own; the cap only guards a hang)
    const waitStart = Date.now();
    while (due.some((n) => scheduler.isRunning(n)) && Date.now() - waitStart < 10 * 60_000) await new Promise((r) => setTimeout(r, 2));
    await drain();
    if (at >= nextHour) {
      fold();
      if (!baseline) baseline = memory();
      nextHour += HOUR;
    }
    if (Date.now() - lastProgress > 60_000) {
      lastProgress = Date.now();
      console.log(`  … ${new Date(at).toISOString()} (${((at - start.getTime()) / (end.getTime() - start.getTime()) * 100).toFixed(0)} %)`);
    }
  }
  // the end of the window: deliver what is due, then read memory
  clock.jumpTo(end);
  await drain();
  fold();
  const last = memory();
  return { fireLog, skipped, received, first, baseline: baseline ?? first, last };
}

/** Stops everything the rig started; drops the soak database unless `keep`. */
async function stopRig(rig: SoakRig, keep: boolean): Promise<void> {
  await rig.scheduler.stop(1000);
  await rig.services.close();
  await rig.db.close();
  await rig.fake.close();
  if (rig.soakDb && !keep) await rig.soakDb.drop();
  await rm(rig.backupDir, { recursive: true, force: true });
}

/** `npm run bench -- soak [--days N] [--start ISO] [--keep]`: see the module comment. Sets exit code 1 when a goal is missed. */
export async function run(args: string[]): Promise<void> {
  const days = Number(opt(args, 'days') ?? 1);
  const start = new Date(opt(args, 'start') ?? '2028-10-01T00:00:00Z');
  if (!(days > 0) || !Number.isFinite(start.getTime())) throw new Error('usage: npm run bench -- soak [--days N] [--start ISO] [--keep]');
  const end = new Date(start.getTime() + days * 24 * HOUR);
  const wallStart = Date.now();
  const rig = await startRig(start);
  const plan = planSoak(rig, start, end, days);
  const fires = plan.instants.reduce((n, t) => n + plan.steps.get(t)!.length, 0);
  const inWindow = plan.actions.filter((a) => a.at < end.getTime());
  console.log(
    `database: ${rig.soakDb ? 'PostgreSQL (DATABASE_URL), fresh database' : 'embedded PGlite'}; ${start.toISOString()} → ${end.toISOString()} (${days} day(s)); ` +
      `${plan.catalog.length} jobs, ${fires} scheduled fires, ${inWindow.filter((a) => a.what.endsWith(' on')).length} fault windows, ${inWindow.filter((a) => a.what === 'slack 429').length} Slack 429s`,
  );
  const obs = await driveSoak(rig, plan, start, end);
  const goals = await accountSoak(rig, plan, obs, days, Date.now() - wallStart);
  console.log('\n== soak results');
  for (const g of goals) console.log(`  ${g.ok ? 'ok  ' : 'FAIL'} ${g.name}: ${g.value} (goal ${g.goal})`);
  await stopRig(rig, args.includes('--keep'));
  if (goals.some((g) => !g.ok)) process.exitCode = 1;
}
