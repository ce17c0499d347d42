import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { JobRun } from '../../db/entities/index.js';
import { openDatabase, type Database } from '../../db/orm.js';
import { storeErrors, type ErrorEntry } from '../../domain/error-log.js';
import { sandboxAdmin, startSandbox, type Sandbox } from '../../domain/sandbox/index.js';
import type { Services } from '../../domain/services.js';
import { PIPELINE_JOB } from '../../domain/status.js';
import type { JobControl } from '../../runbooks/context.js';
import { diagnose, type Diagnosis, type Finding } from '../../runbooks/define.js';
import { runbook } from '../../runbooks/quick-diagnostics.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';

type Ctx = { db: Database; sandbox: Sandbox; s: Services };
const test = suite<Ctx>(`quick-diagnostics runbook (${DB_KIND})`);

test.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.sandbox = await startSandbox({ seed: 11, port: 0 });
  ctx.s = await testServices(ctx.db, { SANDBOX_URL: ctx.sandbox.url, PROVIDER_TIMEOUT_MS: '800', GATEWAY_RETRY_ATTEMPTS: '1' });
});
test.after(async (ctx) => {
  await ctx.s.close();
  await ctx.sandbox.close();
  await ctx.db.close();
});
test.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  await sandboxAdmin(ctx.sandbox.url).clearFaults();
});

const HOUR = 3_600_000;

/** A finished pipeline run that started `hoursAgo` hours ago. */
async function seedRun(db: Database, hoursAgo: number, status: 'succeeded' | 'failed' = 'succeeded'): Promise<number> {
  const em = db.orm.em.fork();
  const startedAt = new Date(Date.now() - hoursAgo * HOUR);
  const run = em.create(JobRun, {
    job: PIPELINE_JOB,
    status,
    trigger: 'schedule',
    startedAt,
    heartbeatAt: startedAt,
    finishedAt: new Date(startedAt.getTime() + 60_000),
    counts: { sourced: 10 },
    error: status === 'failed' ? 'yelp search: 503 INTERNAL_ERROR' : null,
  });
  await em.flush();
  return run.id;
}

/** `n` error records, the newest `minutesAgo` minutes old, one minute apart. */
async function seedErrors(db: Database, n: number, minutesAgo = 1): Promise<void> {
  const entries: ErrorEntry[] = Array.from({ length: n }, (_, i) => ({
    at: new Date(Date.now() - (minutesAgo + i) * 60_000),
    level: 'error',
    component: i % 2 ? 'gateway' : 'delivery',
    msg: `send failed ${i}`,
    code: 'provider_error',
    context: { provider: 'sendgrid' },
  }));
  await storeErrors(db.orm.em.fork(), entries, { maxRows: 5000, maxAgeMs: 7 * 24 * HOUR });
}

const finding = (d: Diagnosis, id: string): Finding => {
  const r = d.results.find((x) => x.id === id);
  assert.ok(r, `no result for ${id}`);
  return r!.finding;
};
const causes = (d: Diagnosis) => d.rootCauses.map((c) => c.id).sort();

test('declares the agreed diagnostic, root cause and remediation ids', () => {
  assert.equal(runbook.diagnostics.map((d) => d.id), ['service-status', 'health', 'integrations', 'recent-errors', 'database']);
  for (const id of ['database-connection', 'provider-unreachable', 'provider-auth', 'recurring-errors', 'pipeline-not-running'])
    assert.ok(runbook.rootCauses.some((c) => c.id === id), id);
  assert.is(runbook.rootCauses.find((c) => c.id === 'database-connection')?.title, 'Database connection failed');
  assert.equal(runbook.remediations.map((r) => r.id), ['run-pipeline-now', 'reconnect-db-pool']);
});

