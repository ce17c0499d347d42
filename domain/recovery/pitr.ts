/**
 * Point-in-time recovery (the troubleshooting guide's "restore to just before the bad change"), where the database
 * allows it: a self-managed PostgreSQL with WAL archiving on (`wal_level = replica`, `archive_mode = on`, an
 * `archive_command` copying each finished WAL segment into a folder this machine can read).
 *
 * - {@link walArchiveStatus}: whether the server archives its WAL, and a plain statement when it cannot do PITR
 *   (archiving off; the embedded PGlite has no WAL archive; a managed database — RDS, Cloud SQL, Azure — does its
 *   point-in-time restore in its own console, from its own archive).
 * - {@link takeBaseBackup}: `pg_basebackup --format=tar --gzip --wal-method=stream` into
 *   `<dir>/base-<UTC stamp>/` with `lf-base.json` (when it was taken, from which server). Written to `.partial`
 *   and renamed when complete.
 * - {@link restoreToTime}: the newest base backup taken before the target time is unpacked into a NEW data folder,
 *   recovery settings are written (`restore_command` reading the archive, `recovery_target_time`,
 *   `recovery_target_action = 'promote'`, a loopback port), the server is started, and we wait until it has
 *   promoted. The live cluster is never touched. The caller verifies the copy and decides what to do with it
 *   (use it, or copy data out of it); {@link stopRestoredCluster} stops it.
 *
 * Source: PostgreSQL 15 docs, §26.3 "Continuous Archiving and Point-in-Time Recovery (PITR)" and §20.5.5
 * "Recovery Target".
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { isInRecovery, walArchiveSettings } from '../queries/pg-server.js';
import { backupStamp } from './backup.js';
import { freePort, handOver, logTail, runServerProgram, serverBinDir, serverRunAs, startCluster, stopCluster } from './cluster.js';
import { BackupError, pgConnection, redactUrl } from './pg-tools.js';

const execTool = promisify(execFile);

/** What a server says about its WAL archiving (from `pg_settings`). */
export interface WalArchiveStatus {
  /** True when point-in-time recovery is possible from this server's archive. */
  supported: boolean;
  walLevel: string;
  archiveMode: string;
  archiveCommand: string;
  /** Why not, in a sentence a newcomer can act on (when `supported` is false). */
  reason?: string;
}

/** Statement for the embedded database (PGlite has no WAL archive). */
export const EMBEDDED_PITR_STATEMENT =
  'the embedded database (PGlite) keeps no WAL archive, so it cannot be restored to a point in time: its nightly data-folder backups are the recovery points. Use a PostgreSQL server (DATABASE_URL) with WAL archiving for point-in-time recovery.';

/**
 * Reads `wal_level`, `archive_mode` and `archive_command` of the server at `url`.
 * @throws pg errors when the server cannot be reached.
 */
export async function walArchiveStatus(url: string): Promise<WalArchiveStatus> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    const rows = await walArchiveSettings(client);
    const get = (n: string) => rows.find((r) => r.name === n)?.setting ?? '';
    const s = { walLevel: get('wal_level'), archiveMode: get('archive_mode'), archiveCommand: get('archive_command') };
    if (s.walLevel === 'minimal') return { ...s, supported: false, reason: 'wal_level is minimal: set wal_level = replica (or logical) and archive_mode = on, then restart PostgreSQL' };
    if (s.archiveMode === 'off' || s.archiveCommand === '' || s.archiveCommand === '(disabled)')
      return {
        ...s,
        supported: false,
        reason:
          'WAL archiving is off on this server (archive_mode/archive_command): point-in-time recovery needs it. On a self-managed PostgreSQL set archive_mode = on and an archive_command copying %p into WAL_ARCHIVE_DIR; a managed database (RDS, Cloud SQL, Azure) offers point-in-time restore in its own console instead.',
      };
    return { ...s, supported: true };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** One base backup folder. */
export interface BaseBackup {
  /** Absolute folder (`…/base-<stamp>`), holding base.tar.gz, pg_wal.tar.gz, backup_manifest, lf-base.json. */
  path: string;
  /** When pg_basebackup started (the backup is consistent from its end; recovery targets must be later). */
  takenAt: Date;
  /** The server it was taken from (password removed). */
  source: string;
}

