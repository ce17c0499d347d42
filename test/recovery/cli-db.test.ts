/**
 * `npm run lf -- db …` through the real CLI (`tsx bot/cli.ts` as a child process) against the test database:
 * `db verify --json`, `db backups`, `db restore` refused without `--yes` (printing the plan) and for a non-admin
 * CLI role, `db backup` (PostgreSQL with pg_dump only), the help text, and the audit rows they leave.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { checksumPath, sha256File } from '../../domain/recovery/backup.js';
import { recentAudit } from '../../runbooks/actions.js';
import { DB_KIND, freshDatabase, sharedEmbeddedUrl } from '../helpers/db.js';
import { testIf } from '../helpers/preconditions.js';

const ROOT = resolve(import.meta.dirname, '../..');
const TSX = join(ROOT, 'node_modules/.bin/tsx');

function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(TSX, ['bot/cli.ts', ...args], { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'test', ...env }, timeout: 90_000 }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const test = suite<{ db: Database; env: Record<string, string>; dir: string; backup: string }>(`recovery: lf db CLI (${DB_KIND})`);

test.before(async (ctx) => {
  ctx.db = await freshDatabase();
  const url = process.env.DATABASE_URL ?? (await sharedEmbeddedUrl());
  ctx.dir = mkdtempSync(join(tmpdir(), 'lf-cli-db-'));
  ctx.env = { DATABASE_URL: url, SANDBOX_PORT: '0', BACKUP_DIR: ctx.dir };
  // a made-up backup with a valid checksum: enough for listing and for the restore confirmation
  ctx.backup = join(ctx.dir, 'leadfactory-20261128T040000Z.dump');
  writeFileSync(ctx.backup, 'PGDMP made up');
  writeFileSync(checksumPath(ctx.backup), `${await sha256File(ctx.backup)}  leadfactory-20261128T040000Z.dump\n`);
});

test.after(async (ctx) => {
  await ctx.db?.close();
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

test('db verify --json prints the checks and exits 0 on a clean database; audited as cli:<user>', async (ctx) => {
  const r = await cli(['db', 'verify', '--json'], ctx.env);
  assert.is(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { ok: boolean; checks: { id: string; ok: boolean }[] };
  assert.is(report.ok, true);
  assert.ok(report.checks.some((c) => c.id === 'foreign-keys' && c.ok));
  assert.ok(report.checks.some((c) => c.id === 'counts-businesses'));
  const [row] = await recentAudit(ctx.db.orm.em.fork(), { action: 'db:verify' });
  assert.is(row?.outcome, 'succeeded');
  assert.match(row?.actor ?? '', /^cli:/);
  assert.is(row?.source, 'cli');
});

test('db restore without --yes is refused: prints what it would do, changes nothing, audited refused', async (ctx) => {
  const r = await cli(['db', 'restore', '--backup', ctx.backup], ctx.env);
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /Would restore .*leadfactory-20261128T040000Z\.dump into a new database \w+_restore_\d{8}t\d{6}z/);
  assert.match(r.stdout, /checksum: ok/);
  assert.match(r.stdout, /Nothing done\. Run again with --yes/);
  const [row] = await recentAudit(ctx.db.orm.em.fork(), { action: 'db:restore' });
  assert.is(row?.outcome, 'refused');
  assert.match(row?.detail ?? '', /not confirmed/);
});

test('db restore needs the admin CLI role, even with --yes', async (ctx) => {
  const r = await cli(['db', 'restore', '--backup', ctx.backup, '--fresh', '--yes'], { ...ctx.env, LF_CLI_ROLE: 'operator' });
  assert.is(r.code, 1);
  assert.match(r.stderr, /refused: db restore needs the admin role; cli:\S+ has operator/);
  const [row] = await recentAudit(ctx.db.orm.em.fork(), { action: 'db:restore' });
  assert.is(row?.outcome, 'refused');
});

test('db backups lists the folder with checksums; usage errors exit 2; help names the db commands', async (ctx) => {
  const r = await cli(['db', 'backups', '--json'], ctx.env);
  assert.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { backups: { name: string; verified: boolean }[] };
  assert.equal(out.backups.map((b) => [b.name, b.verified]), [['leadfactory-20261128T040000Z.dump', true]]);
  const usage = await cli(['db', 'restore', '--yes'], ctx.env);
  assert.is(usage.code, 2);
  assert.match(usage.stderr, /db restore needs --backup <file>/);
  const help = await cli(['help'], ctx.env);
  assert.match(help.stdout, /db restore --backup <file>/);
  assert.match(help.stdout, /db verify \[--json\]/);
});

let pgDump = true;
try {
  execFileSync('pg_dump', ['--version'], { stdio: 'ignore' });
} catch {
  pgDump = false;
}
const pgOnly = testIf(test, DB_KIND === 'postgres' && pgDump, 'needs DATABASE_URL (PostgreSQL) and pg_dump');

pgOnly('db backup --dir writes a checksummed dump and says where', async (ctx) => {
  const dir = join(ctx.dir, 'nightly');
  const r = await cli(['db', 'backup', '--dir', dir], ctx.env);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /backup written: .*leadfactory-\d{8}T\d{6}Z\.dump/);
  const files = readdirSync(dir).sort();
  assert.is(files.length, 2);
  assert.match(files[1]!, /\.dump\.sha256$/);
  const [row] = await recentAudit(ctx.db.orm.em.fork(), { action: 'db:backup' });
  assert.is(row?.outcome, 'succeeded');
});

test('embedded database, service stopped: db backup writes its data directory; db restore --into-dir brings it back verified clean', async () => {
  const root = mkdtempSync(join(tmpdir(), 'lf-cli-embedded-'));
  try {
    const env = { SANDBOX_PORT: '0', DATA_DIR: join(root, 'data'), BACKUP_DIR: join(root, 'backups'), LF_CLI_ROLE: 'admin' };
    const b = await cli(['db', 'backup'], env);
    assert.is(b.code, 0, b.stderr);
    const [file] = readdirSync(join(root, 'backups')).filter((f) => f.endsWith('.pglite.tar.gz'));
    assert.ok(file, b.stdout);
    const target = join(root, 'restored');
    const dry = await cli(['db', 'restore', '--backup', join(root, 'backups', file!), '--into-dir', target], env);
    assert.is(dry.code, 1);
    assert.match(dry.stdout, /Would restore .* into the new data folder/);
    assert.match(dry.stdout, /checksum: ok/);
    const r = await cli(['db', 'restore', '--backup', join(root, 'backups', file!), '--into-dir', target, '--yes'], env);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /db verify on it: clean/);
    assert.match(r.stdout, new RegExp(`DATA_DIR=${target}`));
    const v = await cli(['db', 'verify'], { ...env, DATA_DIR: target });
    assert.is(v.code, 0, v.stderr);
    assert.match(v.stdout, /db verify: clean/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
