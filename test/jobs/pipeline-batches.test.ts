/**
 * The assessment and email batches between daily runs, on a real database and sandbox: what a daily run left under a
 * PageSpeed outage is retried (not before the spacing), assessed, scored, personalised and emailed by the batches;
 * a paused pipeline or a running daily run makes them skip without touching anything.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { ManualClock } from '../../domain/clock.js';
import { runPipeline } from '../../domain/pipeline/run.js';
import { sandboxAdmin } from '../../domain/sandbox/index.js';
import type { Services } from '../../domain/services.js';
import { seedDemoTargetsIfEmpty } from '../../domain/targeting/seed.js';
import assessmentBatch from '../../jobs/assessment-batch.js';
import { jobCatalog } from '../../jobs/catalog.js';
import { pausedKey } from '../../jobs/control.js';
import { setSetting } from '../../domain/settings.js';
import emailBatch from '../../jobs/email-batch.js';
import { jobContext, mainJobServices } from '../../jobs/job-context.js';
import type { JobData, JobReport, JobServices } from '../../jobs/job-types.js';
import { RETRY_SPACING_MS } from '../../jobs/pipeline-batches.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { pipelineDeps, testServices } from '../helpers/services.js';

type Ctx = { db: Database; services: Services; clock: ManualClock; jobs: JobServices };
const t = suite<Ctx>(`assessment and email batches (${DB_KIND})`);

t.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.clock = new ManualClock('2026-11-29T06:00:00Z');
  ctx.services = await testServices(ctx.db, {}, { clock: ctx.clock });
  const s = ctx.services;
  ctx.jobs = mainJobServices({ em: () => s.orm.em.fork(), config: s.config, clock: s.clock, logger: s.logger, runbooks: runbookContext(s) });
});
t.after(async (ctx) => {
  await sandboxAdmin(ctx.services.sandboxUrl!).clearFaults();
  await ctx.services.close();
  await ctx.db.close();
});
t.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  await sandboxAdmin(ctx.services.sandboxUrl!).clearFaults();
  await seedDemoTargetsIfEmpty(ctx.db.orm.em.fork(), ctx.clock.now());
});

const sql = <T>(ctx: Ctx, q: string, p: unknown[] = []) => ctx.db.orm.em.getConnection().execute<T[]>(q, p);
const byStatus = async (ctx: Ctx) =>
  Object.fromEntries((await sql<{ status: string; n: string }>(ctx, 'select status, count(*) as n from businesses group by status')).map((r) => [r.status, Number(r.n)]));
const noReport = () => {};
/** The batches as the service runs them in-process: with its own services. */
const assessmentRun = (ctx: Ctx, data: JobData, report: JobReport) => assessmentBatch(jobContext(ctx.jobs, 'assessment-batch', data, report));
const emailRun = (ctx: Ctx, data: JobData, report: JobReport) => emailBatch(jobContext(ctx.jobs, 'email-batch', data, report));

t('both batches are in the catalog, every 15 minutes, 7 minutes apart', (ctx) => {
  const catalog = jobCatalog(ctx.services.config);
  const a = catalog.find((j) => j.name === 'assessment-batch');
  const e = catalog.find((j) => j.name === 'email-batch');
  assert.is(a?.cron, '*/15 * * * *');
  assert.is(e?.cron, '7-59/15 * * * *');
  assert.is(a?.tracking, undefined, 'runs recorded by the scheduler, so the watchdog watches them');
});

t('a PageSpeed outage during the daily run: the batches finish the work once it is over', async (ctx) => {
  const admin = sandboxAdmin(ctx.services.sandboxUrl!);
  await admin.setFault('pagespeed', { fault: 'server_error' });
  const run = await runPipeline(pipelineDeps(ctx.services), { trigger: 'test' });
  assert.ok(run.counts.sourced > 0);
  assert.is(run.counts.emailed, 0, 'nothing assessed, nothing emailed');
  const failed = (await byStatus(ctx)).assessment_failed ?? 0;
  assert.ok(failed > 0, 'assessments failed under the outage');
  await admin.clearFaults();

  // within the retry spacing: nothing is retried
  ctx.clock.advance(15 * 60_000);
  const early = await assessmentRun(ctx, { env: {} }, noReport);
  assert.equal(early, { status: 'succeeded' });
  assert.is((await byStatus(ctx)).assessment_failed, failed);

  ctx.clock.advance(RETRY_SPACING_MS);
  const progress: Record<string, number> = {};
  const a = await assessmentRun(ctx, { env: {} }, (s) => void (s.kind === 'progress' && (progress[s.stage] = (progress[s.stage] ?? 0) + s.n)));
  assert.is(a.status, 'succeeded');
  if (a.status !== 'succeeded') return;
  assert.is(a.assessment_retried, failed);
  assert.ok((a.assessed ?? 0) > 0 && (a.scored ?? 0) > 0, JSON.stringify(a));
  assert.is(progress.assessed, a.assessed, 'progress reported to the main thread');

  ctx.clock.advance(7 * 60_000);
  const e = await emailRun(ctx, { env: {} }, noReport);
  assert.is(e.status, 'succeeded');
  if (e.status !== 'succeeded') return;
  assert.ok((e.personalized ?? 0) > 0 && (e.emailed ?? 0) > 0, JSON.stringify(e));
  const [sent] = await sql<{ n: string }>(ctx, `select count(*) as n from emails where status = 'sent'`);
  assert.is(Number(sent!.n), e.emailed);
  // a second email batch finds nothing more to send: no email twice
  const again = await emailRun(ctx, { env: {} }, noReport);
  assert.equal(again, { status: 'succeeded' });
});

t('paused pipeline or a daily run in progress: the batches skip and touch nothing', async (ctx) => {
  await ctx.db.orm.em.getConnection().execute(
    `insert into businesses (yelp_id, name, website, status, target_id, created_at, updated_at)
     select 'y-batch-1', 'Batch Dental', 'https://batch.example', 'assessment_pending', id, now(), now() from targets limit 1`,
  );
  await setSetting(ctx.db.orm.em.fork(), pausedKey('daily-pipeline'), true, 'U_OPS', ctx.clock.now());
  assert.equal(await assessmentRun(ctx, { env: {} }, noReport), { status: 'skipped', reason: 'pipeline_paused', skipped: 1 });
  assert.equal(await emailRun(ctx, { env: {} }, noReport), { status: 'skipped', reason: 'pipeline_paused', skipped: 1 });
  await setSetting(ctx.db.orm.em.fork(), pausedKey('daily-pipeline'), false, 'U_OPS', ctx.clock.now());

  await sql(ctx, `insert into job_runs (job, status, trigger, started_at, heartbeat_at, counts) values ('daily-pipeline', 'running', 'test', ?, ?, '{}')`, [ctx.clock.now(), ctx.clock.now()]);
  assert.equal(await assessmentRun(ctx, { env: {} }, noReport), { status: 'skipped', reason: 'pipeline_running', skipped: 1 });
  assert.equal(await byStatus(ctx), { assessment_pending: 1 }, 'nothing assessed');
});

t.run();
