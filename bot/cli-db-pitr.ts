/**
 * The point-in-time half of `lf db` (see ./cli-db.ts for the dispatcher and ../domain/recovery/pitr.ts for how):
 *
 * - `db basebackup [--dir D]` (operator): `pg_basebackup` of the CLI's PostgreSQL into D (default BASE_BACKUP_DIR);
 *   refused with the reason when the server does not archive its WAL.
 * - `db restore --timestamp <ISO 8601> [--dir D] [--wal-archive W] [--into-dir F] --yes` (admin): the newest base
 *   backup before the time, replayed from the WAL archive (default WAL_ARCHIVE_DIR) up to the time, in a NEW cluster
 *   in F on a free loopback port, verified with `db verify`; the live database is never touched. The restored
 *   cluster is left running so its data can be inspected or copied; the output says how to stop it.
 *
 * The embedded database (PGlite) and a server without WAL archiving cannot do this: the command says so plainly
 * and exits 1 (managed databases restore to a point in time from their own console).
 */
import { resolve } from 'node:path';
import type { Database } from '../db/orm.js';
import { openDatabase } from '../db/orm.js';
import type { AppConfig } from '../domain/config.js';
import { backupStamp } from '../domain/recovery/backup.js';
import { redactUrl } from '../domain/recovery/pg-tools.js';
import { EMBEDDED_PITR_STATEMENT, restoreToTime, takeBaseBackup, walArchiveStatus } from '../domain/recovery/pitr.js';
import { renderVerifyText, verifyDatabase, type VerifyReport } from '../domain/recovery/verify.js';

/** What a PITR subcommand needs from the dispatcher. */
export interface PitrCommandContext {
  db: Database;
  config: AppConfig;
  now: Date;
  /** Parsed `--name value` options. */
  opts: ReadonlyMap<string, string>;
  /** Prints the result (JSON with `--json`). */
  out: (value: unknown, text: string) => Promise<void>;
  /** Writes the audit row of this invocation. */
  audit: (outcome: 'succeeded' | 'refused', detail: string) => Promise<void>;
}

/** Thrown for bad usage of a PITR subcommand (the dispatcher prints it with the help, exit 2). */
export class PitrUsageError extends Error {}

/** Why this database cannot do PITR, or undefined when it can (reads the server's WAL settings). */
async function pitrRefusal(ctx: PitrCommandContext): Promise<string | undefined> {
  if (!ctx.config.db.url) return EMBEDDED_PITR_STATEMENT;
  const status = await walArchiveStatus(ctx.db.url);
  return status.supported ? undefined : status.reason;
}

/** `db basebackup`: see the module comment. @returns exit code 0 written, 1 refused. */
export async function runBaseBackup(ctx: PitrCommandContext): Promise<number> {
  const refusal = await pitrRefusal(ctx);
  if (refusal) {
    await ctx.audit('refused', refusal);
    await ctx.out({ refused: true, reason: refusal }, `cannot take a base backup for point-in-time recovery: ${refusal}`);
    return 1;
  }
  const dir = resolve(ctx.opts.get('dir') ?? ctx.config.recovery.baseBackupDir);
  const started = Date.now();
  const base = await takeBaseBackup({ url: ctx.db.url, dir, now: ctx.now, pgBinDir: ctx.config.recovery.pgBinDir });
  await ctx.audit('succeeded', `base backup ${base.path} in ${Date.now() - started} ms`);
  await ctx.out(base, `base backup written: ${base.path}\n  taken ${base.takenAt.toISOString()} in ${Date.now() - started} ms; restore to any later time with db restore --timestamp`);
  return 0;
}

