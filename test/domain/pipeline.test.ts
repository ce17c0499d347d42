import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { AppError } from '../../domain/errors.js';
import { runPipeline } from '../../domain/pipeline/run.js';
import type { Services } from '../../domain/services.js';
import { DEMO_TARGETS, seedDemoTargetsIfEmpty } from '../../domain/targeting/seed.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { pipelineDeps, testServices } from '../helpers/services.js';

type Ctx = { db: Database; services: Services };
const pipeline = suite<Ctx>(`pipeline run against the sandbox (${DB_KIND})`);

pipeline.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.services = await testServices(ctx.db, { YELP_BATCH_SIZE: '7' });
});
pipeline.after(async (ctx) => {
  await ctx.services.close();
  await ctx.db.close();
});
pipeline.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  await seedDemoTargetsIfEmpty(ctx.db.orm.em.fork(), new Date());
});

const sql = async <T>(ctx: Ctx, q: string, p: unknown[] = []) => ctx.db.orm.em.getConnection().execute<T[]>(q, p);

pipeline('one run takes businesses through every stage and records counts and events', async (ctx) => {
  const progress: Record<string, number> = {};
  const summary = await runPipeline(pipelineDeps(ctx.services), {
    trigger: 'test',
    progress: (stage, n) => (progress[stage] = (progress[stage] ?? 0) + n),
  });
  assert.is(summary.status, 'succeeded', summary.error);
  const quota = DEMO_TARGETS.reduce((s, t) => s + t.dailyQuota, 0);
  assert.is(summary.counts.sourced, quota, 'each target sources exactly its daily quota');
  for (const stage of ['assessed', 'scored', 'personalized', 'emailed'] as const)
    assert.ok(summary.counts[stage] > 0, `${stage} > 0`);
  assert.equal(progress.sourced, summary.counts.sourced);
  assert.equal(progress.emailed, summary.counts.emailed);

  const [run] = await sql<{ status: string; counts: Record<string, number>; finished_at: Date | null }>(
    ctx,
    'select status, counts, finished_at from job_runs',
  );
  assert.is(run!.status, 'succeeded');
  assert.ok(run!.finished_at);
  assert.is(run!.counts.emailed, summary.counts.emailed);

  const emails = await sql<{ status: string; provider_message_id: string | null; n: string }>(
    ctx,
    "select status, count(*) as n, max(provider_message_id) as provider_message_id from emails group by status",
  );
  const sent = emails.find((e) => e.status === 'sent');
  assert.ok(sent && Number(sent.n) === summary.counts.emailed);
  assert.ok(sent!.provider_message_id, 'SendGrid X-Message-Id kept');

  const byStatus = await sql<{ status: string; n: string }>(ctx, 'select status, count(*) as n from businesses group by status');
  const emailed = byStatus.find((r) => r.status === 'emailed');
  assert.is(Number(emailed?.n), summary.counts.emailed);

  const assessed = await sql<{ performance_score: number | null; insight: string | null }>(
    ctx,
    "select performance_score, insight from assessment_results where status = 'completed' limit 1",
  );
  assert.ok(assessed[0]!.performance_score !== null && assessed[0]!.performance_score >= 0);
  assert.ok(JSON.parse(assessed[0]!.insight!).recommendations.length === 3, 'AI insight is the JSON asked for');

  const events = await sql<{ type: string }>(ctx, 'select type from ops_events order by id');
  assert.equal(events.map((e) => e.type), ['pipeline.run_started', 'pipeline.run_finished']);
});

pipeline('a second run the same day respects the used quota and never duplicates a business', async (ctx) => {
  const first = await runPipeline(pipelineDeps(ctx.services));
  const second = await runPipeline(pipelineDeps(ctx.services));
  assert.is(second.status, 'succeeded');
  assert.is(second.counts.sourced, 0, 'quota already used today');
  const [{ n, d }] = await sql<{ n: string; d: string }>(ctx, 'select count(*) as n, count(distinct yelp_id) as d from businesses');
  assert.is(Number(n), first.counts.sourced);
  assert.is(Number(d), Number(n));
  const [{ e }] = await sql<{ e: string }>(ctx, "select count(*) as e from emails where status = 'sent'");
  assert.is(Number(e), first.counts.emailed, 'no business emailed twice');
});

pipeline('a run while another is running is refused, not overlapped', async (ctx) => {
  await sql(ctx, "insert into job_runs (job, status, trigger, started_at, heartbeat_at, counts) values ('daily-pipeline', 'running', 'test', now(), now(), '{}')");
  let err: unknown;
  try {
    await runPipeline(pipelineDeps(ctx.services));
  } catch (e) {
    err = e;
  }
  assert.instance(err, AppError);
  assert.is((err as AppError).code, 'job_running');
  const [{ n }] = await sql<{ n: string }>(ctx, 'select count(*) as n from businesses');
  assert.is(Number(n), 0);
});

pipeline('an unreachable provider marks the run failed with the error and a critical event', async (ctx) => {
  // A real connection refusal: Yelp pointed at a loopback port nothing listens on.
  const broken = await testServices(ctx.db, { YELP_BASE_URL: 'http://127.0.0.1:9/yelp' });
  let summary;
  try {
    summary = await runPipeline(pipelineDeps(broken));
  } finally {
    await broken.close();
  }
  assert.is(summary.status, 'failed');
  assert.match(summary.error ?? '', 'yelp');
  const [ev] = await sql<{ type: string; severity: string; payload: { error: string } }>(
    ctx,
    "select type, severity, payload from ops_events where type = 'pipeline.run_failed'",
  );
  assert.is(ev!.severity, 'critical');
  assert.match(ev!.payload.error, 'yelp');
  const [run] = await sql<{ status: string; error: string }>(ctx, 'select status, error from job_runs');
  assert.is(run!.status, 'failed');
});

pipeline('work stuck past the threshold is reported once and picked up by the next run', async (ctx) => {
  await sql(ctx, 'update targets set active = false');
  await sql(
    ctx,
    `insert into businesses (yelp_id, name, website, website_domain, categories, status, status_changed_at, claimed_until, created_at, updated_at)
     values ('stuck-1', 'Stuck Bakery', 'https://stuck-bakery.example.com/', 'stuck-bakery.example.com', '[]', 'assessment_pending',
             now() - interval '3 hours', now() - interval '2 hours', now() - interval '3 hours', now() - interval '3 hours')`,
  );
  const summary = await runPipeline(pipelineDeps(ctx.services));
  assert.is(summary.status, 'succeeded', summary.error);
  assert.is(summary.counts.stuck, 1);
  const [b] = await sql<{ status: string }>(ctx, "select status from businesses where yelp_id = 'stuck-1'");
  assert.is(b!.status, 'emailed', 'the expired claim was released and the business went through');
  const events = await sql<{ payload: { total: number } }>(ctx, "select payload from ops_events where type = 'pipeline.stuck_items'");
  assert.is(events.length, 1);
  assert.is(events[0]!.payload.total, 1);
});

pipeline.run();
