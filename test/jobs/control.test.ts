/**
 * Job control: pause is a setting the scheduler honours for scheduled runs (a manual run still runs), it survives
 * a new scheduler (restart), `list` shows last and next runs from the cron expression, and `restartWorker`
 * cancels a running worker and marks its run interrupted.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMetrics } from '../../alerts/metrics.js';
import type { Database } from '../../db/orm.js';
import { loadConfig } from '../../domain/config.js';
import { createLogger } from '../../domain/logger.js';
import type { Services } from '../../domain/services.js';
import { seedDemoTargetsIfEmpty } from '../../domain/targeting/seed.js';
import { createJobControl, isJobPaused, nextCronRun } from '../../jobs/control.js';
import { startScheduler, type Scheduler } from '../../jobs/scheduler.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { testServices } from '../helpers/services.js';

type Ctx = { db: Database; services: Services };
const test = suite<Ctx>(`job control (${DB_KIND})`);

test.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.services = await testServices(ctx.db);
});
test.after(async (ctx) => {
  await ctx.services.close();
  await ctx.db.close();
});
test.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  await seedDemoTargetsIfEmpty(ctx.db.orm.em.fork(), new Date());
});

function start(ctx: Ctx, onJobDone?: (name: string) => void): Promise<Scheduler> {
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', JOBS_IN_PROCESS: 'false' });
  return startScheduler({
    config,
    logger: createLogger('silent'),
    metrics: createMetrics(),
    orm: ctx.db.orm,
    clock: ctx.services.clock,
    jobEnv: { DATABASE_URL: ctx.db.url, SANDBOX_URL: ctx.services.sandboxUrl!, LOG_LEVEL: 'silent' },
    onJobDone,
  });
}

const runs = async (ctx: Ctx) =>
  (await ctx.db.orm.em.getConnection().execute<{ n: number }[]>('select count(*)::int as n from job_runs'))[0]!.n;

test('nextCronRun follows the cron expression in UTC', () => {
  assert.equal(nextCronRun('0 2 * * *', new Date('2026-11-29T01:00:00Z')), new Date('2026-11-29T02:00:00Z'));
  assert.equal(nextCronRun('0 2 * * *', new Date('2026-11-29T03:00:00Z')), new Date('2026-11-30T02:00:00Z'));
  assert.is(nextCronRun('not a cron', new Date()), undefined);
});

test('a paused job is skipped when its schedule fires, even after a restart; a manual run still runs; resume restores it', async (ctx) => {
  const control = createJobControl({ orm: ctx.db.orm, config: ctx.services.config, clock: ctx.services.clock });
  await control.pause('daily-pipeline', 'test:op');
  assert.ok(await isJobPaused(ctx.db.orm.em.fork(), 'daily-pipeline'));
  let s = await start(ctx);
  try {
    await s.fire('daily-pipeline'); // what the job's cron timer calls
    await new Promise((r) => setTimeout(r, 300));
    assert.not.ok(s.isRunning('daily-pipeline'), 'scheduled run skipped while paused');
  } finally {
    await s.stop(1000);
  }
  assert.is(await runs(ctx), 0);
  // a new scheduler (a restart) still sees the pause
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  s = await start(ctx, (name) => name === 'daily-pipeline' && done());
  try {
    await s.fire('daily-pipeline');
    await new Promise((r) => setTimeout(r, 300));
    assert.not.ok(s.isRunning('daily-pipeline'));
    const jobs = await createJobControl({ orm: ctx.db.orm, config: ctx.services.config, clock: ctx.services.clock, scheduler: s }).list();
    assert.is(jobs[0]?.paused, true);
    assert.ok(await s.runNow('daily-pipeline', 'manual:test'), 'a manual run is not blocked by the pause');
    await finished;
    await control.resume('daily-pipeline', 'test:op');
    assert.not.ok(await isJobPaused(ctx.db.orm.em.fork(), 'daily-pipeline'));
  } finally {
    await s.stop(5000);
  }
  const rows = await ctx.db.orm.em.getConnection().execute<{ trigger: string; status: string }[]>('select trigger, status from job_runs');
  assert.equal(rows, [{ trigger: 'manual:test', status: 'succeeded' }]);
  const [setting] = await ctx.db.orm.em.getConnection().execute<{ updated_by: string }[]>(`select updated_by from settings where key = 'jobs.paused.daily-pipeline'`);
  assert.is(setting?.updated_by, 'test:op');
});

test('list shows the last run; restartWorker cancels a running worker and marks its run interrupted', async (ctx) => {
  const s = await start(ctx);
  const control = createJobControl({ orm: ctx.db.orm, config: ctx.services.config, clock: ctx.services.clock, scheduler: s });
  try {
    assert.ok(await s.runNow('daily-pipeline', 'manual:test'));
    // wait for the run row
    for (let i = 0; i < 600 && (await runs(ctx)) === 0; i++) await new Promise((r) => setTimeout(r, 50));
    const out = await control.restartWorker('daily-pipeline', 'slack:UOPS');
    assert.ok(out.restarted, out.detail);
    assert.not.ok(s.isRunning('daily-pipeline'));
    const [run] = await ctx.db.orm.em.getConnection().execute<{ status: string; error: string }[]>('select status, error from job_runs order by id desc limit 1');
    assert.is(run?.status, 'interrupted');
    assert.match(run?.error ?? '', /restarted by slack:UOPS/);
    const jobs = await control.list();
    assert.is(jobs[0]?.lastRun?.status, 'interrupted');
    assert.ok(jobs[0]?.nextRunAt instanceof Date);
    assert.is((await control.restartWorker('daily-pipeline', 'slack:UOPS')).restarted, false);
  } finally {
    await s.stop(1000);
  }
});

test('without a scheduler (the CLI) a run is recorded in job_runs like a scheduled one, and refused while one is marked running', async (ctx) => {
  const control = createJobControl({ orm: ctx.db.orm, config: ctx.services.config, clock: ctx.services.clock, jobEnv: { DATABASE_URL: ctx.db.url, LOG_LEVEL: 'silent' } });
  const out = await control.runNow('quota-reset', 'cli:tester');
  assert.ok(out.started, out.detail);
  const rows = await ctx.db.orm.em.getConnection().execute<{ status: string; trigger: string; counts: Record<string, number>; finished_at: Date | null }[]>(
    `select status, trigger, counts, finished_at from job_runs where job = 'quota-reset'`,
  );
  assert.is(rows.length, 1);
  assert.is(rows[0]!.status, 'succeeded');
  assert.is(rows[0]!.trigger, 'manual:cli:tester');
  assert.ok(rows[0]!.finished_at);
  assert.ok(typeof rows[0]!.counts.targets === 'number', JSON.stringify(rows[0]!.counts));

  await ctx.db.orm.em.getConnection().execute(`insert into job_runs (job, status, trigger, started_at, heartbeat_at, counts) values ('quota-reset', 'running', 'schedule', now(), now(), '{}')`);
  const busy = await control.runNow('quota-reset', 'cli:tester');
  assert.is(busy.started, false);
  assert.match(busy.detail, /already running/);
});

test('unknown jobs are refused with the list of jobs', async (ctx) => {
  const control = createJobControl({ orm: ctx.db.orm, config: ctx.services.config, clock: ctx.services.clock });
  try {
    await control.pause('nope', 'x');
    assert.unreachable('should throw');
  } catch (err) {
    assert.match((err as Error).message, /unknown job "nope"; jobs: daily-pipeline/);
  }
});

test.run();
