/**
 * `lf db` recovery beyond whole-database restores, through the real CLI on the shared PostgreSQL: a single table
 * restored from a pg_dump backup (`--table`) into a fresh database holds that table only, with its rows; on a
 * server without WAL archiving `db basebackup` and `db restore --timestamp` refuse with the reason (exit 1, audited);
 * a time without a zone is a usage error (exit 2). (The point-in-time restore itself: ./pitr.test.ts.)
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { createBackup } from '../../domain/recovery/backup.js';
import { createDatabase, dropDatabase } from '../../domain/recovery/restore.js';
import { recentAudit } from '../../runbooks/actions.js';
import { freshDatabase } from '../helpers/db.js';
import { seedSample } from '../helpers/recovery.js';

const ROOT = resolve(import.meta.dirname, '../..');

function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(join(ROOT, 'node_modules/.bin/tsx'), ['bot/cli.ts', ...args], { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'test', ...env }, timeout: 120_000 }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

function unavailable(): string | undefined {
  if (!process.env.DATABASE_URL) return 'DATABASE_URL is unset (pg_dump cannot dump the embedded PGlite)';
  try {
    execFileSync('pg_dump', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'pg_dump is not installed';
  }
  return undefined;
}

const why = unavailable();
const test = suite<{ db: Database; source: string; dir: string; env: Record<string, string>; made: string[] }>('recovery: lf db --table and point-in-time refusals (PostgreSQL)');

if (why) {
  test.skip(`lf db --table / PITR refusals (skipped: ${why})`, () => undefined);
} else {
  test.before(async (ctx) => {
    ctx.made = [];
    ctx.source = `lf_pitrcli_${process.pid}_${Date.now().toString(36)}`;
    const url = await createDatabase(process.env.DATABASE_URL!, ctx.source);
    ctx.db = await freshDatabase({ url });
    await seedSample(ctx.db);
    ctx.dir = mkdtempSync(join(tmpdir(), 'lf-pitrcli-'));
    ctx.env = { DATABASE_URL: url, SANDBOX_PORT: '0', BACKUP_DIR: ctx.dir, LF_CLI_ROLE: 'admin' };
  });
  test.after(async (ctx) => {
    await ctx.db?.close();
    for (const name of [...(ctx.made ?? []), ctx.source]) if (name) await dropDatabase(process.env.DATABASE_URL!, name, { force: true }).catch(() => undefined);
    if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
  });

  test('db restore --backup F --table businesses --yes: a fresh database with that table only and its rows', async (ctx) => {
    const backup = await createBackup({ url: ctx.db.url, dir: ctx.dir, now: new Date('2026-12-05T04:00:00Z') });
    const r = await cli(['db', 'restore', '--backup', backup.file, '--table', 'businesses', '--yes'], ctx.env);
    assert.is(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /restored businesses from [\s\S]*businesses: 6 rows/);
    const name = /into postgres:\/\/[^/]+\/(\w+)/.exec(r.stdout)?.[1];
    assert.ok(name, r.stdout);
    ctx.made.push(name);
    const c = new pg.Client({ connectionString: process.env.DATABASE_URL!.replace(/\/[^/]*$/, `/${name}`) });
    await c.connect();
    try {
      const tables = (await c.query<{ t: string }>(`select table_name as t from information_schema.tables where table_schema = 'public'`)).rows.map((x) => x.t);
      assert.equal(tables, ['businesses']);
    } finally {
      await c.end();
    }
    const [row] = await recentAudit(ctx.db.orm.em.fork(), { action: 'db:restore' });
    assert.match(row?.detail ?? '', /restored businesses from/);
  });

  test('without WAL archiving: basebackup and restore --timestamp refuse with the reason, audited; a zone-less time is exit 2', async (ctx) => {
    const b = await cli(['db', 'basebackup'], ctx.env);
    assert.is(b.code, 1, b.stdout + b.stderr);
    assert.match(b.stdout, /cannot take a base backup for point-in-time recovery: WAL archiving is off/);
    const r = await cli(['db', 'restore', '--timestamp', '2026-12-05T03:00:00Z', '--yes'], ctx.env);
    assert.is(r.code, 1);
    assert.match(r.stdout, /cannot restore to a point in time: WAL archiving is off/);
    const [row] = await recentAudit(ctx.db.orm.em.fork(), { action: 'db:restore' });
    assert.is(row?.outcome, 'refused');
    const u = await cli(['db', 'restore', '--timestamp', '2026-12-05 03:00', '--yes'], ctx.env);
    assert.is(u.code, 2);
    assert.match(u.stderr, /give a zone/);
  });
}

test.run();
