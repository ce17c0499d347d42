import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { JobRun } from '../../db/entities/index.js';
import type { Database } from '../../db/orm.js';
import { diskUsage } from '../../domain/ops/resources.js';
import { getSettingEntry } from '../../domain/settings.js';
import type { Services } from '../../domain/services.js';
import type { JobControl } from '../../runbooks/context.js';
import { diagnose, runDiagnostic, type Diagnosis, type Finding } from '../../runbooks/define.js';
import { DISK_FREE_PROBLEM_RATIO, RSS_WARN_BYTES, diskVerdict, runbook } from '../../runbooks/memory-resources.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';

type Ctx = { db: Database; s: Services; dir: string };
const test = suite<Ctx>(`runbook memory-resources (${DB_KIND})`);

const GIB = 1024 ** 3;

test.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.dir = mkdtempSync(join(tmpdir(), 'lf-memres-'));
  // a data folder that does not exist yet: measured at its nearest existing parent
  ctx.s = await testServices(ctx.db, { DATA_DIR: join(ctx.dir, 'not-yet', 'data') });
});
test.after(async (ctx) => {
  await ctx.s?.close();
  await ctx.db?.close();
  rmSync(ctx.dir, { recursive: true, force: true });
});
test.before.each(async (ctx) => {
  await truncateAll(ctx.db);
});

const finding = (d: Diagnosis, id: string): Finding => {
  const r = d.results.find((x) => x.id === id);
  assert.ok(r, `no result for ${id}`);
  return r!.finding;
};
const causes = (d: Diagnosis) => d.rootCauses.map((c) => c.id);
const findings = (d: Diagnosis) => Object.fromEntries(d.results.map((r) => [r.id, r.finding]));
const remediation = (id: string) => runbook.remediations.find((r) => r.id === id)!;
const rootCause = (id: string) => runbook.rootCauses.find((r) => r.id === id)!;

/** Probes of a calm process on a roomy host. */
const calm = {
  memoryUsage: () => ({ rss: 200 * 1024 ** 2, heapTotal: 120 * 1024 ** 2, heapUsed: 80 * 1024 ** 2, external: 5e6, arrayBuffers: 1e6 }),
  eventLoopLagMs: () => 12,
  freeMemBytes: () => 8 * GIB,
  totalMemBytes: () => 16 * GIB,
};

test('a calm process with default batch sizes indicates no root cause', async (ctx) => {
  const d = await diagnose(runbook, runbookContext(ctx.s, { probes: calm }));
  for (const r of d.results) assert.not.equal(r.finding.status, 'error', `${r.id}: ${r.finding.summary}`);
  const disk = finding(d, 'disk-free');
  // the real disk of this machine decides the status; the root cause must follow it
  assert.is(causes(d).includes('low-disk'), disk.status === 'warn' || disk.status === 'problem');
  assert.equal(causes(d).filter((c) => c !== 'low-disk'), []);

  const mem = finding(d, 'process-memory');
  assert.is(mem.status, 'ok');
  assert.is(mem.evidence?.rssBytes, 200 * 1024 ** 2);
  assert.match(mem.summary, 'RSS is 200 MiB');
  assert.is(finding(d, 'event-loop-lag').status, 'ok');
  assert.is(finding(d, 'system-memory').status, 'ok');
  assert.is(finding(d, 'system-memory').evidence?.usedRatio, 0.5);

  assert.is(disk.evidence?.databaseUrl, 'MISSING');
  assert.is(disk.evidence?.dataDir, join(ctx.dir, 'not-yet', 'data'));
  assert.is(disk.evidence?.measuredPath, ctx.dir);
  assert.ok((disk.evidence?.totalBytes as number) > 0);
  assert.match(disk.summary, 'not created yet');

  const b = finding(d, 'batch-sizes');
  assert.is(b.status, 'ok');
  assert.equal(
    [b.evidence?.yelpBatchSize, b.evidence?.assessmentBatchSize, b.evidence?.assessmentConcurrency, b.evidence?.emailBatchSize],
    [ctx.s.config.pipeline.yelpBatchSize, ctx.s.config.stages.assessmentBatchSize, ctx.s.config.stages.assessmentConcurrency, ctx.s.config.delivery.emailBatchSize],
  );
  assert.equal(b.evidence?.overridden, []);

  const jobs = finding(d, 'job-workers');
  assert.is(jobs.status, 'ok');
  assert.equal(jobs.evidence?.running, []);
  assert.ok((jobs.evidence?.jobs as { name: string }[]).some((j) => j.name === 'daily-pipeline'));
});

