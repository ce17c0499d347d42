import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openDatabase, type Database } from '../../db/orm.js';
import { sandboxAdmin } from '../../domain/sandbox/index.js';
import type { Services } from '../../domain/services.js';
import { getSettingEntry } from '../../domain/settings.js';
import { YELP_BATCH_SIZE_SETTING } from '../../domain/targeting/batch-size.js';
import { DEMO_TARGETS, seedDemoTargetsIfEmpty } from '../../domain/targeting/seed.js';
import type { RunbookContext } from '../../runbooks/context.js';
import { diagnose, runDiagnostic, type Diagnosis } from '../../runbooks/define.js';
import { runbook } from '../../runbooks/pipeline-not-processing.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';

type Ctx = { db: Database; s: Services; rb: RunbookContext };
const pnp = suite<Ctx>(`runbook pipeline-not-processing (${DB_KIND})`);

pnp.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.s = await testServices(ctx.db, { GATEWAY_RETRY_ATTEMPTS: '1', YELP_DAILY_LIMIT: '100', PROVIDER_TIMEOUT_MS: '2000' });
  ctx.rb = runbookContext(ctx.s);
});
pnp.after(async (ctx) => {
  await ctx.s.close();
  await ctx.db.close();
});
pnp.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  await sandboxAdmin(ctx.s.sandboxUrl!).clearFaults();
  await seedDemoTargetsIfEmpty(ctx.db.orm.em.fork(), new Date());
});

const sql = <T>(ctx: Ctx, q: string, p: unknown[] = []) => ctx.db.orm.em.getConnection().execute<T[]>(q, p);
const ago = (ms: number) => new Date(Date.now() - ms);
const HOUR = 3600_000;

/** A finished daily-pipeline run `startedAgoMs` ago. */
async function insertRun(ctx: Ctx, status: string, startedAgoMs: number, heartbeatAgoMs = startedAgoMs, counts: Record<string, number> = { sourced: 40, assessed: 30, emailed: 10 }) {
  const finished = status === 'running' ? null : ago(Math.max(0, startedAgoMs - 60_000));
  await sql(
    ctx,
    `insert into job_runs (job, status, trigger, started_at, heartbeat_at, finished_at, counts) values ('daily-pipeline', ?, 'schedule', ?, ?, ?, ?::jsonb)`,
    [status, ago(startedAgoMs), ago(heartbeatAgoMs), finished, JSON.stringify(counts)],
  );
}

const causes = (d: Diagnosis) => d.rootCauses.map((c) => c.id).sort();
const finding = (d: Diagnosis, id: string) => d.results.find((r) => r.id === id)!.finding;
const remediation = (id: string) => runbook.remediations.find((r) => r.id === id)!;

pnp('the runbook declares the agreed ids and titles', () => {
  assert.is(runbook.id, 'pipeline-not-processing');
  assert.is(runbook.title, 'Pipeline not processing');
  assert.equal(runbook.diagnostics.map((d) => d.id), ['last-run', 'targeting-quota', 'yelp-rate-limit', 'active-targets', 'database']);
  const titles = Object.fromEntries(runbook.rootCauses.map((c) => [c.id, c.title]));
  assert.is(titles['yelp-rate-limit'], 'Yelp API rate limit exceeded');
  assert.is(titles['no-targeting-quota'], 'No available targeting quota');
  assert.is(titles['database-connection'], 'Database connection failed');
  for (const id of ['no-active-targets', 'pipeline-stalled', 'pipeline-not-scheduled']) assert.ok(titles[id], id);
  for (const r of runbook.remediations) {
    assert.is(r.requiredRole, 'operator', r.id);
    assert.is(r.risk, 'write', r.id);
  }
});

