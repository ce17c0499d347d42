/**
 * Issue #14 point 3, rules that see the truth (injected ManualClock, real PostgreSQL): progress means businesses
 * that completed a stage (two failed runs counting only their targets are not progress); a fresh start at any hour
 * opens no incident in its first 10 minutes (PipelineDown gives the start-up run its chance); a failed run, a run
 * with failures above the threshold, send failures and a job that stopped (the frequent ones too) each fire; the
 * watchdog reports a stopped frequent job once and `/lf jobs` shows its last tick.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { evaluateAlerts } from '../../alerts/evaluate.js';
import { findRule } from '../../alerts/rules.js';
import { pipelineDueAt } from '../../alerts/rules-runs.js';
import type { Database } from '../../db/orm.js';
import { ManualClock } from '../../domain/clock.js';
import { createLogger } from '../../domain/logger.js';
import { recordJobTick } from '../../domain/queries/jobs.js';
import type { Services } from '../../domain/services.js';
import { expectedJobs } from '../../jobs/alert-evaluation.js';
import { createJobControl } from '../../jobs/control.js';
import { watchJobs } from '../../jobs/watchdog.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';

type Ctx = { db: Database; services: Services; clock: ManualClock };
const test = suite<Ctx>(`rules that see the truth (${DB_KIND})`);
test.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.clock = new ManualClock('2026-12-05T05:00:00Z');
  ctx.services = await testServices(ctx.db, { PIPELINE_CRON: '0 2 * * *' }, { clock: ctx.clock });
});
test.after(async (ctx) => {
  await ctx.services.close();
  await ctx.db.close();
});
test.before.each(async (ctx) => {
  await truncateAll(ctx.db);
});

const logger = createLogger('silent');
const sql = <T>(ctx: Ctx, q: string, p: unknown[] = []) => ctx.db.orm.em.getConnection().execute<T[]>(q, p);
function deps(ctx: Ctx, startedAt?: Date, withJobs = false) {
  return {
    em: () => ctx.db.orm.em.fork(),
    config: ctx.services.config,
    clock: ctx.clock,
    logger,
    runbooks: runbookContext(ctx.services),
    ...(startedAt ? { startedAt } : {}),
    ...(withJobs ? { expectedJobs: () => expectedJobs(ctx.db.orm.em.fork(), ctx.services.config) } : {}),
  };
}
const rules = (...names: string[]) => names.map((n) => findRule(n)!);
async function run(ctx: Ctx, status: string, startedAt: string, finishedAt: string, counts: Record<string, number>, error: string | null = null): Promise<number> {
  const [r] = await sql<{ id: number }>(
    ctx,
    `insert into job_runs (job, status, trigger, started_at, heartbeat_at, finished_at, counts, error) values ('daily-pipeline', ?, 'schedule', ?, ?, ?, ?::jsonb, ?) returning id`,
    [status, startedAt, finishedAt, finishedAt, JSON.stringify(counts), error],
  );
  return r!.id;
}
/** Moves the manual clock to `at` (forward or back: each test sets its own time). */
function setClock(ctx: Ctx, at: Date): void {
  ctx.clock.advance(at.getTime() - ctx.clock.now().getTime());
}
const firing = (r: { transitions: { name: string; transition: string }[] }) => r.transitions.filter((t) => t.transition === 'fired').map((t) => t.name);

test('PipelineDown: two failed runs that sourced nothing (targets: 3) are not progress → fires; a business emailed after the due run → resolves', async (ctx) => {
  setClock(ctx, new Date('2026-12-05T05:00:00Z'));
  await run(ctx, 'failed', '2026-12-04T02:00:00Z', '2026-12-04T02:01:00Z', { targets: 3, sourced: 0 }, 'yelp: HTTP 500');
  await run(ctx, 'failed', '2026-12-05T02:00:00Z', '2026-12-05T02:01:00Z', { targets: 3, sourced: 0 }, 'yelp: HTTP 500');
  const r = await evaluateAlerts(deps(ctx), rules('PipelineDown'));
  assert.equal(firing(r), ['PipelineDown']);
  const [a] = await sql<{ annotations: { summary: string } }>(ctx, `select annotations from alerts where name = 'PipelineDown'`);
  assert.match(a!.annotations.summary, /no business has completed a stage since; last progress never/);
  await sql(ctx, `insert into businesses (yelp_id, name, status, status_changed_at, created_at, updated_at) values ('y1', 'B', 'emailed', ?, '2026-12-01T00:00:00Z', ?)`, [ctx.clock.now(), ctx.clock.now()]);
  ctx.clock.advance(30_000);
  const r2 = await evaluateAlerts(deps(ctx), rules('PipelineDown'));
  assert.equal(r2.transitions.map((t) => t.transition), ['resolved']);
});

