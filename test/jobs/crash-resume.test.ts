import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMetrics } from '../../alerts/metrics.js';
import type { Database } from '../../db/orm.js';
import { loadConfig } from '../../domain/config.js';
import { createLogger } from '../../domain/logger.js';
import { runPipeline } from '../../domain/pipeline/run.js';
import { startSandbox, type Sandbox } from '../../domain/sandbox/index.js';
import type { Services } from '../../domain/services.js';
import { seedDemoTargetsIfEmpty } from '../../domain/targeting/seed.js';
import { startScheduler } from '../../jobs/scheduler.js';
import { DB_KIND, freshDatabase } from '../helpers/db.js';
import { pipelineDeps, testServices } from '../helpers/services.js';

type Ctx = { db: Database; sandbox: Sandbox; s: Services; sends: string[]; slow: boolean };
const crash = suite<Ctx>(`a pipeline run killed mid-way and restarted (${DB_KIND})`);

crash.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.sandbox = await startSandbox({ seed: 9, port: 0 });
  ctx.s = await testServices(ctx.db, { SANDBOX_URL: ctx.sandbox.url, EMAIL_BATCH_SIZE: '5', SENDGRID_ACTIVITY_SETTLE_SECONDS: '1' });
  ctx.sends = [];
  ctx.slow = true;
  // Every mail/send the provider receives, by our email id (custom_args.email_id); each takes 60 ms so the
  // run can be killed mid-batch.
  ctx.sandbox.interceptors.push(async (route, req) => {
    if (route.provider === 'sendgrid' && req.path.endsWith('/mail/send')) {
      const body = JSON.parse(req.body.toString('utf8')) as { personalizations: { custom_args?: { email_id?: string } }[] };
      ctx.sends.push(body.personalizations[0]?.custom_args?.email_id ?? '?');
      if (ctx.slow) await new Promise((r) => setTimeout(r, 60));
    }
    return undefined;
  });
});
crash.after(async (ctx) => {
  await ctx.s.close();
  await ctx.sandbox.close();
  await ctx.db.close();
});

crash('sends no email twice, and the restart finishes the work', async (ctx) => {
  await seedDemoTargetsIfEmpty(ctx.db.orm.em.fork(), new Date());
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent' });
  const scheduler = await startScheduler({
    config,
    logger: createLogger('silent'),
    metrics: createMetrics(),
    orm: ctx.db.orm,
    clock: ctx.s.clock,
    jobEnv: { DATABASE_URL: ctx.db.url, SANDBOX_URL: ctx.sandbox.url, LOG_LEVEL: 'silent', EMAIL_BATCH_SIZE: '5' },
  });
  await scheduler.runNow('daily-pipeline', 'test');
  const deadline = Date.now() + 60_000;
  while (ctx.sends.length < 7 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  try {
    assert.ok(ctx.sends.length >= 7, 'the worker was sending when killed');
  } finally {
    await scheduler.stop(0); // the worker thread is terminated mid-batch
  }
  const conn = ctx.db.orm.em.getConnection();
  const [run1] = await conn.execute<{ status: string }[]>('select status from job_runs order by id limit 1');
  assert.is(run1!.status, 'interrupted');
  const sentBefore = ctx.sends.length;

  ctx.slow = false;
  const summary = await runPipeline(pipelineDeps(ctx.s), { trigger: 'restart' });
  assert.is(summary.status, 'succeeded', summary.error);

  const dupes = ctx.sends.filter((id, i) => ctx.sends.indexOf(id) !== i);
  assert.equal(dupes, [], 'no email id reached SendGrid twice');
  assert.ok(ctx.sends.length > sentBefore, 'the restart sent the rest');
  const rows = await conn.execute<{ status: string; n: string }[]>('select status, count(*) as n from emails group by status');
  const by = Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  assert.is(by.pending ?? 0, 0, 'nothing left pending');
  // The batch in flight when the thread died is settled by the restart with SendGrid's activity feed (issue #13):
  // sent if SendGrid took it, else sent now — nothing stays `sending`.
  assert.is(by.sending ?? 0, 0, 'nothing left sending');
  const perEmail = new Map<string, number>();
  for (const id of ctx.sends) perEmail.set(id, (perEmail.get(id) ?? 0) + 1);
  assert.is(by.sent ?? 0, perEmail.size, 'every sent email reached SendGrid exactly once');
  const [{ n: perBusiness }] = await conn.execute<{ n: string }[]>(
    'select coalesce(max(c), 0) as n from (select count(*) as c from emails group by business_id) x',
  );
  assert.is(Number(perBusiness), 1, 'one email per business per campaign');
});

crash.run();
