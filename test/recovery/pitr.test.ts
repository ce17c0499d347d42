/**
 * Point-in-time recovery on a second, throw-away PostgreSQL cluster with WAL archiving (created by the test with
 * initdb on a free loopback port, removed after): a base backup, then good writes, the target time, a bad change
 * (every business deleted); restoring to the target brings up a NEW cluster holding the good writes and not the bad
 * change, and it verifies clean. The shared server (archive_mode off) is reported as unable to do PITR, with why.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
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
const ROOT = resolve(import.meta.dirname, '../..');

/** The real CLI as a child process (`tsx bot/cli.ts`). */
function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(join(ROOT, 'node_modules/.bin/tsx'), ['bot/cli.ts', ...args], { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'test', ...env }, timeout: 180_000 }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}
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

if (!unavailable) {
  test('through the CLI: lf db basebackup, then lf db restore --timestamp --yes → a new cluster, verified clean', async (ctx) => {
    const env = { DATABASE_URL: ctx.url, SANDBOX_PORT: '0', LF_CLI_ROLE: 'admin', BACKUP_DIR: join(ctx.cluster.root, 'cli-backups'), WAL_ARCHIVE_DIR: ctx.cluster.archiveDir };
    const b = await cli(['db', 'basebackup'], env);
    assert.is(b.code, 0, b.stdout + b.stderr);
    assert.match(b.stdout, /base backup written: .*cli-backups\/base\/base-\d{8}T\d{6}Z/);
    await sleep(1100);
    await sql(ctx.url, `insert into targets (location, category, active, created_at, updated_at) values ('Boise, ID', 'dentists', true, now(), now())`);
    await sleep(1100);
    const target = new Date().toISOString();
    await sleep(1100);
    await sql(ctx.url, `delete from targets where location = 'Boise, ID'`); // the bad change, after the target
    await archiveNow(ctx.cluster.adminUrl);
    const dry = await cli(['db', 'restore', '--timestamp', target], env);
    assert.is(dry.code, 1);
    assert.match(dry.stdout, /Would restore to .* into a new cluster/);
    const into = join(ctx.cluster.root, 'cli-restored');
    const r = await cli(['db', 'restore', '--timestamp', target, '--into-dir', into, '--yes'], env);
    try {
      assert.is(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /db verify on it: clean/);
      const url = /running at (postgres:\/\/\S+)/.exec(r.stdout)?.[1];
      assert.ok(url, r.stdout);
      const boise = await sql(url, `select 1 from targets where location = 'Boise, ID'`);
      assert.is(boise.length, 1, 'the write made after the base backup was replayed from the archive');
    } finally {
      await stopRestoredCluster({ dataDir: into }, { remove: true });
    }
  });
}

test.run();