pnp('a healthy pipeline (recent run, quota left, targets, database up) indicates no root cause', async (ctx) => {
  await insertRun(ctx, 'succeeded', 2 * HOUR);
  const d = await diagnose(runbook, ctx.rb);
  assert.equal(causes(d), [], JSON.stringify(d.results.map((r) => [r.id, r.finding.summary])));
  for (const r of d.results) assert.is(r.finding.status, 'ok', `${r.id}: ${r.finding.summary}`);
  const quota = finding(d, 'targeting-quota');
  const total = DEMO_TARGETS.reduce((s, t) => s + t.dailyQuota, 0);
  assert.is(quota.evidence!.totalAvailable, total);
  assert.is(quota.evidence!.activeTargets, DEMO_TARGETS.length);
  assert.is(finding(d, 'active-targets').evidence!.active, DEMO_TARGETS.length);
  const run = finding(d, 'last-run').evidence!;
  assert.is(run.runStatus, 'succeeded');
  assert.is(run.processed, 80);
  assert.is(run.ageHours, 2);
  assert.is(typeof finding(d, 'database').evidence!.latencyMs, 'number');
  assert.is(finding(d, 'yelp-rate-limit').evidence!.batchSize, 50);
});

pnp('Yelp answering 429: root cause yelp-rate-limit; lowering the batch size halves it and the recheck shows it', async (ctx) => {
  await insertRun(ctx, 'succeeded', HOUR);
  await sandboxAdmin(ctx.s.sandboxUrl!).setFault('yelp', { fault: 'rate_limit', retryAfterSeconds: 20, count: 2 });
  for (let i = 0; i < 2; i++)
    await ctx.s.providers.yelp.search({ location: 'Austin, TX', category: 'plumbing', limit: 5, offset: i * 5 }).then(
      () => assert.unreachable('the sandbox answers 429'),
      (err: Error) => assert.match(err.message, /429|rate/i),
    );
  const d = await diagnose(runbook, ctx.rb);
  assert.ok(causes(d).includes('yelp-rate-limit'), JSON.stringify(causes(d)));
  assert.is(d.rootCauses.find((c) => c.id === 'yelp-rate-limit')!.title, 'Yelp API rate limit exceeded');
  assert.not.ok(causes(d).includes('no-targeting-quota'));
  const f = finding(d, 'yelp-rate-limit');
  assert.is(f.status, 'problem');
  assert.ok((f.evidence!.http429LastHour as number) >= 1, JSON.stringify(f.evidence));
  assert.ok(f.evidence!.blockedUntil, 'the Retry-After block is reported');
  assert.ok(Date.parse(f.evidence!.blockedUntil as string) > Date.now());
  assert.is(f.evidence!.batchSize, 50);
  assert.is(f.evidence!.batchSizeSource, 'config');
  assert.is(f.evidence!.dailyLimit, 100);
  assert.match(f.summary, '429');

  const rem = remediation('lower-yelp-batch-size');
  const byId = Object.fromEntries(d.results.map((r) => [r.id, r.finding]));
  const input = rem.defaultInput!(byId);
  assert.equal(input, { value: 25 });
  assert.equal(rem.inputSchema!.parse({ value: 10 }), { value: 10 });
  for (const bad of ['10', true, [10], null]) assert.not.ok(rem.inputSchema!.safeParse({ value: bad }).success, `value ${JSON.stringify(bad)} refused`);
  assert.throws(() => rem.inputSchema!.parse({ value: 0 }));
  assert.is(rem.idempotencyKey(input), 'yelp-batch:25');
  const out = await rem.run(ctx.rb, input, 'test:U1');
  assert.match(out.summary, 'set to 25 (was 50');
  const entry = await getSettingEntry<number>(ctx.db.orm.em.fork(), YELP_BATCH_SIZE_SETTING);
  assert.is(entry?.value, 25);
  assert.is(entry?.updatedBy, 'test:U1');
  const re = await runDiagnostic(runbook.diagnostics.find((x) => x.id === rem.recheck)!, ctx.rb);
  assert.is(re.finding.evidence!.batchSize, 25);
  assert.is(re.finding.evidence!.batchSizeSource, 'override');
  // From 1, half stays 1.
  assert.equal(rem.defaultInput!({ 'yelp-rate-limit': { status: 'problem', summary: '', evidence: { batchSize: 1 } } }), { value: 1 });
});

