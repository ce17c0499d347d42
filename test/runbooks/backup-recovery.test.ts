/**
 * Runbook backup-recovery on a real database: no backup → "take one now" with a Back up now remediation that
 * writes a checksummed backup (re-check ok); an old backup and a corrupted one are problems; failed backup runs are
 * reported; integrity problems point at the terminal restore; where pg_dump cannot dump the server (the embedded
 * PGlite reports PostgreSQL 18) no button is offered and the reason is named.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { recordOpsEvent } from '../../domain/events.js';
import { createBackup, listBackups } from '../../domain/recovery/backup.js';
import type { Services } from '../../domain/services.js';
import { executeRemediation } from '../../runbooks/actions.js';
import { RESTORE_COMMAND, runbook } from '../../runbooks/backup-recovery.js';
import { diagnose, type Diagnosis, type Finding } from '../../runbooks/define.js';
import { RUNBOOKS, findRunbook } from '../../runbooks/index.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { testIf } from '../helpers/preconditions.js';
import { testServerDumpable } from '../helpers/recovery.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';

type Ctx = { db: Database; s: Services; dir: string; dumpable: boolean };
const DUMPABLE = testServerDumpable();
const test = suite<Ctx>(`runbook backup-recovery (${DB_KIND})`);

test.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.dir = mkdtempSync(join(tmpdir(), 'lf-backup-rb-'));
  ctx.s = await testServices(ctx.db, { BACKUP_DIR: ctx.dir, DATABASE_URL: ctx.db.url }); // backups scheduled, as with DATABASE_URL
  ctx.dumpable = DUMPABLE;
});
test.after(async (ctx) => {
  await ctx.s?.close();
  await ctx.db?.close();
  rmSync(ctx.dir, { recursive: true, force: true });
});
test.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  rmSync(ctx.dir, { recursive: true, force: true });
});

const finding = (d: Diagnosis, id: string): Finding => d.results.find((r) => r.id === id)!.finding;
const causes = (d: Diagnosis) => d.rootCauses.map((c) => c.id);
const OPERATOR = { id: 'slack:UOPER', role: 'operator' as const, source: 'slack' as const, display: '<@UOPER>' };
const VIEWER = { ...OPERATOR, id: 'slack:UVIEW', role: 'viewer' as const };

test('registered with its aliases', () => {
  assert.ok(RUNBOOKS.includes(runbook));
  for (const alias of ['backup', 'backups', 'recovery', 'backup-recovery']) assert.is(findRunbook(alias)?.id, 'backup-recovery');
});

test('no backup: take one now — the button (operator) writes a checksummed backup and the re-check is ok; a viewer is refused', async (ctx) => {
  const d = await diagnose(runbook, runbookContext(ctx.s));
  for (const r of d.results) assert.not.equal(r.finding.status, 'error', `${r.id}: ${r.finding.summary}`);
  assert.is(finding(d, 'integrity').status, 'ok', finding(d, 'integrity').summary);
  if (!ctx.dumpable) {
    // e.g. the embedded PGlite (PostgreSQL 18) with this machine's pg_dump 15: the reason, no button
    assert.match(finding(d, 'latest-backup').summary, /Backups cannot be taken here: pg_dump \d+ cannot dump a PostgreSQL \d+ server/);
    assert.equal(causes(d), ['backup-tool-unusable']);
    return;
  }
  assert.is(finding(d, 'latest-backup').status, 'problem');
  assert.match(finding(d, 'latest-backup').summary, /No backup in/);
  assert.equal(causes(d), ['no-recent-backup']);

  const refused = await executeRemediation(runbookContext(ctx.s), RUNBOOKS, { runbook: 'backup-recovery', remediation: 'backup-now', nonce: 'n-view' }, VIEWER);
  assert.is(refused.status, 'refused');
  assert.is((await listBackups(ctx.dir)).length, 0);

  const out = await executeRemediation(runbookContext(ctx.s), RUNBOOKS, { runbook: 'backup-recovery', remediation: 'backup-now', nonce: 'n-op' }, OPERATOR);
  assert.is(out.status, 'succeeded', JSON.stringify(out));
  if (out.status !== 'succeeded') return;
  assert.match(out.detail, /Backup written: .*leadfactory-.*\.dump/);
  assert.is(out.recheck?.finding.status, 'ok', out.recheck?.finding.summary);
  const list = await listBackups(ctx.dir);
  assert.is(list.length, 1);
  assert.is(list[0]!.verified, true);
});

testIf(test, DUMPABLE, "this machine's pg_dump cannot dump the test database's server")('an old backup and a corrupted one are problems; failed backup runs are reported', async (ctx) => {
  const old = await createBackup({ url: ctx.db.url, dir: ctx.dir, now: new Date(Date.now() - 3 * 86_400_000) });
  let d = await diagnose(runbook, runbookContext(ctx.s));
  assert.is(finding(d, 'latest-backup').status, 'problem');
  assert.match(finding(d, 'latest-backup').summary, /older than 26 h, the nightly backup did not run/);

  const fresh = await createBackup({ url: ctx.db.url, dir: ctx.dir, now: new Date() });
  d = await diagnose(runbook, runbookContext(ctx.s));
  assert.is(finding(d, 'latest-backup').status, 'ok', finding(d, 'latest-backup').summary);
  const bytes = readFileSync(fresh.file);
  bytes[bytes.length - 10] ^= 0xff;
  writeFileSync(fresh.file, bytes);
  d = await diagnose(runbook, runbookContext(ctx.s));
  assert.is(finding(d, 'latest-backup').status, 'problem');
  assert.match(finding(d, 'latest-backup').summary, /fails its checksum \(mismatch\)/);
  assert.ok(old.file !== fresh.file);

  await recordOpsEvent(ctx.db.orm.em.fork(), { type: 'backup.failed', severity: 'critical', dedupKey: 'backup.failed:test', payload: { error: 'pg_dump: connection refused' } }, new Date());
  d = await diagnose(runbook, runbookContext(ctx.s));
  assert.is(finding(d, 'backup-runs').status, 'problem');
  assert.match(finding(d, 'backup-runs').summary, /1 backup.failed event\(s\); last error: pg_dump: connection refused/);
  assert.ok(causes(d).includes('no-recent-backup'));
});

test('a database the service does not back up (given to it, not DATABASE_URL or embedded): a missing backup is no_data, not a root cause', async (ctx) => {
  const s = { ...ctx.s, config: { ...ctx.s.config, db: { ...ctx.s.config.db, url: undefined } } };
  const d = await diagnose(runbook, runbookContext(s));
  assert.is(finding(d, 'latest-backup').status, 'no_data');
  assert.match(finding(d, 'latest-backup').summary, /this process does not back this database up/);
  assert.equal(causes(d), []);
});

test('integrity problems point at the terminal restore, not at a button', async (ctx) => {
  await ctx.db.orm.em.getConnection().execute(
    `insert into businesses (yelp_id, name, status, created_at, updated_at) values ('y-int-1', 'Emailed Without Email', 'emailed', now(), now())`,
  );
  const d = await diagnose(runbook, runbookContext(ctx.s));
  assert.is(finding(d, 'integrity').status, 'problem');
  assert.match(finding(d, 'integrity').summary, /1 business\(es\) 'emailed' without any email row/);
  const cause = d.rootCauses.find((c) => c.id === 'integrity-problems');
  assert.ok(cause, causes(d).join(','));
  assert.ok(cause!.title.includes(RESTORE_COMMAND));
  assert.equal(cause!.remediations, []);
});

test.run();
