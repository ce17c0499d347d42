/**
 * `npm run lf -- db backup|backups|restore|verify` (terminal only; the bare word `db` stays the database runbook):
 *
 * - `db backup [--dir D]`: pg_dump (custom format) of the CLI's database into D (default `BACKUP_DIR`), with checksum;
 *   for the embedded database (the service stopped, so the CLI holds it) its PGlite data directory instead;
 * - `db backups [--dir D]`: the backups, newest first, each checksum verified;
 * - `db restore --backup <file> [--fresh | --into <database url or name>] --yes`: admin only; without `--yes` it
 *   prints what it would do and changes nothing; restores into a fresh database on the same server (default) or
 *   into a named, empty target, runs `db verify` on the result and prints how to switch the service to it; an
 *   embedded backup (`*.pglite.tar.gz`) is restored into a new data folder (`--into-dir F`, default next to DATA_DIR);
 * - `db verify [--json]`: integrity checks (exit 1 when any check fails).
 *
 * Each invocation leaves one `audit_log` row (`db:<subcommand>`, actor `cli:<os user>` with `LF_CLI_ROLE`), written to
 * the CLI's database (for a restore: the source, not the restored copy). Roles: viewer for `backups` and `verify`,
 * operator for `backup`, admin for `restore`.
 *
 * Database: as every CLI command ({@link openCliDatabase}). While `npm start` holds the embedded database the CLI
 * reaches it through its socket, which a PostgreSQL 15 pg_dump cannot dump: `db backup` then says to use Slack's
 * Back up now button (`/lf backups`, run by the service) or to stop the service first.
 */
import os from 'node:os';
import { resolve } from 'node:path';
import type { Database } from '../db/orm.js';
import { openDatabase } from '../db/orm.js';
import type { AppConfig } from '../domain/config.js';
import { backupKind, backupStamp, listBackups, verifyChecksum } from '../domain/recovery/backup.js';
import { databaseName, redactUrl } from '../domain/recovery/pg-tools.js';
import { restoreEmbeddedBackup, takeBackup } from '../domain/recovery/embedded-backup.js';
import { freshDatabaseName, restoreBackup, tableRowCountsAt, withDatabase } from '../domain/recovery/restore.js';
import { renderVerifyText, verifyDatabase, type VerifyReport } from '../domain/recovery/verify.js';
import type { Actor } from '../runbooks/actions.js';
import { audit } from '../runbooks/actions.js';
import { roleAtLeast, type Role } from '../runbooks/define.js';
import { DB_HELP } from './cli-spec.js';
import { PitrUsageError, runBaseBackup, runPointInTimeRestore, type PitrCommandContext } from './cli-db-pitr.js';

/** Where the command writes. */
export interface DbCliIo {
  stdout: (text: string) => Promise<void>;
  stderr: (text: string) => Promise<void>;
}

/** The db subcommands (after the word `db`). */
export const DB_SUBCOMMANDS = ['backup', 'backups', 'basebackup', 'restore', 'verify'] as const;
export type DbSubcommand = (typeof DB_SUBCOMMANDS)[number];

/** True when `word` (the word after `db`) is one of {@link DB_SUBCOMMANDS}. */
export function isDbSubcommand(word: string | undefined): word is DbSubcommand {
  return (DB_SUBCOMMANDS as readonly string[]).includes(word ?? '');
}

/** Help lines for the CLI's help text (one copy, in the light cli-spec.ts that `lf help` loads). */
export { DB_HELP };

const ROLE_FOR: Record<DbSubcommand, Role> = { backup: 'operator', backups: 'viewer', basebackup: 'operator', restore: 'admin', verify: 'viewer' };

class UsageError extends Error {}

/** Parses `--name value` / `--name=value` options; flags listed in `flags` take no value. */
function parseArgs(args: string[], flags: readonly string[]): { words: string[]; opts: Map<string, string> } {
  const words: string[] = [];
  const opts = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) {
      words.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (flags.includes(name)) opts.set(name, 'true');
    else if (eq > 0) opts.set(name, a.slice(eq + 1));
    else {
      const v = args[i + 1];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`--${name} needs a value`);
      opts.set(name, v);
      i++;
    }
  }
  return { words, opts };
}

function osUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return 'unknown';
  }
}

/** One invocation's context: {@link PitrCommandContext} plus the backup folder in force. */
interface DbRun extends PitrCommandContext {
  opts: Map<string, string>;
  /** `--dir`, else BACKUP_DIR, resolved. */
  dir: string;
}