pnp("every target's quota used up: root cause no-targeting-quota; reset-quotas frees it and the recheck reads ok", async (ctx) => {
  await insertRun(ctx, 'succeeded', HOUR);
  const targets = await sql<{ id: number; daily_quota: number }>(ctx, 'select id, daily_quota from targets');
  let n = 0;
  for (const t of targets)
    for (let i = 0; i < t.daily_quota; i++, n++)
      await sql(
        ctx,
        `insert into businesses (yelp_id, name, website, status, target_id, created_at, updated_at) values (?, ?, ?, 'emailed', ?, ?, ?)`,
        [`y-${n}`, `Biz ${n}`, `https://biz${n}.com`, t.id, ago(60_000), ago(60_000)],
      );
  const d = await diagnose(runbook, ctx.rb);
  assert.ok(causes(d).includes('no-targeting-quota'), JSON.stringify(causes(d)));
  assert.is(d.rootCauses.find((c) => c.id === 'no-targeting-quota')!.title, 'No available targeting quota');
  const f = finding(d, 'targeting-quota');
  assert.is(f.status, 'problem');
  assert.is(f.evidence!.totalAvailable, 0);
  assert.is(f.evidence!.totalUsed, n);
  assert.match(f.summary, 'used up');
  assert.not.ok(causes(d).includes('no-active-targets'));

  const rem = remediation('reset-quotas');
  const out = await rem.run(ctx.rb, {}, 'test:U2');
  assert.match(out.summary, `${n} used today`);
  const [row] = await sql<{ updated_by: string }>(ctx, "select updated_by from settings where key = 'targeting.quota_reset_at'");
  assert.is(row?.updated_by, 'test:U2');
  const re = await runDiagnostic(runbook.diagnostics.find((x) => x.id === rem.recheck)!, ctx.rb);
  assert.is(re.finding.status, 'ok', re.finding.summary);
  assert.is(re.finding.evidence!.totalAvailable, n);
});

pnp('quotas configured at zero also indicate no-targeting-quota', async (ctx) => {
  await insertRun(ctx, 'succeeded', HOUR);
  await sql(ctx, 'update targets set daily_quota = 0');
  const d = await diagnose(runbook, ctx.rb);
  assert.ok(causes(d).includes('no-targeting-quota'));
  assert.match(finding(d, 'targeting-quota').summary, 'daily quota of 0');
});

pnp('no active targets: root cause no-active-targets (and no quota cause on top)', async (ctx) => {
  await insertRun(ctx, 'succeeded', HOUR);
  await sql(ctx, 'update targets set active = false');
  const d = await diagnose(runbook, ctx.rb);
  assert.equal(causes(d), ['no-active-targets']);
  assert.equal(finding(d, 'active-targets').evidence, { active: 0, inactive: DEMO_TARGETS.length, total: DEMO_TARGETS.length });
  assert.is(finding(d, 'targeting-quota').status, 'no_data');
});

pnp('a running run without a heartbeat and businesses waiting past the threshold: root cause pipeline-stalled', async (ctx) => {
  await insertRun(ctx, 'running', 3 * HOUR, 2 * HOUR);
  await sql(
    ctx,
    `insert into businesses (yelp_id, name, website, status, status_changed_at, created_at, updated_at) values ('s1', 'Stuck', 'https://stuck.com', 'assessment_pending', ?, ?, ?)`,
    [ago(2 * HOUR), ago(2 * HOUR), ago(2 * HOUR)],
  );
  const d = await diagnose(runbook, ctx.rb);
  assert.equal(causes(d), ['pipeline-stalled']);
  const f = finding(d, 'last-run');
  assert.is(f.status, 'problem');
  assert.is(f.evidence!.stalledRun, true);
  assert.is(f.evidence!.heartbeatAgeMinutes, 120);
  assert.equal((f.evidence!.stuck as { total: number }).total, 1);
  assert.match(f.summary, 'stalled');
  // Without a scheduler in this process there is no worker to cancel: it says so and changes nothing.
  try {
    await remediation('restart-pipeline-worker').run(ctx.rb, {}, 'test:U3');
    assert.unreachable('a restart that restarted nothing must not report success');
  } catch (err) {
    assert.match((err as Error).message, 'nothing restarted');
  }
  const [run] = await sql<{ status: string }>(ctx, 'select status from job_runs');
  assert.is(run?.status, 'running');
});