test('a healthy seed: every check ok, recent errors no_data, no root cause', async (ctx) => {
  const runId = await seedRun(ctx.db, 2);
  const d = await diagnose(runbook, runbookContext(ctx.s, { probes: { eventLoopLagMs: () => 3 } }));
  assert.equal(causes(d), []);
  const status = finding(d, 'service-status');
  assert.is(status.status, 'ok', status.summary);
  assert.is((status.evidence?.lastRun as { id: number }).id, runId);
  assert.is(status.evidence?.ageHours, 2);
  const health = finding(d, 'health');
  assert.is(health.status, 'ok', health.summary);
  assert.is(health.evidence?.dbReachable, true);
  assert.is(health.evidence?.pendingMigrations, 0);
  assert.is(health.evidence?.errorsLastHour, 0);
  assert.is(health.evidence?.eventLoopLagMs, 3);
  const integ = finding(d, 'integrations');
  assert.is(integ.status, 'ok', integ.summary);
  const yelp = (integ.evidence?.providers as Record<string, Record<string, unknown>>).yelp!;
  assert.is(yelp.mode, 'sandbox');
  assert.is(yelp.key, 'MISSING');
  assert.is(yelp.host, new URL(ctx.sandbox.url).host);
  assert.is(yelp.breaker, 'closed');
  assert.is(yelp.auth, 'ok');
  assert.is(typeof yelp.latencyMs, 'number');
  assert.not.match(JSON.stringify(integ.evidence), 'sandbox-yelp-key'); // never a key value
  assert.is(finding(d, 'recent-errors').status, 'no_data');
  const db = finding(d, 'database');
  assert.is(db.evidence?.connected, true);
  // a loaded test machine may see a slow round trip; the verdict must match the number either way
  assert.is(db.status, (db.evidence?.latencyMs as number) > 100 ? 'warn' : 'ok', db.summary);
});

test('an old last run and a failed last run point to pipeline-not-running', async (ctx) => {
  await seedRun(ctx.db, 30);
  let d = await diagnose(runbook, runbookContext(ctx.s));
  assert.is(finding(d, 'service-status').status, 'problem');
  assert.match(finding(d, 'service-status').summary, '30 h ago');
  assert.ok(causes(d).includes('pipeline-not-running'));
  assert.equal(d.rootCauses.find((c) => c.id === 'pipeline-not-running')?.remediations, ['run-pipeline-now']);

  await truncateAll(ctx.db);
  await seedRun(ctx.db, 1, 'failed');
  d = await diagnose(runbook, runbookContext(ctx.s));
  assert.is(finding(d, 'service-status').status, 'problem');
  assert.match(finding(d, 'service-status').summary, '503 INTERNAL_ERROR');
  assert.ok(causes(d).includes('pipeline-not-running'));
});

test('many errors in the last hour: recurring-errors, with the latest ones as evidence', async (ctx) => {
  await seedRun(ctx.db, 1);
  await seedErrors(ctx.db, 12);
  const d = await diagnose(runbook, runbookContext(ctx.s, { probes: { eventLoopLagMs: () => 1 } }));
  assert.equal(causes(d), ['recurring-errors']);
  const health = finding(d, 'health');
  assert.is(health.evidence?.errorsLastHour, 12);
  assert.is(health.status, 'warn');
  const rec = finding(d, 'recent-errors');
  assert.is(rec.status, 'problem');
  assert.is(rec.evidence?.count, 12);
  assert.is(rec.evidence?.lastHour, 12);
  const latest = rec.evidence?.latest as { component: string; code: string; msg: string }[];
  assert.is(latest.length, 5);
  assert.equal(latest[0], { ...latest[0]!, component: 'delivery', code: 'provider_error', msg: 'send failed 0' });
});

test('a few older errors are a warning, not recurring; a lagging event loop warns', async (ctx) => {
  await seedRun(ctx.db, 1);
  await seedErrors(ctx.db, 3, 120);
  const d = await diagnose(runbook, runbookContext(ctx.s, { probes: { eventLoopLagMs: () => 450 } }));
  assert.equal(causes(d), []);
  assert.is(finding(d, 'recent-errors').status, 'warn');
  assert.is(finding(d, 'recent-errors').evidence?.lastHour, 0);
  assert.is(finding(d, 'health').status, 'warn');
  assert.match(finding(d, 'health').summary, 'event-loop lag 450 ms');
});