/**
 * Takes a base backup of the server at `url` into `<dir>/base-<stamp>/`.
 * @throws BackupError `tool_missing`, `tool_failed` (pg_basebackup's message: e.g. no replication permission).
 */
export async function takeBaseBackup(opts: { url: string; dir: string; now?: Date; pgBinDir?: string | undefined }): Promise<BaseBackup> {
  const now = opts.now ?? new Date();
  const binDir = await serverBinDir(opts.pgBinDir);
  const dir = resolve(opts.dir);
  await mkdir(dir, { recursive: true });
  const path = join(dir, `base-${backupStamp(now)}`);
  const partial = `${path}.partial`;
  await rm(partial, { recursive: true, force: true });
  const conn = pgConnection(opts.url);
  try {
    await runServerProgram(binDir, 'pg_basebackup', ['--dbname', conn.url, '-D', partial, '--format=tar', '--gzip', '--wal-method=stream', '--checkpoint=fast', '--no-password'], {
      env: conn.env,
    });
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    throw err;
  }
  const info: BaseBackup = { path, takenAt: now, source: redactUrl(opts.url) };
  await writeFile(join(partial, 'lf-base.json'), `${JSON.stringify({ takenAt: now.toISOString(), source: info.source })}\n`);
  await rename(partial, path);
  return info;
}

/** Base backups in `dir`, oldest first (folders with a readable lf-base.json; `.partial` ones skipped). */
export async function listBaseBackups(dir: string): Promise<BaseBackup[]> {
  if (!existsSync(dir)) return [];
  const out: BaseBackup[] = [];
  for (const name of await readdir(dir)) {
    if (!/^base-\d{8}T\d{6}Z$/.test(name)) continue;
    try {
      const meta = JSON.parse(await readFile(join(dir, name, 'lf-base.json'), 'utf8')) as { takenAt: string; source: string };
      out.push({ path: resolve(dir, name), takenAt: new Date(meta.takenAt), source: meta.source });
    } catch {
      // not one of ours, or damaged: not a recovery point
    }
  }
  return out.sort((a, b) => a.takenAt.getTime() - b.takenAt.getTime());
}

/** A cluster brought up by {@link restoreToTime}. */
export interface RestoredCluster {
  /** postgres:// URL of the restored cluster's database (loopback, the source's user and database). */
  url: string;
  dataDir: string;
  port: number;
  /** The base backup it started from. */
  base: BaseBackup;
  /** The recovery target asked for. */
  targetTime: Date;
  /** The last transaction replayed (commit time), from the server log, or undefined when none was found. */
  replayedTo: string | undefined;
  durationMs: number;
}

/** Options of {@link restoreToTime}. */
export interface RestoreToTimeOptions {
  /** Folder of base backups ({@link takeBaseBackup}). */
  baseDir: string;
  /** The WAL archive folder the source's archive_command writes to. */
  walArchiveDir: string;
  targetTime: Date;
  /** The new data folder (must not exist, or be empty). */
  dataDir: string;
  /** URL of the source (for user and database name of the returned URL). */
  sourceUrl: string;
  /** Loopback port for the restored server; default a free one. */
  port?: number;
  pgBinDir?: string | undefined;
  timeoutMs?: number;
}

/**
 * Restores to `targetTime` into a new cluster (see the module comment) and waits until it has promoted.
 * @throws BackupError `bad_request` (no base backup before the target; data folder not empty), `tool_failed`
 *   (the server did not start or stopped before reaching the target — its log's last lines), `timeout`.
 */
