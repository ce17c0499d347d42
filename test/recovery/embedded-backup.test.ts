/**
 * Backups of the embedded database (PGlite data directory), run whatever DATABASE_URL says: a seeded embedded
 * database in a temporary folder is backed up while open, restored into a new folder, and the copy verifies clean
 * with the same row count in every table; a flipped byte and a non-empty target are refused; the backup job on the
 * service's main thread writes one and records `backup.succeeded`.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openDatabase, type Database } from '../../db/orm.js';
import { ManualClock } from '../../domain/clock.js';
import { backupKind, createBackup, listBackups } from '../../domain/recovery/backup.js';
import { BackupError } from '../../domain/recovery/pg-tools.js';
import { restoreBackup } from '../../domain/recovery/restore.js';
import { restoreEmbeddedBackup, takeBackup } from '../../domain/recovery/embedded-backup.js';
import { tableRowCounts, verifyDatabase } from '../../domain/recovery/verify.js';
import type { Services } from '../../domain/services.js';
import backupJob from '../../jobs/backup.js';
import { jobContext, mainJobServices } from '../../jobs/job-context.js';
import { seedSample } from '../helpers/recovery.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';

type Ctx = { root: string; db: Database; backup: string };
const test = suite<Ctx>('recovery: embedded database backup → restore (PGlite)');

test.before(async (ctx) => {
  ctx.root = mkdtempSync(join(tmpdir(), 'lf-embedded-backup-'));
  ctx.db = await openDatabase({ url: undefined, dataDir: join(ctx.root, 'live'), poolMax: 2, migrate: true });
  await seedSample(ctx.db);
});
test.after(async (ctx) => {
  await ctx.db?.close();
  rmSync(ctx.root, { recursive: true, force: true });
});

test('backup of the open database → restore into a new folder → verify clean, every table the same row count', async (ctx) => {
  const dir = join(ctx.root, 'backups');
  const r = await takeBackup(ctx.db, { dir, now: new Date('2026-11-29T04:00:00Z') });
  ctx.backup = r.file;
  assert.match(r.file, /leadfactory-20261129T040000Z\.pglite\.tar\.gz$/);
  assert.is(backupKind(r.file), 'pglite');
  assert.ok(r.bytes > 0);
  const list = await listBackups(dir);
  assert.is(list.length, 1);
  assert.is(list[0]!.verified, true);
  // two backups in the same second (a click and the nightly job) get two names, both sound
  const twins = await Promise.all([0, 1].map(() => takeBackup(ctx.db, { dir: join(ctx.root, 'twins'), now: new Date('2026-11-29T04:00:00Z') })));
  assert.is(new Set(twins.map((t) => t.file)).size, 2);
  assert.equal((await listBackups(join(ctx.root, 'twins'))).map((b) => b.verified), [true, true]);

  // the live database keeps working after the dump
  await ctx.db.orm.em.getConnection().execute(`insert into audit_log (at, actor, source, action, input, outcome) values (now(), 'cli:test', 'cli', 'test:after-backup', '{}', 'succeeded')`);

  const target = join(ctx.root, 'restored');
  const out = await restoreEmbeddedBackup({ file: r.file, dataDir: target });
  assert.is(out.dataDir, target);
  const copy = await openDatabase({ url: undefined, dataDir: target, poolMax: 2 });
  try {
    const report = await verifyDatabase(copy.orm.em.fork());
    assert.ok(report.ok, JSON.stringify(report.checks.filter((c) => !c.ok)));
    const restored = await tableRowCounts(copy.orm.em.fork());
    const live = await tableRowCounts(ctx.db.orm.em.fork());
    live.audit_log = (live.audit_log ?? 0) - 1; // the row written after the backup
    assert.equal(restored, live);
    assert.ok((restored.businesses ?? 0) > 0 && (restored.emails ?? 0) > 0);
  } finally {
    await copy.close();
  }
});

test('pg_dump and pg_restore are never pointed at the embedded PGlite through its socket (it would clear search_path for every connection)', async (ctx) => {
  const dir = join(ctx.root, 'socket-attempt');
  const e1 = await createBackup({ url: ctx.db.url, dir }).catch((e: unknown) => e);
  assert.instance(e1, BackupError);
  assert.ok(['version_mismatch', 'tool_missing'].includes((e1 as BackupError).reason), (e1 as Error).message);
  if ((e1 as BackupError).reason === 'version_mismatch') assert.match((e1 as Error).message, /pg_dump \d+ cannot handle a PostgreSQL 18 server/);
  const fake = join(ctx.root, 'leadfactory-20261129T060000Z.dump');
  writeFileSync(fake, 'PGDMP made up');
  writeFileSync(`${fake}.sha256`, `${createHash('sha256').update('PGDMP made up').digest('hex')}  leadfactory-20261129T060000Z.dump\n`);
  const e2 = await restoreBackup({ file: fake, intoFreshDatabase: true, adminUrl: ctx.db.url }).catch((e: unknown) => e);
  assert.instance(e2, BackupError);
  assert.ok(['version_mismatch', 'tool_missing'].includes((e2 as BackupError).reason), (e2 as Error).message);
  // the live database still answers unqualified table names on a new connection of the pool
  const rows = await ctx.db.orm.em.getConnection().execute<{ n: string }[]>('select count(*) as n from businesses');
  assert.ok(Number(rows[0]!.n) > 0);
});

test('a flipped byte and a non-empty target folder are refused, nothing restored', async (ctx) => {
  const bad = join(ctx.root, 'corrupt', 'leadfactory-20261129T050000Z.pglite.tar.gz');
  mkdirSync(join(ctx.root, 'corrupt'), { recursive: true });
  const bytes = readFileSync(ctx.backup);
  bytes[bytes.length >> 1] ^= 0xff;
  writeFileSync(bad, bytes);
  writeFileSync(`${bad}.sha256`, readFileSync(`${ctx.backup}.sha256`, 'utf8').replace(/leadfactory-\S+/, 'leadfactory-20261129T050000Z.pglite.tar.gz'));
  const target = join(ctx.root, 'never');
  const e1 = await restoreEmbeddedBackup({ file: bad, dataDir: target }).catch((e: unknown) => e);
  assert.instance(e1, BackupError);
  assert.is((e1 as BackupError).reason, 'checksum');
  assert.equal(await listBackups(target), [], 'nothing written');

  // a damaged archive whose checksum was recomputed: refused by PGlite, the folder left empty for a retry
  writeFileSync(`${bad}.sha256`, `${createHash('sha256').update(bytes).digest('hex')}  leadfactory-20261129T050000Z.pglite.tar.gz\n`);
  const damaged = join(ctx.root, 'damaged-target');
  const e3 = await restoreEmbeddedBackup({ file: bad, dataDir: damaged }).catch((e: unknown) => e);
  assert.instance(e3, BackupError);
  assert.is((e3 as BackupError).reason, 'tool_failed');
  assert.match((e3 as Error).message, /not a readable PGlite data directory archive/);
  assert.equal(existsSync(damaged) ? readdirSync(damaged) : [], [], 'nothing left behind');
  const retry = await restoreEmbeddedBackup({ file: ctx.backup, dataDir: damaged });
  assert.is(retry.dataDir, damaged);

  // a renamed copy is still an embedded backup (by its extension)
  assert.is(backupKind(join(ctx.root, 'prod-copy.pglite.tar.gz')), 'pglite');

  const occupied = join(ctx.root, 'occupied');
  mkdirSync(occupied);
  writeFileSync(join(occupied, 'keep.txt'), 'x');
  const e2 = await restoreEmbeddedBackup({ file: ctx.backup, dataDir: occupied }).catch((e: unknown) => e);
  assert.is((e2 as BackupError).reason, 'not_empty');
  assert.equal(readFileSync(join(occupied, 'keep.txt'), 'utf8'), 'x');
});

test('the nightly backup job on the main thread backs up the embedded database and records backup.succeeded', async (ctx) => {
  const dir = join(ctx.root, 'nightly');
  const clock = new ManualClock('2026-11-30T04:00:00Z');
  const services: Services = await testServices(ctx.db, { BACKUP_DIR: dir }, { clock });
  const jobs = mainJobServices({ em: () => ctx.db.orm.em.fork(), config: services.config, clock, logger: services.logger, runbooks: runbookContext(services) });
  try {
    const summary = await backupJob(jobContext(jobs, 'backup', { env: {} }, () => {}));
    assert.match(summary.file, /leadfactory-20261130T040000Z\.pglite\.tar\.gz$/);
    const [ev] = await ctx.db.orm.em.getConnection().execute<{ dedup_key: string }[]>(`select dedup_key from ops_events where type = 'backup.succeeded'`);
    assert.is(ev?.dedup_key, 'backup.succeeded:20261130T040000Z');
  } finally {
    await services.close();
  }
});

test.run();