/** Parses `--timestamp`: ISO 8601 with a zone (`2026-12-05T03:10:00Z`, `…+01:00`). */
function parseTarget(raw: string | undefined, now: Date): Date {
  if (!raw) throw new PitrUsageError('db restore --timestamp needs an ISO 8601 time with a zone, e.g. 2026-12-05T03:10:00Z');
  if (!/(Z|[+-]\d\d:?\d\d)$/i.test(raw)) throw new PitrUsageError(`--timestamp ${raw}: give a zone (Z or +hh:mm), so the time is not read in the server's zone`);
  const t = new Date(raw);
  if (Number.isNaN(t.getTime())) throw new PitrUsageError(`--timestamp ${raw} is not an ISO 8601 time`);
  if (t.getTime() > now.getTime()) throw new PitrUsageError(`--timestamp ${raw} is in the future`);
  return t;
}

/** `db restore --timestamp`: see the module comment. @returns 0 restored (verify clean), 1 refused or problems. */
export async function runPointInTimeRestore(ctx: PitrCommandContext): Promise<number> {
  const { opts: o, config, now } = ctx;
  const target = parseTarget(o.get('timestamp'), now);
  if (o.has('backup') || o.has('into') || o.has('fresh')) throw new PitrUsageError('--timestamp restores from base backups and the WAL archive: drop --backup/--into/--fresh (use --into-dir F)');
  const refusal = await pitrRefusal(ctx);
  if (refusal) {
    await ctx.audit('refused', refusal);
    await ctx.out({ refused: true, reason: refusal }, `cannot restore to a point in time: ${refusal}`);
    return 1;
  }
  const walArchiveDir = o.get('wal-archive') ?? config.recovery.walArchiveDir;
  if (!walArchiveDir) throw new PitrUsageError('give --wal-archive W (or set WAL_ARCHIVE_DIR): the folder the server archive_command copies WAL into');
  const baseDir = resolve(o.get('dir') ?? config.recovery.baseBackupDir);
  const dataDir = resolve(o.get('into-dir') ?? `${baseDir}/../pitr-${backupStamp(target)}-${backupStamp(now)}`);
  const plan = `restore to ${target.toISOString()} from the base backups in ${baseDir} and the WAL archive ${walArchiveDir}, into a new cluster in ${dataDir}`;
  if (!o.has('yes')) {
    await ctx.audit('refused', `not confirmed: would ${plan}`);
    await ctx.out({ refused: true, plan }, `Would ${plan}.\nThe live database is not touched. Nothing done. Run again with --yes to restore.`);
    return 1;
  }
  const restored = await restoreToTime({ baseDir, walArchiveDir, targetTime: target, dataDir, sourceUrl: ctx.db.url, pgBinDir: config.recovery.pgBinDir });
  const report = await verifyRestored(restored.url, config.db.dataDir, now);
  await ctx.audit('succeeded', `restored to ${target.toISOString()} (base ${restored.base.path}) into ${dataDir} on port ${restored.port} in ${restored.durationMs} ms; verify ${report.ok ? 'clean' : 'found problems'}`);
  await ctx.out({ ...restored, url: redactUrl(restored.url), verify: report }, [
    `restored to ${target.toISOString()}${restored.replayedTo ? ` (last transaction replayed: ${restored.replayedTo})` : ''}`,
    `  base backup ${restored.base.path} (taken ${restored.base.takenAt.toISOString()}), in ${restored.durationMs} ms`,
    `  a new cluster in ${dataDir}, running at ${redactUrl(restored.url)}`,
    `  db verify on it: ${report.ok ? 'clean' : 'PROBLEMS'}\n${renderVerifyText(report).replace(/^/gm, '    ')}`,
    'Inspect it, copy what was lost (pg_dump --table … from it into the live database), or switch the service to it',
    `(set DATABASE_URL to its URL and restart). Stop it with: pg_ctl -D ${dataDir} stop (as the postgres user when root).`,
  ].join('\n'));
  return report.ok ? 0 : 1;
}

/** Runs `db verify`'s checks on a restored copy. */
async function verifyRestored(url: string, dataDir: string, now: Date): Promise<VerifyReport> {
  const restored = await openDatabase({ url, dataDir, poolMax: 1 });
  try {
    return await verifyDatabase(restored.orm.em.fork(), { now });
  } finally {
    await restored.close();
  }
}