test('a hung provider is provider-unreachable, a rejected key provider-auth', async (ctx) => {
  await seedRun(ctx.db, 1);
  await sandboxAdmin(ctx.sandbox.url).setFault('yelp', { fault: 'timeout' });
  await sandboxAdmin(ctx.sandbox.url).setFault('sendgrid', { fault: 'invalid_key' });
  const d = await diagnose(runbook, runbookContext(ctx.s));
  assert.equal(causes(d), ['provider-auth', 'provider-unreachable']);
  const integ = finding(d, 'integrations');
  assert.is(integ.status, 'problem');
  assert.equal(integ.evidence?.unreachable, ['yelp']);
  assert.equal(integ.evidence?.authRejected, ['sendgrid']);
  const sg = (integ.evidence?.providers as Record<string, Record<string, unknown>>).sendgrid!;
  assert.is(sg.status, 401);
  assert.is(sg.auth, 'rejected');
  assert.match(integ.summary, 'unreachable: Yelp');
  assert.match(integ.summary, 'key rejected: SendGrid');
});

test('database unreachable (closed pool): database-connection; reconnect-db-pool restores it', async (ctx) => {
  // services on their own pool, which is then closed: every query fails at once
  const db2 = await openDatabase({ url: ctx.db.url, dataDir: ':memory:', poolMax: 2 });
  const s2 = await testServices(db2, { SANDBOX_URL: ctx.sandbox.url, PROVIDER_TIMEOUT_MS: '800' });
  try {
    await db2.orm.close(true);
    const rctx = runbookContext(s2);
    const d = await diagnose(runbook, rctx);
    assert.ok(causes(d).includes('database-connection'), JSON.stringify(causes(d)));
    assert.not.ok(causes(d).includes('pipeline-not-running'));
    assert.is(d.rootCauses.find((c) => c.id === 'database-connection')?.title, 'Database connection failed');
    const db = finding(d, 'database');
    assert.is(db.status, 'problem');
    assert.match(db.summary, /^database connection: /);
    assert.is(db.evidence?.connected, false);
    assert.is(finding(d, 'health').evidence?.dbReachable, false);
    assert.is(finding(d, 'service-status').status, 'error');

    const fix = runbook.remediations.find((r) => r.id === 'reconnect-db-pool')!;
    assert.is(fix.requiredRole, 'operator');
    const out = await fix.run(rctx, {}, 'test:alice');
    assert.match(out.summary, 'reconnected');
    const recheck = await runbook.diagnostics.find((x) => x.id === fix.recheck)!.run(rctx);
    assert.is(recheck.status, 'ok', recheck.summary);
    const rows = await db2.orm.em.fork().getConnection().execute<{ n: number }[]>('select count(*)::int as n from job_runs');
    assert.is(rows[0]?.n, 0);
  } finally {
    await s2.close();
    await db2.close();
  }
});

test('run-pipeline-now starts a daily-pipeline run (recorded in job_runs); the recheck reads ok', async (ctx) => {
  await seedRun(ctx.db, 40);
  const calls: [string, string][] = [];
  const real = runbookContext(ctx.s).jobs;
  const jobs: JobControl = {
    ...real,
    runNow: async (name, actor) => {
      calls.push([name, actor]);
      return real.runNow(name, actor);
    },
  };
  const rctx = runbookContext(ctx.s, { jobs });
  const fix = runbook.remediations.find((r) => r.id === 'run-pipeline-now')!;
  assert.is(fix.idempotencyKey({}), 'run-pipeline-now');
  const out = await fix.run(rctx, {}, 'test:bob');
  assert.equal(calls, [[PIPELINE_JOB, 'test:bob']]);
  assert.match(out.summary, PIPELINE_JOB);
  const rows = await ctx.db.orm.em
    .fork()
    .getConnection()
    .execute<{ status: string; trigger: string }[]>('select status, trigger from job_runs where job = ? order by id desc limit 1', [PIPELINE_JOB]);
  assert.is(rows[0]?.trigger, 'manual:test:bob');
  assert.is(rows[0]?.status, 'succeeded');
  const recheck = await runbook.diagnostics.find((x) => x.id === fix.recheck)!.run(rctx);
  assert.is(recheck.status, 'ok', recheck.summary);
});

test.run();
