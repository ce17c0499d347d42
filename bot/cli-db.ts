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
  const dir = resolve(o.get('dir') ?? config.recovery.backupDir);

  /** `db restore` of an embedded backup: into a new data folder, verified, never over the live one. */
  const restoreEmbedded = async (backupFile: string): Promise<number> => {
    if (o.has('into') || o.has('fresh')) throw new UsageError('an embedded backup (*.pglite.tar.gz) is restored into a data folder: give --into-dir F, not --into/--fresh');
    const folder = resolve(o.get('into-dir') ?? `${resolve(config.db.dataDir)}-restore-${backupStamp(now)}`);
    const plan = `restore ${backupFile} into the new data folder ${folder}`;
    if (!o.has('yes')) {
      const check = await verifyChecksum(backupFile);
      await audit(em(), { at: now, actor, action, input, outcome: 'refused', detail: `not confirmed: would ${plan}` });
      await out(
        { refused: true, plan, checksum: check },
        [`Would ${plan}`, `  checksum: ${check.ok ? 'ok' : `BAD (${check.reason})`}`, 'Nothing done. Run again with --yes to restore.'].join('\n'),
      );
      return 1;
    }
    const result = await restoreEmbeddedBackup({ file: backupFile, dataDir: folder });
    const restored = await openDatabase({ url: undefined, dataDir: folder, poolMax: 1 });
    let report: VerifyReport;
    try {
      report = await verifyDatabase(restored.orm.em.fork(), { now });
    } finally {
      await restored.close();
    }
    await audit(em(), { at: now, actor, action, input, outcome: 'succeeded', detail: `restored ${backupFile} into ${folder} in ${result.durationMs} ms; verify ${report.ok ? 'clean' : 'found problems'}` });
    await out(
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
  };

  const pitr: PitrCommandContext = {
    db,
    config,
    now,
    opts: o,
    out,
    audit: (outcome, detail) => audit(em(), { at: now, actor, action, input, outcome, detail }),
  };
  try {
    if (sub === 'basebackup') return await runBaseBackup(pitr);
    if (sub === 'restore' && o.has('timestamp')) return await runPointInTimeRestore(pitr);
    if (sub === 'verify') {
      const report = await verifyDatabase(em(), { now });
      const bad = report.checks.filter((c) => !c.ok).map((c) => c.id);
      await audit(em(), { at: now, actor, action, input, outcome: 'succeeded', detail: report.ok ? 'clean' : `problems: ${bad.join(', ')}` });
      await out(report, renderVerifyText(report));
      return report.ok ? 0 : 1;
    }

    if (sub === 'backups') {
      const list = await listBackups(dir);
      await audit(em(), { at: now, actor, action, input, outcome: 'succeeded', detail: `${list.length} backup(s) in ${dir}` });
      const lines = list.map((b) => `${b.takenAt.toISOString()}  ${String(b.bytes).padStart(12)} B  ${b.verified ? 'checksum ok  ' : 'CHECKSUM BAD '}  ${b.file}`);
      await out({ dir, backups: list }, list.length ? lines.join('\n') : `no backups in ${dir}`);
      return list.some((b) => b.verified === false) ? 1 : 0;
    }

    if (sub === 'backup') {
      if (!config.db.url && !db.embedded)
        throw new Error(
          'the running service holds the embedded database (the CLI reaches it through its socket, which this pg_dump cannot dump): ' +
            'take the backup from Slack (`/lf backups` → Back up now, run by the service) or stop `npm start` and run this again',
        );
      const result = await takeBackup(db, { dir, now, pgBinDir: config.recovery.pgBinDir });
      await audit(em(), { at: now, actor, action, input, outcome: 'succeeded', detail: `${result.file} (${result.bytes} bytes, sha256 ${result.sha256})` });
      await out(result, `backup written: ${result.file}\n  ${result.bytes} bytes in ${result.durationMs} ms\n  sha256 ${result.sha256}`);
      return 0;
    }

    // restore
    const file = o.get('backup');
    if (!file) throw new UsageError('db restore needs --backup <file>');
    if (o.has('into') && o.has('fresh')) throw new UsageError('give either --into or --fresh, not both');
    const backupFile = resolve(file);
    if (backupKind(backupFile) === 'pglite') return await restoreEmbedded(backupFile);
    if (o.has('into-dir')) throw new UsageError('--into-dir is for embedded backups (*.pglite.tar.gz); give --fresh or --into for a pg_dump backup');
    if (!config.db.url && !o.has('into'))
      throw new UsageError('a pg_dump backup is restored into a PostgreSQL server: set DATABASE_URL (or give --into <url>); the embedded database restores *.pglite.tar.gz backups');
    const into = o.get('into');
    const target = into === undefined ? undefined : /^postgres(ql)?:\/\//.test(into) ? into : withDatabase(db.url, into);
    const only = o.has('table') ? ` (table ${o.get('table')} only)` : '';
    const plan = target
      ? `restore ${backupFile}${only} into the existing, empty database ${redactUrl(target)}`
      : `restore ${backupFile}${only} into a new database ${freshDatabaseName(databaseName(db.url), now)} on the server of ${redactUrl(db.url)}`;
    if (!o.has('yes')) {
      const check = await verifyChecksum(backupFile);
      const detail = `not confirmed: would ${plan}`;
      await audit(em(), { at: now, actor, action, input, outcome: 'refused', detail });
      await out(
        { refused: true, plan, checksum: check },
        [
          `Would ${plan}`,
          `  checksum: ${check.ok ? 'ok' : `BAD (${check.reason})`}`,
          '  the running service is not switched: afterwards set DATABASE_URL to the restored database and restart.',
          'Nothing done. Run again with --yes to restore.',
        ].join('\n'),
      );
      return 1;
    }
    const tables = (o.get('table') ?? '').split(',').map((t) => t.trim()).filter(Boolean);
    const result = await restoreBackup(
      target
        ? { file: backupFile, targetUrl: target, now, pgBinDir: config.recovery.pgBinDir, tables }
        : { file: backupFile, intoFreshDatabase: true, adminUrl: db.url, now, pgBinDir: config.recovery.pgBinDir, tables },
    );
    if (tables.length > 0) {
      const counts = await tableRowCountsAt(result.targetUrl, tables);
      const shownUrl = redactUrl(result.targetUrl);
      const summary = Object.entries(counts).map(([t, n]) => `${t}: ${n} rows`).join(', ');
      await audit(em(), { at: now, actor, action, input, outcome: 'succeeded', detail: `restored ${tables.join(', ')} from ${backupFile} into ${shownUrl}: ${summary}` });
      await out({ ...result, targetUrl: shownUrl, tables: counts }, [
        `restored ${tables.join(', ')} from ${backupFile}`,
        `  into ${shownUrl}${result.created ? ' (new database)' : ''} in ${result.durationMs} ms: ${summary}`,
        'Copy the rows you need back into the live table from there (e.g. insert … select over a dblink, or pg_dump --table … --data-only).',
      ].join('\n'));
      return 0;
    }
    let report: VerifyReport | undefined;
    let verifyError: string | undefined;
    const restored = await openDatabase({ url: result.targetUrl, dataDir: config.db.dataDir, poolMax: 1 }).catch((err: unknown) => {
      verifyError = (err as Error).message;
      return undefined;
    });
    if (restored) {
      try {
        report = await verifyDatabase(restored.orm.em.fork(), { now });
      } catch (err) {
        verifyError = (err as Error).message;
      } finally {
        await restored.close();
      }
    }
    const shown = redactUrl(result.targetUrl);
    await audit(em(), {
      at: now,
      actor,
      action,
      input,
      outcome: 'succeeded',
      detail: `restored ${backupFile} into ${shown} in ${result.durationMs} ms; verify ${report ? (report.ok ? 'clean' : 'found problems') : `not run: ${verifyError}`}`,
    });
    await out(
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
