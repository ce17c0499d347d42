/**
 * Backup and restore on the real PostgreSQL (DATABASE_URL): a seeded database is dumped with pg_dump, restored
 * into a fresh database with pg_restore, and the copy verifies clean with the same row count in every table; a
 * backup with one flipped byte is refused by its checksum before any database is created. Each suite makes its
 * own source database on the server and drops it (and every restored copy) afterwards.
 * Skipped, with a message, without DATABASE_URL (the embedded PGlite reports PostgreSQL 18, newer than the
 * machine's pg_dump) or without pg_dump.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openDatabase, type Database } from '../../db/orm.js';
import { checksumPath, createBackup, listBackups, verifyChecksum } from '../../domain/recovery/backup.js';
import { BackupError, databaseName } from '../../domain/recovery/pg-tools.js';
import { createDatabase, dropDatabase, restoreBackup } from '../../domain/recovery/restore.js';
import { tableRowCounts, verifyDatabase } from '../../domain/recovery/verify.js';
import { freshDatabase } from '../helpers/db.js';
import { seedSample } from '../helpers/recovery.js';

/** Why the suite cannot run here, or undefined when it can. */
function recoveryUnavailable(): string | undefined {
  if (!process.env.DATABASE_URL) return 'DATABASE_URL is unset (pg_dump cannot dump the embedded PGlite, PostgreSQL 18)';
  try {
    execFileSync('pg_dump', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'pg_dump is not installed';
  }
  return undefined;
}

const unavailable = recoveryUnavailable();
const test = suite<{ adminUrl: string; sourceName: string; db: Database; dir: string; backup: string; restored: string[] }>('recovery: backup → restore (PostgreSQL)');

if (unavailable) {
  console.log(`  recovery backup/restore tests skipped: ${unavailable}`);
  test.skip('backup → restore into a fresh database → verify clean, row counts equal', () => undefined);
  test.skip('a backup with a flipped byte is refused by its checksum', () => undefined);
} else {
  test.before(async (ctx) => {
    ctx.adminUrl = process.env.DATABASE_URL!;
    ctx.sourceName = `lf_recovery_${process.pid}_${Date.now().toString(36)}`;
    ctx.restored = [];
    const url = await createDatabase(ctx.adminUrl, ctx.sourceName);
    ctx.db = await freshDatabase({ url });
    await seedSample(ctx.db);
    ctx.dir = mkdtempSync(join(tmpdir(), 'lf-backups-'));
  });

  test.after(async (ctx) => {
    await ctx.db?.close();
    for (const name of [...(ctx.restored ?? []), ctx.sourceName]) if (name) await dropDatabase(ctx.adminUrl, name, { force: true }).catch(() => undefined);
    if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
  });

  test('backup → restore into a fresh database → verify clean, row counts equal', async (ctx) => {
    const now = new Date('2026-11-29T04:00:00Z');
    const backup = await createBackup({ url: ctx.db.url, dir: ctx.dir, now });
    ctx.backup = backup.file;
    assert.match(backup.file, /leadfactory-20261129T040000Z\.dump$/);
    assert.ok(backup.bytes > 1000, `backup has ${backup.bytes} bytes`);
    assert.match(readFileSync(checksumPath(backup.file), 'utf8'), new RegExp(`^${backup.sha256}  leadfactory-20261129T040000Z\\.dump\\n$`));
    assert.equal((await verifyChecksum(backup.file)).ok, true);
    const listed = await listBackups(ctx.dir);
    assert.equal(listed.map((b) => [b.name, b.verified]), [['leadfactory-20261129T040000Z.dump', true]]);

    const result = await restoreBackup({ file: backup.file, intoFreshDatabase: true, adminUrl: ctx.db.url, now });
    ctx.restored.push(result.database);
    assert.is(result.created, true);
    assert.is(result.database, `${ctx.sourceName}_restore_20261129t040000z`);
    assert.is(databaseName(result.targetUrl), result.database);

    const copy = await openDatabase({ url: result.targetUrl, dataDir: ':memory:', poolMax: 1 });
    try {
      const report = await verifyDatabase(copy.orm.em.fork());
      assert.ok(report.ok, JSON.stringify(report.checks.filter((c) => !c.ok)));
      const source = await tableRowCounts(ctx.db.orm.em.fork());
      const restored = await tableRowCounts(copy.orm.em.fork());
      assert.equal(restored, source);
      assert.is(source.businesses, 6);
      assert.is(source.emails, 2);
      assert.is(source.assessment_results, 4);
      const emailed = report.checks.find((c) => c.id === 'counts-businesses');
      assert.equal((emailed?.data as Record<string, number>).emailed, 2);
    } finally {
      await copy.close();
    }

    // a named target that already holds tables is refused
    const err = await restoreBackup({ file: backup.file, targetUrl: ctx.db.url }).catch((e: unknown) => e);
    assert.instance(err, BackupError);
    assert.is((err as BackupError).reason, 'not_empty');
  });

  test('a backup with a flipped byte is refused by its checksum', async (ctx) => {
    const corrupt = join(ctx.dir, 'leadfactory-20261129T050000Z.dump');
    copyFileSync(ctx.backup, corrupt);
    copyFileSync(checksumPath(ctx.backup), checksumPath(corrupt));
    const bytes = readFileSync(corrupt);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = bytes[at]! ^ 0xff;
    writeFileSync(corrupt, bytes);

    const check = await verifyChecksum(corrupt);
    assert.is(check.ok, false);
    assert.is(check.reason, 'mismatch');
    const listed = await listBackups(ctx.dir);
    assert.equal(listed.map((b) => [b.name, b.verified]), [
      ['leadfactory-20261129T050000Z.dump', false],
      ['leadfactory-20261129T040000Z.dump', true],
    ]);

    const before = await databasesLike(ctx.db, `${ctx.sourceName}_restore_%`);
    const err = await restoreBackup({ file: corrupt, intoFreshDatabase: true, adminUrl: ctx.db.url, now: new Date('2026-11-29T05:00:00Z') }).catch((e: unknown) => e);
    assert.instance(err, BackupError);
    assert.is((err as BackupError).reason, 'checksum');
    assert.match((err as Error).message, /checksum mismatch/);
    assert.equal(await databasesLike(ctx.db, `${ctx.sourceName}_restore_%`), before, 'no database was created');
  });
}

async function databasesLike(db: Database, pattern: string): Promise<string[]> {
  const rows = await db.orm.em.getConnection().execute<{ datname: string }[]>('select datname from pg_database where datname like ? order by datname', [pattern]);
  return rows.map((r) => r.datname);
}

test.run();