test('a fresh start (empty database) at any hour opens no incident and posts no alert in its first 10 minutes', async (ctx) => {
  const all = rules('PipelineDown', 'PipelineStalled', 'PipelineRunFailed', 'PipelineRunFailures', 'EmailSendFailures', 'HighBounceRate', 'EmailsStuckPending', 'AssessmentBacklog', 'CircuitBreakerOpen', 'DatabaseUnavailable');
  for (let hour = 0; hour < 24; hour++) {
    await truncateAll(ctx.db);
    const start = new Date(Date.UTC(2026, 11, 5, hour, 17, 0));
    setClock(ctx, start);
    for (let t = 0; t <= 10 * 60_000; t += 30_000) {
      setClock(ctx, new Date(start.getTime() + t));
      const r = await evaluateAlerts(deps(ctx, start), all);
      assert.equal(firing(r), [], `started ${start.toISOString()}, +${t / 1000} s`);
    }
    assert.is((await sql(ctx, 'select 1 from incidents')).length, 0, `no incident, start at ${hour}:17`);
    assert.is((await sql(ctx, 'select 1 from slack_outbox')).length, 0);
  }
  // the start-up run is the due run: PipelineDown waits 2 h from the start, not from 02:00
  const cfg = ctx.services.config;
  const start = new Date('2026-12-05T06:00:00Z');
  assert.is(pipelineDueAt(cfg, new Date('2026-12-05T06:10:00Z'), start)?.toISOString(), start.toISOString());
  assert.is(pipelineDueAt(cfg, new Date('2026-12-06T03:00:00Z'), start)?.toISOString(), '2026-12-06T02:00:00.000Z');
  assert.is(pipelineDueAt({ pipeline: { ...cfg.pipeline, runOnStart: false } }, new Date('2026-12-05T06:10:00Z'), start), undefined);
});

test('PipelineRunFailed names the failed run; a later good run resolves it', async (ctx) => {
  setClock(ctx, new Date('2026-12-05T02:05:00Z'));
  const id = await run(ctx, 'failed', '2026-12-05T02:00:00Z', '2026-12-05T02:01:00Z', { targets: 3 }, 'ProviderError: yelp answered HTTP 500');
  const r = await evaluateAlerts(deps(ctx), rules('PipelineRunFailed'));
  assert.equal(firing(r), ['PipelineRunFailed']);
  const [a] = await sql<{ annotations: { summary: string; value: string } }>(ctx, `select annotations from alerts where name = 'PipelineRunFailed'`);
  assert.match(a!.annotations.summary, new RegExp(`^Daily run #${id} failed at 2026-12-05 02:01 UTC: ProviderError: yelp answered HTTP 500`));
  assert.is(a!.annotations.value, String(id));
  await run(ctx, 'succeeded', '2026-12-05T02:10:00Z', '2026-12-05T02:20:00Z', { targets: 3, sourced: 5 });
  setClock(ctx, new Date('2026-12-05T02:21:00Z'));
  assert.equal((await evaluateAlerts(deps(ctx), rules('PipelineRunFailed'))).transitions.map((t) => t.transition), ['resolved']);
});