/**
 * Runs `db <subcommand> …` on an open CLI database. `args` follows the word `db`.
 * @returns 0 done (verify: clean); 1 failed, refused or (verify) problems found; 2 bad usage. Never throws for
 *   the command's own failures (they are printed and audited).
 */
export async function runDbCommand(
  db: Database,
  config: AppConfig,
  args: string[],
  opts: { io: DbCliIo; now?: Date },
): Promise<number> {
  const { io } = opts;
  const now = opts.now ?? new Date();
  const sub = args[0];
  if (!isDbSubcommand(sub)) {
    await io.stderr(`unknown db command "${sub ?? ''}"\n\n${DB_HELP}`);
    return 2;
  }
  const user = osUser();
  const actor: Actor = { id: `cli:${user}`, role: config.roles.cliRole, source: 'cli', display: user };
  const action = `db:${sub}`;
  const em = () => db.orm.em.fork();
  let parsed: { words: string[]; opts: Map<string, string> };
  try {
    parsed = parseArgs(args.slice(1), ['json', 'yes', 'fresh']);
  } catch (err) {
    await io.stderr(`${(err as Error).message}\n\n${DB_HELP}`);
    return 2;
  }
  const { opts: o } = parsed;
  const json = o.has('json');
  const input: Record<string, unknown> = Object.fromEntries([...o.entries()].map(([k, v]) => [k, k === 'into' ? redactUrl(v) : v]));
  const out = (value: unknown, text: string) => io.stdout(json ? `${JSON.stringify(value, null, 2)}\n` : text.endsWith('\n') ? text : `${text}\n`);

  if (!roleAtLeast(actor.role, ROLE_FOR[sub])) {
    const detail = `db ${sub} needs the ${ROLE_FOR[sub]} role; ${actor.id} has ${actor.role ?? 'no role'} (LF_CLI_ROLE)`;
    await audit(em(), { at: now, actor, action, input, outcome: 'refused', detail });
    await io.stderr(`refused: ${detail}\n`);
    return 1;
  }
  const run: DbRun = {
    db,
    config,
    now,
    opts: o,
    out,
    dir: resolve(o.get('dir') ?? config.recovery.backupDir),
    audit: (outcome, detail) => audit(em(), { at: now, actor, action, input, outcome, detail }),
  };
  try {
    return await dispatch(sub, run);
  } catch (err) {
    if (err instanceof UsageError || err instanceof PitrUsageError) {
      await io.stderr(`${err.message}\n\n${DB_HELP}`);
      return 2;
    }
    const message = err instanceof Error ? err.message : String(err);
    await audit(em(), { at: now, actor, action, input, outcome: 'failed', detail: message }).catch(() => undefined);
    await io.stderr(`db ${sub} failed: ${message}\n`);
    return 1;
  }
}

/** Runs one subcommand. @throws UsageError, PitrUsageError (bad usage) and the command's own failures. */
async function dispatch(sub: DbSubcommand, r: DbRun): Promise<number> {
  if (sub === 'basebackup') return runBaseBackup(r);
  if (sub === 'restore' && r.opts.has('timestamp')) return runPointInTimeRestore(r);
  if (sub === 'verify') return dbVerify(r);
  if (sub === 'backups') return dbBackups(r);
  if (sub === 'backup') return dbBackup(r);
  return dbRestore(r);
}

/** `db verify`: the integrity checks on the CLI's database; 1 when any fails. */
async function dbVerify(r: DbRun): Promise<number> {
  const report = await verifyDatabase(r.db.orm.em.fork(), { now: r.now });
  const bad = report.checks.filter((c) => !c.ok).map((c) => c.id);
  await r.audit('succeeded', report.ok ? 'clean' : `problems: ${bad.join(', ')}`);
  await r.out(report, renderVerifyText(report));
  return report.ok ? 0 : 1;
}

/** `db backups`: the backups in the folder, newest first, checksums verified; 1 when any is bad. */
async function dbBackups(r: DbRun): Promise<number> {
  const list = await listBackups(r.dir);
  await r.audit('succeeded', `${list.length} backup(s) in ${r.dir}`);
  const lines = list.map((b) => `${b.takenAt.toISOString()}  ${String(b.bytes).padStart(12)} B  ${b.verified ? 'checksum ok  ' : 'CHECKSUM BAD '}  ${b.file}`);
  await r.out({ dir: r.dir, backups: list }, list.length ? lines.join('\n') : `no backups in ${r.dir}`);
  return list.some((b) => b.verified === false) ? 1 : 0;
}

