import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMetrics, type Metrics } from '../../alerts/metrics.js';
import type { Database } from '../../db/orm.js';
import { loadConfig } from '../../domain/config.js';
import { createLogger } from '../../domain/logger.js';
import type { Services } from '../../domain/services.js';
import { seedDemoTargetsIfEmpty } from '../../domain/targeting/seed.js';
import { startScheduler, type Scheduler, type SchedulerDeps } from '../../jobs/scheduler.js';
import { pausedKey } from '../../jobs/control.js';
import { AcceleratedClock } from '../../domain/clock.js';
import { setSetting } from '../../domain/settings.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { testServices } from '../helpers/services.js';

type Ctx = { db: Database; services: Services };
const scheduler = suite<Ctx>(`scheduler (${DB_KIND})`);

scheduler.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.services = await testServices(ctx.db);
});
scheduler.after(async (ctx) => {
  await ctx.services.close();
  await ctx.db.close();
});
scheduler.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  await seedDemoTargetsIfEmpty(ctx.db.orm.em.fork(), new Date());
});

async function start(
  ctx: Ctx,
  inProcess: boolean,
  metrics: Metrics,
  onJobDone?: (name: string, o: { result?: unknown; error?: string }) => void,
  extra: Partial<SchedulerDeps> = {},
): Promise<Scheduler> {
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', JOBS_IN_PROCESS: String(inProcess) });
  return startScheduler({
    config,
    logger: createLogger('silent'),
    metrics,
    orm: ctx.db.orm,
    clock: ctx.services.clock,
    jobEnv: { DATABASE_URL: ctx.db.url, SANDBOX_URL: ctx.services.sandboxUrl!, LOG_LEVEL: 'silent' },
    onJobDone,
    ...extra,
  });
}

async function counter(metrics: Metrics, stage: string): Promise<number> {
  const m = await metrics.businessesProcessed.get();
  return m.values.find((v) => v.labels.stage === stage)?.value ?? 0;
}

for (const inProcess of [true, false]) {
  scheduler(`runs the daily pipeline ${inProcess ? 'in-process' : 'in a worker thread'} and counts its progress on the main registry`, async (ctx) => {
    const metrics = createMetrics();
    let resolveDone!: (o: { result?: unknown; error?: string }) => void;
    const done = new Promise<{ result?: unknown; error?: string }>((r) => (resolveDone = r));
    const s = await start(ctx, inProcess, metrics, (n, o) => n === 'daily-pipeline' && resolveDone(o)); // not the 30-second ticks
    try {
      assert.ok(await s.runNow('daily-pipeline', 'test'));
      assert.not.ok(await s.runNow('daily-pipeline', 'test'), 'no overlapping run of the same job');
      const outcome = await done;
      assert.is(outcome.error, undefined);
      const result = outcome.result as { status: string; counts: Record<string, number> };
      assert.is(result.status, 'succeeded');
      for (const stage of ['sourced', 'assessed', 'scored', 'personalized', 'emailed']) {
        assert.is(await counter(metrics, stage), result.counts[stage], `${stage} counted in the main thread`);
        assert.ok((await counter(metrics, stage)) > 0);
      }
      const calls = (await metrics.providerRequests.get()).values.filter((v) => v.labels.status === 'ok');
      for (const provider of ['yelp', 'pagespeed', 'openai', 'sendgrid'])
        assert.ok(
          calls.some((v) => v.labels.provider === provider && v.value > 0),
          `${provider} gateway calls made in the job appear on the main registry`,
        );
      const [run] = await ctx.db.orm.em.getConnection().execute<{ trigger: string; status: string }[]>('select trigger, status from job_runs');
      assert.equal(run, { trigger: 'test', status: 'succeeded' });
    } finally {
      await s.stop(2000);
    }
  });
}

