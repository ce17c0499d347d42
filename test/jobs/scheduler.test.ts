import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMetrics, type Metrics } from '../../alerts/metrics.js';
import type { Database } from '../../db/orm.js';
import { loadConfig } from '../../domain/config.js';
import { createLogger } from '../../domain/logger.js';
import type { Services } from '../../domain/services.js';
import { seedDemoTargetsIfEmpty } from '../../domain/targeting/seed.js';
import { startScheduler, type Scheduler } from '../../jobs/scheduler.js';
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

async function start(ctx: Ctx, inProcess: boolean, metrics: Metrics, onJobDone?: (name: string, o: { result?: unknown; error?: string }) => void): Promise<Scheduler> {
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', JOBS_IN_PROCESS: String(inProcess) });
  return startScheduler({
    config,
    logger: createLogger('silent'),
    metrics,
    orm: ctx.db.orm,
    clock: ctx.services.clock,
    jobEnv: { DATABASE_URL: ctx.db.url, SANDBOX_URL: ctx.services.sandboxUrl!, LOG_LEVEL: 'silent' },
    onJobDone,
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

scheduler.run();