test('a 2 GiB RSS and a blocked event loop indicate high-memory, event-loop-blocked and large-batches', async (ctx) => {
  const rc = runbookContext(ctx.s, {
    probes: {
      ...calm,
      memoryUsage: () => ({ rss: 2 * GIB, heapTotal: 1.6 * GIB, heapUsed: 1.4 * GIB, external: 1e7, arrayBuffers: 1e6 }),
      eventLoopLagMs: () => 750,
    },
  });
  const d = await diagnose(runbook, rc);
  const c = causes(d);
  assert.ok(c.includes('high-memory'));
  assert.ok(c.includes('event-loop-blocked'));
  assert.ok(c.includes('large-batches'), 'batches can still shrink while the process is under pressure');
  const mem = finding(d, 'process-memory');
  assert.is(mem.status, 'problem');
  assert.is(mem.evidence?.rssBytes, 2 * GIB);
  assert.match(mem.summary, 'RSS is 2048 MiB');
  const lag = finding(d, 'event-loop-lag');
  assert.is(lag.status, 'problem');
  assert.is(lag.evidence?.lagMs, 750);
  assert.equal(d.rootCauses.find((x) => x.id === 'high-memory')!.remediations, ['lower-batch-sizes', 'restart-job-worker']);

  const warnOnly = await diagnose(
    runbook,
    runbookContext(ctx.s, { probes: { ...calm, memoryUsage: () => ({ ...calm.memoryUsage(), rss: RSS_WARN_BYTES + 1 }), eventLoopLagMs: () => 150 } }),
  );
  assert.is(finding(warnOnly, 'process-memory').status, 'warn');
  assert.is(finding(warnOnly, 'event-loop-lag').status, 'warn');
  assert.ok(causes(warnOnly).includes('high-memory'));

  const hostShort = await diagnose(runbook, runbookContext(ctx.s, { probes: { ...calm, freeMemBytes: () => 0.5 * GIB } }));
  assert.is(finding(hostShort, 'system-memory').status, 'problem'); // 97 % used
  assert.ok(causes(hostShort).includes('high-memory'));
});

test('lower-batch-sizes halves the assessment batch, concurrency and email batch through overrides; the recheck reads them', async (ctx) => {
  const rc = runbookContext(ctx.s, { probes: { ...calm, memoryUsage: () => ({ ...calm.memoryUsage(), rss: 2 * GIB }) } });
  const d = await diagnose(runbook, rc);
  const rem = remediation('lower-batch-sizes');
  const cfg = ctx.s.config;
  const input = rem.defaultInput!(findings(d));
  const halves = {
    assessmentBatchSize: Math.max(1, Math.floor(cfg.stages.assessmentBatchSize / 2)),
    assessmentConcurrency: Math.max(1, Math.floor(cfg.stages.assessmentConcurrency / 2)),
    emailBatchSize: Math.max(1, Math.floor(cfg.delivery.emailBatchSize / 2)),
  };
  assert.equal(input, halves);
  assert.is(rem.idempotencyKey(input), `lower-batch-sizes:${halves.assessmentBatchSize}/${halves.assessmentConcurrency}/${halves.emailBatchSize}`);
  assert.ok(rem.inputSchema!.safeParse(input).success);

  const out = await rem.run(rc, input, 'slack:U42');
  assert.match(out.summary, `Assessment batch ${cfg.stages.assessmentBatchSize} → ${halves.assessmentBatchSize}`);
  const em = ctx.db.orm.em.fork();
  for (const [key, value] of [
    ['pipeline.assessment_batch_size', halves.assessmentBatchSize],
    ['pipeline.assessment_concurrency', halves.assessmentConcurrency],
    ['delivery.email_batch_size', halves.emailBatchSize],
  ] as const) {
    const e = await getSettingEntry<number>(em, key);
    assert.is(e?.value, value, key);
    assert.is(e?.updatedBy, 'slack:U42');
  }
  const re = await runDiagnostic(runbook.diagnostics.find((x) => x.id === rem.recheck)!, rc);
  assert.is(re.finding.status, 'ok');
  assert.is(re.finding.evidence?.assessmentBatchSize, halves.assessmentBatchSize);
  assert.is(re.finding.evidence?.emailBatchSize, halves.emailBatchSize);
  assert.equal(re.finding.evidence?.overridden, ['pipeline.assessment_batch_size', 'pipeline.assessment_concurrency', 'delivery.email_batch_size']);

  // without input it halves what is in force now
  await rem.run(rc, {}, 'cli');
  assert.is((await getSettingEntry<number>(em, 'delivery.email_batch_size'))?.value, Math.max(1, Math.floor(halves.emailBatchSize / 2)));
  // it never raises a size
  try {
    await rem.run(rc, { emailBatchSize: 1000 }, 'cli');
    assert.unreachable('raising must be refused');
  } catch (err) {
    assert.match((err as Error).message, 'only lowers');
  }
});