/** `db backup`: pg_dump (or the embedded data folder) into the folder, with checksum. */
async function dbBackup(r: DbRun): Promise<number> {
  if (!r.config.db.url && !r.db.embedded)
    throw new Error(
      'the running service holds the embedded database (the CLI reaches it through its socket, which this pg_dump cannot dump): ' +
        'take the backup from Slack (`/lf backups` → Back up now, run by the service) or stop `npm start` and run this again',
    );
  const result = await takeBackup(r.db, { dir: r.dir, now: r.now, pgBinDir: r.config.recovery.pgBinDir });
  await r.audit('succeeded', `${result.file} (${result.bytes} bytes, sha256 ${result.sha256})`);
  await r.out(result, `backup written: ${result.file}\n  ${result.bytes} bytes in ${result.durationMs} ms\n  sha256 ${result.sha256}`);
  return 0;
}

/** Without `--yes`: prints the plan and the backup's checksum, audits the refusal, changes nothing (exit 1). */
async function refuseUnconfirmed(r: DbRun, backupFile: string, plan: string, extra: string[]): Promise<number> {
  const check = await verifyChecksum(backupFile);
  await r.audit('refused', `not confirmed: would ${plan}`);
  await r.out(
    { refused: true, plan, checksum: check },
    [`Would ${plan}`, `  checksum: ${check.ok ? 'ok' : `BAD (${check.reason})`}`, ...extra, 'Nothing done. Run again with --yes to restore.'].join('\n'),
  );
  return 1;
}

/** `db restore` of an embedded backup: into a new data folder, verified, never over the live one. */
async function restoreEmbedded(r: DbRun, backupFile: string): Promise<number> {
  const o = r.opts;
  if (o.has('into') || o.has('fresh')) throw new UsageError('an embedded backup (*.pglite.tar.gz) is restored into a data folder: give --into-dir F, not --into/--fresh');
  const folder = resolve(o.get('into-dir') ?? `${resolve(r.config.db.dataDir)}-restore-${backupStamp(r.now)}`);
  const plan = `restore ${backupFile} into the new data folder ${folder}`;
  if (!o.has('yes')) return refuseUnconfirmed(r, backupFile, plan, []);
  const result = await restoreEmbeddedBackup({ file: backupFile, dataDir: folder });
  const restored = await openDatabase({ url: undefined, dataDir: folder, poolMax: 1 });
  let report: VerifyReport;
  try {
    report = await verifyDatabase(restored.orm.em.fork(), { now: r.now });
  } finally {
    await restored.close();
  }
  await r.audit('succeeded', `restored ${backupFile} into ${folder} in ${result.durationMs} ms; verify ${report.ok ? 'clean' : 'found problems'}`);
  await r.out(
    { ...result, verify: report },
    [
      `restored ${backupFile}`,
      `  into the data folder ${folder} in ${result.durationMs} ms`,
      `  db verify on it: ${report.ok ? 'clean' : 'PROBLEMS'}\n${renderVerifyText(report).replace(/^/gm, '    ')}`,
      `To switch the service to it: stop \`npm start\`, start it again with DATA_DIR=${folder}, then run \`npm run lf -- db verify\`.`,
      'The old data folder is left untouched for comparison or rollback.',
    ].join('\n'),
  );
  return 0;
}