export async function restoreToTime(opts: RestoreToTimeOptions): Promise<RestoredCluster> {
  const started = Date.now();
  const base = (await listBaseBackups(opts.baseDir)).filter((b) => b.takenAt.getTime() < opts.targetTime.getTime()).pop();
  if (!base) throw new BackupError('bad_request', `no base backup in ${opts.baseDir} was taken before ${opts.targetTime.toISOString()}; take one with lf db basebackup`);
  const dataDir = resolve(opts.dataDir);
  if (existsSync(dataDir) && (await readdir(dataDir)).length > 0) throw new BackupError('bad_request', `${dataDir} is not empty; a point-in-time restore goes into a new data folder`);
  const binDir = await serverBinDir(opts.pgBinDir);
  const runAs = await serverRunAs();
  const port = opts.port ?? (await freePort());
  await unpackBase(base, dataDir);
  await writeRecoverySettings(dataDir, resolve(opts.walArchiveDir), opts.targetTime, port);
  await handOver(dataDir, runAs);
  await startCluster(binDir, dataDir, runAs);
  const src = new URL(opts.sourceUrl);
  const url = `postgres://${encodeURIComponent(decodeURIComponent(src.username || 'postgres'))}@127.0.0.1:${port}${src.pathname || '/postgres'}`;
  try {
    await waitForPromotion(url, dataDir, opts.timeoutMs ?? 120_000);
  } catch (err) {
    await stopCluster(binDir, dataDir, runAs);
    throw err;
  }
  const log = await readFile(join(dataDir, 'server.log'), 'utf8').catch(() => '');
  const replayedTo = /last completed transaction was at log time ([^\n]+)/.exec(log)?.[1]?.trim();
  return { url, dataDir, port, base, targetTime: opts.targetTime, replayedTo, durationMs: Date.now() - started };
}

/** Stops a cluster started by {@link restoreToTime}; `remove` also deletes its data folder. */
export async function stopRestoredCluster(cluster: { dataDir: string }, opts: { remove?: boolean; pgBinDir?: string | undefined } = {}): Promise<void> {
  const binDir = await serverBinDir(opts.pgBinDir);
  await stopCluster(binDir, cluster.dataDir, await serverRunAs());
  if (opts.remove) await rm(cluster.dataDir, { recursive: true, force: true });
}

/** Unpacks base.tar.gz (and pg_wal.tar.gz into pg_wal/) with `tar`. */
async function unpackBase(base: BaseBackup, dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await execTool('tar', ['-xzf', join(base.path, 'base.tar.gz'), '-C', dataDir]);
  const wal = join(base.path, 'pg_wal.tar.gz');
  if (existsSync(wal)) await execTool('tar', ['-xzf', wal, '-C', join(dataDir, 'pg_wal')]);
  await rm(join(dataDir, 'postmaster.pid'), { force: true });
}

/** Appends the recovery settings to postgresql.auto.conf and creates recovery.signal. */
async function writeRecoverySettings(dataDir: string, archive: string, target: Date, port: number): Promise<void> {
  const q = (s: string) => `'${s.replace(/'/g, "''")}'`;
  const settings = [
    '# written by LeadFactory Ops: point-in-time restore',
    `restore_command = ${q(`cp "${archive}/%f" "%p"`)}`,
    `recovery_target_time = ${q(target.toISOString().replace('T', ' ').replace('Z', '+00'))}`,
    `recovery_target_action = 'promote'`,
    `port = ${port}`,
    `listen_addresses = '127.0.0.1'`,
    `unix_socket_directories = ${q(dataDir)}`,
    `archive_mode = off`,
    '',
  ];
  await appendFile(join(dataDir, 'postgresql.auto.conf'), `\n${settings.join('\n')}`);
  await writeFile(join(dataDir, 'recovery.signal'), '');
}

/** Polls `pg_is_in_recovery()` until false (promoted); fails early when the server has stopped. */
async function waitForPromotion(url: string, dataDir: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
    try {
      await client.connect();
      if ((await isInRecovery(client)) === false) return;
    } catch {
      if (!existsSync(join(dataDir, 'postmaster.pid'))) throw await stoppedEarly(dataDir);
    } finally {
      await client.end().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new BackupError('timeout', `the restored server had not finished recovery after ${Math.round(timeoutMs / 1000)} s: ${await logTail(join(dataDir, 'server.log'))}`);
}

/** The error for a restored server that shut down during recovery, in words when the archive ended too early. */
async function stoppedEarly(dataDir: string): Promise<BackupError> {
  const log = await readFile(join(dataDir, 'server.log'), 'utf8').catch(() => '');
  if (/recovery ended before configured recovery target was reached/.test(log)) {
    const last = /last completed transaction was at log time ([^\n]+)/.exec(log)?.[1]?.trim();
    return new BackupError(
      'bad_request',
      `the WAL archive ends before the target time${last ? ` (the last archived transaction is from ${last})` : ''}: choose an earlier time, or wait until the current WAL segment is archived (archive_timeout, or select pg_switch_wal() on the server)`,
    );
  }
  return new BackupError('tool_failed', `the restored server stopped before reaching the target: ${await logTail(join(dataDir, 'server.log'))}`);
}