pnp('no run for 30 hours: root cause pipeline-not-scheduled; run-pipeline-now runs it and the recheck reads ok', async (ctx) => {
  await insertRun(ctx, 'succeeded', 30 * HOUR);
  const d = await diagnose(runbook, ctx.rb);
  assert.equal(causes(d), ['pipeline-not-scheduled']);
  const f = finding(d, 'last-run');
  assert.is(f.evidence!.notScheduled, true);
  assert.is(f.evidence!.ageHours, 30);
  assert.is(f.evidence!.paused, false);

  const rem = remediation('run-pipeline-now');
  const out = await rem.run(ctx.rb, {}, 'test:U4');
  assert.match(out.summary, 'Pipeline started');
  const runs = await sql<{ status: string; trigger: string }>(ctx, 'select status, trigger from job_runs order by id desc');
  assert.is(runs.length, 2);
  assert.is(runs[0]!.status, 'succeeded');
  assert.is(runs[0]!.trigger, 'manual:test:U4');
  const re = await runDiagnostic(runbook.diagnostics.find((x) => x.id === rem.recheck)!, ctx.rb);
  assert.is(re.finding.status, 'ok', re.finding.summary);
  assert.ok((re.finding.evidence!.processed as number) > 0);
});

pnp('a paused job: root cause pipeline-paused; resume-pipeline resumes it and the recheck reads ok', async (ctx) => {
  await insertRun(ctx, 'succeeded', HOUR);
  await ctx.rb.jobs.pause('daily-pipeline', 'test:U6');
  const d = await diagnose(runbook, ctx.rb);
  assert.equal(causes(d), ['pipeline-paused']);
  assert.is(finding(d, 'last-run').status, 'warn');
  assert.match(finding(d, 'last-run').summary, 'paused');
  const rem = remediation('resume-pipeline');
  assert.match((await rem.run(ctx.rb, {}, 'test:U7')).summary, 'resumed');
  const entry = await getSettingEntry<boolean>(ctx.db.orm.em.fork(), 'jobs.paused.daily-pipeline');
  assert.equal([entry?.value, entry?.updatedBy], [false, 'test:U7']);
  const re = await runDiagnostic(runbook.diagnostics.find((x) => x.id === rem.recheck)!, ctx.rb);
  assert.is(re.finding.status, 'ok', re.finding.summary);
});

pnp('a pipeline that never ran is not scheduled', async (ctx) => {
  const d = await diagnose(runbook, ctx.rb);
  assert.equal(causes(d), ['pipeline-not-scheduled']);
  assert.match(finding(d, 'last-run').summary, 'never run');
});

pnp('a closed database pool: root cause database-connection; reconnect-db-pool reopens it and the recheck reads ok', async (ctx) => {
  await insertRun(ctx, 'succeeded', HOUR);
  const other = await openDatabase({ url: ctx.s.db.url, dataDir: ':memory:', poolMax: 2 });
  try {
    await other.orm.close(true);
    const s = { ...ctx.s, db: other, orm: other.orm } as Services;
    const rb: RunbookContext = { ...ctx.rb, services: s, em: () => other.orm.em.fork() };
    const d = await diagnose(runbook, rb);
    assert.ok(causes(d).includes('database-connection'), JSON.stringify(causes(d)));
    const f = finding(d, 'database');
    assert.is(f.status, 'problem');
    assert.is(f.evidence!.ok, false);
    assert.ok(typeof f.evidence!.error === 'string' && f.evidence!.error.length > 0);

    const rem = remediation('reconnect-db-pool');
    const out = await rem.run(rb, {}, 'test:U5');
    assert.match(out.summary, 'reconnected');
    const re = await runDiagnostic(runbook.diagnostics.find((x) => x.id === rem.recheck)!, rb);
    assert.is(re.finding.status, 'ok', re.finding.summary);
  } finally {
    await other.close();
  }
});

pnp.run();
