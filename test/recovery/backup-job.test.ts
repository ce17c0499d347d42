/**
 * The backup job module (jobs/backup.ts), run in-process as the scheduler's worker would: a run writes a checksummed
 * backup into BACKUP_DIR, rotates backups past BACKUP_RETENTION_DAYS and records `backup.succeeded` (PostgreSQL
 * with pg_dump only); a failing pg_dump (PG_BIN_DIR without one) records `backup.failed` and the run throws (any
 * database).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { loadConfig } from '../../domain/config.js';
import { verifyChecksum } from '../../domain/recovery/backup.js';
import backupJob, { BACKUP_JOB } from '../../jobs/backup.js';
import { withOwnJobContext } from '../../jobs/job-context.js';
import type { JobData, JobReport, JobStatus } from '../../jobs/job-types.js';
import { DB_KIND, freshDatabase, sharedEmbeddedUrl, truncateAll } from '../helpers/db.js';
import { testIf } from '../helpers/preconditions.js';

function pgDumpMissing(): boolean {
  try {
    execFileSync('pg_dump', ['--version'], { stdio: 'ignore' });
    return false;
  } catch {
    return true;
  }
}

const test = suite<{ db: Database; url: string; dir: string }>(`recovery: backup job (${DB_KIND})`);

test.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.url = process.env.DATABASE_URL || (await sharedEmbeddedUrl());
});
test.after(async (ctx) => {
  await ctx.db?.close();
});
test.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  ctx.dir = mkdtempSync(join(tmpdir(), 'lf-backup-job-'));
});
test.after.each((ctx) => {
  rmSync(ctx.dir, { recursive: true, force: true });
});

async function events(db: Database): Promise<{ type: string; severity: string; payload: Record<string, unknown> }[]> {
  return db.orm.em.getConnection().execute(`select type, severity, payload from ops_events where type like 'backup.%' order by id`);
}

test('config: BACKUP_DIR and BACKUP_RETENTION_DAYS default to .data/backups and 30; the catalog entry runs at 04:00 UTC', () => {
  const c = loadConfig({});
  assert.equal(c.recovery, { backupDir: '.data/backups', retentionDays: 30, pgBinDir: undefined, walArchiveDir: undefined, baseBackupDir: '.data/backups/base' });
  assert.is(loadConfig({ BACKUP_DIR: '/srv/b/' }).recovery.baseBackupDir, '/srv/b/base');
  assert.is(loadConfig({ BACKUP_RETENTION_DAYS: '7' }).recovery.retentionDays, 7);
  assert.throws(() => loadConfig({ BACKUP_RETENTION_DAYS: '0' }), /BACKUP_RETENTION_DAYS/);
  assert.is(BACKUP_JOB.cron, '0 4 * * *');
  assert.is(BACKUP_JOB.file, 'backup');
});

test('a failing pg_dump records backup.failed and the run throws', async (ctx) => {
  const now = '2026-11-29T04:00:00.000Z';
  const err = await runBackup({ env: { DATABASE_URL: ctx.url, BACKUP_DIR: ctx.dir, PG_BIN_DIR: join(ctx.dir, 'no-such-bin') }, now }, () => undefined).catch((e: unknown) => e);
  assert.instance(err, Error);
  assert.match((err as Error).message, /pg_dump is not installed/);
  const evs = await events(ctx.db);
  assert.equal(evs.map((e) => [e.type, e.severity]), [['backup.failed', 'critical']]);
  assert.is(evs[0]?.payload.reason, 'tool_missing');
  assert.equal(readdirSync(ctx.dir), [], 'nothing left behind');
});

/** Runs the backup job as a worker thread does: a one-connection pool of its own from `data.env`, closed after. */
const runBackup = (data: JobData, report: JobReport) => withOwnJobContext('backup', data, report, 'database', backupJob);

const pgOnly = testIf(test, DB_KIND === 'postgres' && !pgDumpMissing(), 'needs DATABASE_URL (PostgreSQL) and pg_dump');

pgOnly('a run writes a checksummed backup, rotates old ones and records backup.succeeded', async (ctx) => {
  const old = join(ctx.dir, 'leadfactory-20261001T040000Z.dump');
  writeFileSync(old, 'old');
  writeFileSync(`${old}.sha256`, 'x');
  const progress: JobStatus[] = [];
  const summary = await runBackup(
    { env: { DATABASE_URL: ctx.url, BACKUP_DIR: ctx.dir, BACKUP_RETENTION_DAYS: '30' }, now: '2026-11-29T04:00:00.000Z' },
    (s) => progress.push(s),
  );
  assert.match(summary.file, /leadfactory-20261129T040000Z\.dump$/);
  assert.ok((await verifyChecksum(summary.file)).ok);
  assert.equal(summary.rotated, [old]);
  assert.is(existsSync(old), false);
  assert.equal(progress, [
    { kind: 'progress', stage: 'backup', n: 1 },
    { kind: 'progress', stage: 'rotate', n: 1 },
  ]);
  const evs = await events(ctx.db);
  assert.equal(evs.map((e) => [e.type, e.severity]), [['backup.succeeded', 'info']]);
  assert.is(evs[0]?.payload.sha256, summary.sha256);
});

test.run();