test('a run that "succeeded" with emailed 0 · send_failed 45 fires PipelineRunFailures; 45 failed emails fire EmailSendFailures', async (ctx) => {
  setClock(ctx, new Date('2026-12-05T02:30:00Z'));
  const id = await run(ctx, 'succeeded', '2026-12-05T02:00:00Z', '2026-12-05T02:20:00Z', { targets: 3, sourced: 45, assessed: 45, emailed: 0, send_failed: 45 });
  await sql(ctx, `insert into businesses (id, yelp_id, name, status, created_at, updated_at) values (1, 'y1', 'B', 'email_pending', ?, ?)`, [ctx.clock.now(), ctx.clock.now()]);
  await sql(
    ctx,
    `insert into emails (business_id, campaign, to_address, subject, body, spam_score, status, error_message, created_at, updated_at)
     select 1, 'c' || g, 'x' || g || '@example.com', 's', 'b', 1, 'failed', 'SendGrid 401: The provided authorization grant is invalid', ?, ? from generate_series(1, 45) g`,
    [ctx.clock.now(), ctx.clock.now()],
  );
  const r = await evaluateAlerts(deps(ctx), rules('PipelineRunFailures', 'EmailSendFailures'));
  assert.equal(firing(r).sort(), ['EmailSendFailures', 'PipelineRunFailures']);
  const rows = await sql<{ name: string; annotations: { summary: string } }>(ctx, 'select name, annotations from alerts order by name');
  assert.match(rows[1]!.annotations.summary, new RegExp(`Daily run #${id} succeeded .* with 45 of 90 items failed \\(emailed 0 · send_failed 45`));
  assert.match(rows[0]!.annotations.summary, /45 emails failed to send in the last hour .*SendGrid 401/);
});

test('JobNotRunning covers the frequent jobs; the watchdog reports a stopped one once; /lf jobs shows its last tick', async (ctx) => {
  const start = new Date('2026-12-05T10:00:00Z');
  setClock(ctx, start);
  const em = () => ctx.db.orm.em.fork();
  // every job "ran" at start; then only alert-evaluation stops
  for (const j of await expectedJobs(em(), ctx.services.config)) {
    await recordJobTick(em(), j.name, 'start', start);
    await recordJobTick(em(), j.name, 'end', new Date(start.getTime() + 1000), { status: 'succeeded' });
  }
  setClock(ctx, new Date(start.getTime() + 60_000));
  assert.equal(firing(await evaluateAlerts(deps(ctx, start, true), rules('JobNotRunning'))), [], 'one minute later all is well');
  for (let t = 30_000; t <= 5 * 60_000; t += 30_000) {
    const at = new Date(start.getTime() + t);
    for (const name of ['escalation-ticker', 'health-check', 'job-watchdog']) if (t % 60_000 === 0 || name === 'escalation-ticker') await recordJobTick(em(), name, 'start', at);
  }
  setClock(ctx, new Date(start.getTime() + 5 * 60_000));
  const r = await evaluateAlerts(deps(ctx, start, true), rules('JobNotRunning'));
  const fired = await sql<{ labels: Record<string, string> }>(ctx, `select labels from alerts where name = 'JobNotRunning' and status = 'firing'`);
  assert.ok(firing(r).length >= 1);
  assert.ok(fired.some((a) => a.labels.job_name === 'alert-evaluation'), JSON.stringify(fired));
  assert.not.ok(fired.some((a) => ['escalation-ticker', 'health-check', 'job-watchdog'].includes(a.labels.job_name!)), JSON.stringify(fired));
  await sql(ctx, `insert into settings (key, value, updated_by, updated_at) values ('jobs.watchdog.since', ?::jsonb, 'test', ?)`, [JSON.stringify(start.toISOString()), start]);
  const w1 = await watchJobs(em(), ctx.services.config, ctx.clock.now());
  assert.ok(w1.missed.some((m) => m.job === 'alert-evaluation'), JSON.stringify(w1));
  ctx.clock.advance(60_000);
  const w2 = await watchJobs(em(), ctx.services.config, ctx.clock.now());
  assert.not.ok(w2.missed.some((m) => m.job === 'alert-evaluation'), 'reported once per stop');
  const jobs = await createJobControl({ orm: ctx.db.orm, config: ctx.services.config, clock: ctx.clock }).list();
  const ae = jobs.find((j) => j.name === 'alert-evaluation')!;
  assert.is(ae.lastRun?.startedAt.toISOString(), start.toISOString(), '/lf jobs: not "never run"');
  assert.is(ae.lastRun?.status, 'succeeded');
});

test.run();