/** `db restore --backup F [--fresh | --into X] [--table T,…] [--yes]`: checks usage, then restores (pg_dump) or hands over to {@link restoreEmbedded}. */
async function dbRestore(r: DbRun): Promise<number> {
  const o = r.opts;
  const file = o.get('backup');
  if (!file) throw new UsageError('db restore needs --backup <file>');
  if (o.has('into') && o.has('fresh')) throw new UsageError('give either --into or --fresh, not both');
  const backupFile = resolve(file);
  if (backupKind(backupFile) === 'pglite') return restoreEmbedded(r, backupFile);
  if (o.has('into-dir')) throw new UsageError('--into-dir is for embedded backups (*.pglite.tar.gz); give --fresh or --into for a pg_dump backup');
  if (!r.config.db.url && !o.has('into'))
    throw new UsageError('a pg_dump backup is restored into a PostgreSQL server: set DATABASE_URL (or give --into <url>); the embedded database restores *.pglite.tar.gz backups');
  const into = o.get('into');
  const target = into === undefined ? undefined : /^postgres(ql)?:\/\//.test(into) ? into : withDatabase(r.db.url, into);
  const only = o.has('table') ? ` (table ${o.get('table')} only)` : '';
  const plan = target
    ? `restore ${backupFile}${only} into the existing, empty database ${redactUrl(target)}`
    : `restore ${backupFile}${only} into a new database ${freshDatabaseName(databaseName(r.db.url), r.now)} on the server of ${redactUrl(r.db.url)}`;
  if (!o.has('yes')) return refuseUnconfirmed(r, backupFile, plan, ['  the running service is not switched: afterwards set DATABASE_URL to the restored database and restart.']);
  const tables = (o.get('table') ?? '').split(',').map((t) => t.trim()).filter(Boolean);
  const { pgBinDir } = r.config.recovery;
  const result = await restoreBackup(
    target
      ? { file: backupFile, targetUrl: target, now: r.now, pgBinDir, tables }
      : { file: backupFile, intoFreshDatabase: true, adminUrl: r.db.url, now: r.now, pgBinDir, tables },
  );
  if (tables.length > 0) return reportTablesRestored(r, backupFile, tables, result);
  return reportDatabaseRestored(r, backupFile, result);
}

type RestoreResult = Awaited<ReturnType<typeof restoreBackup>>;

/** After a `--table` restore: the row counts of the restored tables, and how to copy rows back. */
async function reportTablesRestored(r: DbRun, backupFile: string, tables: string[], result: RestoreResult): Promise<number> {
  const counts = await tableRowCountsAt(result.targetUrl, tables);
  const shownUrl = redactUrl(result.targetUrl);
  const summary = Object.entries(counts).map(([t, n]) => `${t}: ${n} rows`).join(', ');
  await r.audit('succeeded', `restored ${tables.join(', ')} from ${backupFile} into ${shownUrl}: ${summary}`);
  await r.out({ ...result, targetUrl: shownUrl, tables: counts }, [
    `restored ${tables.join(', ')} from ${backupFile}`,
    `  into ${shownUrl}${result.created ? ' (new database)' : ''} in ${result.durationMs} ms: ${summary}`,
    'Copy the rows you need back into the live table from there (e.g. insert … select over a dblink, or pg_dump --table … --data-only).',
  ].join('\n'));
  return 0;
}

/** `db verify` on a restored database: the report, or why it could not run. Never throws. */
async function verifyRestored(r: DbRun, url: string): Promise<{ report?: VerifyReport; error?: string }> {
  let error: string | undefined;
  const restored = await openDatabase({ url, dataDir: r.config.db.dataDir, poolMax: 1 }).catch((err: unknown) => {
    error = (err as Error).message;
    return undefined;
  });
  if (!restored) return { error };
  try {
    return { report: await verifyDatabase(restored.orm.em.fork(), { now: r.now }) };
  } catch (err) {
    return { error: (err as Error).message };
  } finally {
    await restored.close();
  }
}

/** After a whole-database restore: `db verify` on it, and how to switch the service to it. */
async function reportDatabaseRestored(r: DbRun, backupFile: string, result: RestoreResult): Promise<number> {
  const { report, error: verifyError } = await verifyRestored(r, result.targetUrl);
  const shown = redactUrl(result.targetUrl);
  await r.audit('succeeded', `restored ${backupFile} into ${shown} in ${result.durationMs} ms; verify ${report ? (report.ok ? 'clean' : 'found problems') : `not run: ${verifyError}`}`);
  await r.out(
    { ...result, targetUrl: shown, verify: report ?? { error: verifyError } },
    [
      `restored ${backupFile}`,
      `  into ${shown}${result.created ? ' (new database)' : ''} in ${result.durationMs} ms`,
      report ? `  db verify on it: ${report.ok ? 'clean' : 'PROBLEMS'}\n${renderVerifyText(report).replace(/^/gm, '    ')}` : `  db verify could not run: ${verifyError}`,
      'To switch the service to it: stop `npm start` (every replica), set DATABASE_URL to the URL above (with its password),',
      'start again, then run `npm run lf -- db verify`. The old database is left untouched for comparison or rollback.',
    ].join('\n'),
  );
  return 0;
}