test('large configured batches indicate large-batches on their own', async (ctx) => {
  const s = await testServices(ctx.db, { ASSESSMENT_BATCH_SIZE: '200', ASSESSMENT_CONCURRENCY: '20', EMAIL_BATCH_SIZE: '500' });
  try {
    const d = await diagnose(runbook, runbookContext(s, { probes: calm }));
    const b = finding(d, 'batch-sizes');
    assert.is(b.status, 'warn');
    assert.is((b.evidence?.large as string[]).length, 3);
    assert.ok(causes(d).includes('large-batches'));
    assert.not.ok(causes(d).includes('high-memory'));
    assert.equal(remediation('lower-batch-sizes').defaultInput!(findings(d)), { assessmentBatchSize: 100, assessmentConcurrency: 10, emailBatchSize: 250 });
  } finally {
    await s.close(); // the database is the suite's (not closed here)
  }
});

test('restart-job-worker asks job control to restart the named worker', async (ctx) => {
  const em = ctx.db.orm.em.fork();
  const started = new Date(ctx.s.clock.now().getTime() - 3 * 3600_000);
  em.create(JobRun, { job: 'daily-pipeline', status: 'running', trigger: 'schedule', startedAt: started, heartbeatAt: started });
  await em.flush();

  const calls: [string, string][] = [];
  const real = runbookContext(ctx.s).jobs;
  const jobs: JobControl = {
    ...real,
    list: () => real.list(),
    restartWorker: async (name, actor) => {
      calls.push([name, actor]);
      return { restarted: true, detail: `${name}: worker cancelled` };
    },
  };
  const rc = runbookContext(ctx.s, { jobs, probes: calm });
  const d = await diagnose(runbook, rc);
  const jw = finding(d, 'job-workers');
  assert.equal(jw.evidence?.running, ['daily-pipeline']);
  assert.equal(jw.evidence?.longRunning, ['daily-pipeline']);
  assert.is(jw.status, 'warn');

  const rem = remediation('restart-job-worker');
  const input = rem.defaultInput!(findings(d));
  assert.equal(input, { job: 'daily-pipeline' });
  assert.is(rem.idempotencyKey(input), 'restart-worker:daily-pipeline');
  const out = await rem.run(rc, input, 'slack:U7');
  assert.equal(calls, [['daily-pipeline', 'slack:U7']]);
  assert.match(out.summary, 'worker cancelled');

  // with the real job control (no scheduler in tests) nothing is cancelled: the remediation fails, saying why
  try {
    await rem.run(runbookContext(ctx.s), { job: 'daily-pipeline' }, 'cli');
    assert.unreachable('a restart that restarted nothing must not report success');
  } catch (err) {
    assert.match((err as Error).message, 'not restarted');
  }
  assert.not.ok(rem.inputSchema!.safeParse({ job: '' }).success);
});

test('disk: low free space indicates low-disk; with DATABASE_URL the data folder is not used', async (ctx) => {
  assert.is(diskVerdict(0.5), 'ok');
  assert.is(diskVerdict(0.12), 'warn');
  assert.is(diskVerdict(DISK_FREE_PROBLEM_RATIO / 2), 'problem');
  const f = (status: Finding['status']): Finding => ({ status, summary: '' });
  assert.ok(rootCause('low-disk').indicatedBy({ 'disk-free': f('problem') }));
  assert.not.ok(rootCause('low-disk').indicatedBy({ 'disk-free': f('no_data') }));

  const u = await diskUsage(ctx.dir);
  assert.is(u.measuredPath, ctx.dir);
  assert.ok(u.freeBytes > 0 && u.freeBytes <= u.totalBytes);

  const rc = runbookContext(ctx.s, { probes: calm });
  const withUrl = { ...rc, services: { ...ctx.s, config: { ...ctx.s.config, db: { ...ctx.s.config.db, url: 'postgres://user:secret@db.example:5432/lf' } } } };
  const r = await runDiagnostic(runbook.diagnostics.find((x) => x.id === 'disk-free')!, withUrl);
  assert.is(r.finding.status, 'no_data');
  assert.match(r.finding.summary, 'DATABASE_URL is set');
  assert.match(r.finding.summary, 'not used');
  assert.is(r.finding.evidence?.databaseUrl, 'SET');
  assert.not.match(JSON.stringify(r.finding), 'secret');
});

test.run();