scheduler('stopping mid-run ends the worker and marks its run interrupted', async (ctx) => {
  await ctx.db.orm.em.getConnection().execute('update targets set daily_quota = 400');
  const s = await start(ctx, false, createMetrics());
  await s.runNow('daily-pipeline', 'test');
  const conn = ctx.db.orm.em.getConnection();
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const rows = await conn.execute<{ n: string }[]>("select count(*) as n from businesses");
    if (Number(rows[0]!.n) > 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const t0 = Date.now();
  await s.stop(200);
  assert.ok(Date.now() - t0 < 3000, 'stop returns promptly');
  assert.not.ok(s.isRunning('daily-pipeline'));
  const [run] = await conn.execute<{ status: string; error: string | null }[]>('select status, error from job_runs');
  assert.is(run!.status, 'interrupted');
  assert.match(run!.error ?? '', 'shutdown');
});

scheduler('without timers (autoStart false) nothing is scheduled; fire() runs a job as its cron timer would, and not when paused', async (ctx) => {
  const done: string[] = [];
  const s = await start(ctx, true, createMetrics(), (name, o) => void done.push(`${name}:${o.error ? 'failed' : 'done'}`), { autoStart: false });
  try {
    assert.is(s.armedTimers() + s.bree.timeouts.size + s.bree.intervals.size, 0, 'no cron timer armed');
    assert.ok(await s.fire('quota-reset'));
    // the run row is closed after the result message
    const conn = ctx.db.orm.em.getConnection();
    const closed = async () => (await conn.execute<{ n: string }[]>(`select count(*) as n from job_runs where job = 'quota-reset' and status <> 'running'`))[0]!.n === '1';
    for (let i = 0; i < 500 && !(await closed()); i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(done, ['quota-reset:done']);
    const rows = await conn.execute<{ trigger: string; status: string }[]>(`select trigger, status from job_runs where job = 'quota-reset'`);
    assert.equal(rows, [{ trigger: 'schedule', status: 'succeeded' }]);

    await setSetting(ctx.db.orm.em.fork(), pausedKey('quota-reset'), true, 'U_OPS', new Date());
    assert.is(await s.fire('quota-reset'), false, 'a paused job is not fired');
    const after = await ctx.db.orm.em.getConnection().execute<{ n: string }[]>(`select count(*) as n from job_runs where job = 'quota-reset'`);
    assert.is(Number(after[0]!.n), 1);
  } finally {
    await s.stop(1000);
  }
});

scheduler('the daily run and the batches never work at once: a batch started beside the run skips; the run waits for a batch under way', async (ctx) => {
  const results = new Map<string, unknown[]>();
  const doneAt = new Map<string, number>();
  const s = await start(
    ctx,
    true,
    createMetrics(),
    (name, o) => {
      results.set(name, [...(results.get(name) ?? []), o.result ?? o.error]);
      doneAt.set(name, Date.now());
    },
    { autoStart: false },
  );
  const conn = ctx.db.orm.em.getConnection();
  const idle = async () => {
    for (let i = 0; i < 3000 && ['daily-pipeline', 'assessment-batch', 'email-batch'].some((j) => s.isRunning(j)); i++) await new Promise((r) => setTimeout(r, 10));
  };
  try {
    // as at 02:00: the run first, then the :00 batch in the same instant
    assert.ok(await s.fire('daily-pipeline'));
    assert.ok(await s.fire('assessment-batch'));
    await idle();
    assert.equal(results.get('assessment-batch'), [{ status: 'skipped', reason: 'pipeline_running', skipped: 1 }]);
    assert.is((results.get('daily-pipeline')?.[0] as { status: string }).status, 'succeeded');

    // a batch under way: the run starts only after it finished
    await conn.execute(`update businesses set status = 'assessment_pending' where id in (select id from businesses limit 3)`);
    assert.ok(await s.fire('assessment-batch'));
    assert.ok(await s.fire('daily-pipeline'));
    await idle();
    const [run] = await conn.execute<{ started_at: Date }[]>(`select started_at from job_runs where job = 'daily-pipeline' order by id desc limit 1`);
    assert.ok(new Date(run!.started_at).getTime() >= doneAt.get('assessment-batch')!, 'the run started after the batch finished');
    assert.is((results.get('assessment-batch')?.[1] as { status: string }).status, 'succeeded');
  } finally {
    await s.stop(1000);
  }
});

scheduler('AcceleratedClock: flows at wall speed from each jump, never goes back', async () => {
  const c = new AcceleratedClock('2028-10-01T00:00:00Z');
  const t0 = c.now().getTime();
  await new Promise((r) => setTimeout(r, 30));
  assert.ok(c.now().getTime() - t0 >= 25, 'time flows');
  assert.is(c.jumpTo(Date.parse('2028-10-01T06:00:00Z')).toISOString(), '2028-10-01T06:00:00.000Z');
  const back = c.jumpTo(Date.parse('2028-10-01T05:00:00Z'));
  assert.ok(back.getTime() >= Date.parse('2028-10-01T06:00:00Z'), 'a jump into the past keeps the time');
});

scheduler.run();
