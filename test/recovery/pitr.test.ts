/**
 * Point-in-time recovery on a second, throw-away PostgreSQL cluster with WAL archiving (created by the test with
 * initdb on a free loopback port, removed after): a base backup, then good writes, the target time, a bad change
 * (every business deleted); restoring to the target brings up a NEW cluster holding the good writes and not the bad
 * change, and it verifies clean. The shared server (archive_mode off) is reported as unable to do PITR, with why.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { join } from 'node:path';
import { existsSync, readdirSync } from 'node:fs';
import { openDatabase } from '../../db/orm.js';
import { Business } from '../../db/entities/index.js';
import { restoreToTime, stopRestoredCluster, takeBaseBackup, walArchiveStatus, listBaseBackups } from '../../domain/recovery/pitr.js';
import { BackupError } from '../../domain/recovery/pg-tools.js';
import { verifyDatabase } from '../../domain/recovery/verify.js';
import { freshDatabase } from '../helpers/db.js';
import { seedSample } from '../helpers/recovery.js';
import { clusterUnavailable, createThrowawayCluster, type ThrowawayCluster } from '../helpers/pg-cluster.js';

const unavailable = clusterUnavailable();
const test = suite<{ cluster: ThrowawayCluster; url: string }>('recovery: point-in-time restore (throw-away cluster with WAL archiving)');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function sql<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(text)).rows;
  } finally {
    await c.end();
  }
}

/** Forces the current WAL segment into the archive and waits until the archiver has copied it. */
async function archiveNow(url: string): Promise<void> {
  const [seg] = await sql<{ f: string }>(url, 'select pg_walfile_name(pg_switch_wal()) as f');
  for (let i = 0; i < 100; i++) {
    const [s] = await sql<{ last: string | null }>(url, 'select last_archived_wal as last from pg_stat_archiver');
    if (s?.last && seg && s.last >= seg.f) return;
    await sleep(100);
  }
  throw new Error('the WAL segment was not archived within 10 s');
}

if (unavailable) {
  test.skip(`point-in-time restore (skipped: ${unavailable})`, () => undefined);
} else {
  test.before(async (ctx) => {
    ctx.cluster = await createThrowawayCluster();
    await sql(ctx.cluster.adminUrl, 'create database leadfactory');
    ctx.url = ctx.cluster.adminUrl.replace(/\/postgres$/, '/leadfactory');
  });
  test.after(async (ctx) => {
    await ctx.cluster?.remove();
  });

  test('the shared server without WAL archiving says plainly that it cannot restore to a point in time', async () => {
    const status = await walArchiveStatus(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
    assert.is(status.supported, false);
    assert.match(status.reason ?? '', /WAL archiving is off/);
  });

  test('base backup, good writes, target, bad change → restore to the target has the good writes only, verified', async (ctx) => {
    assert.is((await walArchiveStatus(ctx.url)).supported, true);
    const db = await freshDatabase({ url: ctx.url });
    await seedSample(db);
    const base = await takeBaseBackup({ url: ctx.url, dir: join(ctx.cluster.root, 'base') });
    assert.ok(existsSync(join(base.path, 'base.tar.gz')));
    assert.is((await listBaseBackups(join(ctx.cluster.root, 'base'))).length, 1);
    // good writes after the base backup: only WAL replay can bring them back
    const em = db.orm.em.fork();
    em.create(Business, { yelpId: 'yelp-after-base', name: 'Written after the base backup', status: 'new' });
    await em.flush();
    await sleep(1100);
    const target = new Date();
    await sleep(1100);
    await sql(ctx.url, 'delete from emails; delete from assessment_results; delete from purchases; delete from businesses');
    await db.close();
    await archiveNow(ctx.cluster.adminUrl);

    const before = await restoreToTime({ baseDir: join(ctx.cluster.root, 'base'), walArchiveDir: ctx.cluster.archiveDir, targetTime: new Date(base.takenAt.getTime() - 60_000), dataDir: join(ctx.cluster.root, 'nope'), sourceUrl: ctx.url }).catch((e: unknown) => e);
    assert.ok(before instanceof BackupError && before.reason === 'bad_request', 'a target before every base backup is refused');

    const restored = await restoreToTime({ baseDir: join(ctx.cluster.root, 'base'), walArchiveDir: ctx.cluster.archiveDir, targetTime: target, dataDir: join(ctx.cluster.root, 'restored'), sourceUrl: ctx.url });
    try {
      const names = (await sql<{ name: string }>(restored.url, 'select name from businesses order by id')).map((r) => r.name);
      assert.is(names.length, 7, `6 seeded + 1 written after the base backup, got ${names.join(', ')}`);
      assert.ok(names.includes('Written after the base backup'));
      const copy = await openDatabase({ url: restored.url, dataDir: ':memory:', poolMax: 2 });
      try {
        const report = await verifyDatabase(copy.orm.em.fork());
        assert.ok(report.ok, JSON.stringify(report.checks.filter((c) => !c.ok)));
      } finally {
        await copy.close();
      }
      // the source still shows the bad change: the restore never touched it
      assert.is((await sql(ctx.url, 'select 1 from businesses')).length, 0);
    } finally {
      await stopRestoredCluster(restored, { remove: true });
    }
    assert.not.ok(existsSync(join(ctx.cluster.root, 'restored')));
    assert.ok(readdirSync(ctx.cluster.archiveDir).length > 0);
  });
}

test.run();
