/**
 * Database backups: `pg_dump --format=custom` into a folder, a SHA-256 checksum beside each file, listing with
 * the checksum verified, and rotation by age.
 *
 * Files: `<dir>/leadfactory-<YYYYMMDDTHHMMSSZ>.dump` (UTC; `-2`, `-3`… appended when two backups fall in one
 * second) and `<file>.sha256` in `sha256sum` format (`<hex>  <basename>`), so `sha256sum -c` checks it too. The dump
 * is written to `<file>.partial` and renamed when complete: a crashed or failed dump never looks like a backup.
 *
 * The client programs are the machine's (`pg_dump` on PATH, or `pgBinDir`). The password of a URL never goes on a
 * command line (where `ps` shows it): it is passed in `PGPASSWORD` and removed from the URL given to the program.
 *
 * The embedded database (PGlite, served over pglite-socket) reports PostgreSQL 18; pg_dump refuses servers newer
 * than itself, so a PostgreSQL 15 pg_dump fails there with "server version mismatch". That failure is reported as
 * a {@link BackupError} with reason `version_mismatch` naming both versions and what to do (a pg_dump >= the
 * server's in `PG_BIN_DIR`, or a PostgreSQL server in `DATABASE_URL`).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import pg from 'pg';
import { AppError } from '../errors.js';

/** Why a backup or restore step failed. */
export type BackupFailure = 'tool_missing' | 'version_mismatch' | 'tool_failed' | 'timeout' | 'checksum' | 'not_empty' | 'bad_request';

/** A backup/restore failure with a machine-readable `reason` (code `internal`, or `bad_request` for bad input). */
export class BackupError extends AppError {
  readonly reason: BackupFailure;
  constructor(reason: BackupFailure, message: string, opts: { cause?: unknown } = {}) {
    super(reason === 'bad_request' || reason === 'not_empty' ? 'bad_request' : 'internal', message, opts);
    this.reason = reason;
  }
}

/** Prefix and pattern of backup file names. */
export const BACKUP_PREFIX = 'leadfactory-';
const BACKUP_RE = /^leadfactory-(\d{8}T\d{6}Z)(?:-(\d+))?(\.dump|\.pglite\.tar\.gz)$/;

/** File extension of a pg_dump custom-format backup. */
export const DUMP_EXT = '.dump';
/** File extension of an embedded-database backup (PGlite data directory, gzipped tar). */
export const PGLITE_EXT = '.pglite.tar.gz';

/**
 * Which kind of backup a file is, from its extension (a renamed copy keeps it): `pglite` (`*.pglite.tar.gz`, data
 * directory) or `pg_dump` (anything else: custom format, as pg_restore reads it).
 */
export function backupKind(file: string): 'pg_dump' | 'pglite' {
  return basename(file).endsWith(PGLITE_EXT) ? 'pglite' : 'pg_dump';
}

/**
 * A free backup path in `dir` for `now`: `leadfactory-<stamp><ext>`, or `-2`, `-3`… when taken. The name is
 * reserved by creating its `.partial` file exclusively, so two backups in the same second never share a name.
 */
export async function backupPath(dir: string, now: Date, ext: string): Promise<string> {
  const stamp = backupStamp(now);
  for (let n = 1; ; n++) {
    const file = join(dir, `${BACKUP_PREFIX}${stamp}${n === 1 ? '' : `-${n}`}${ext}`);
    if (await exists(file)) continue;
    try {
      await (await open(`${file}.partial`, 'wx')).close();
      return file;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

/** `2026-11-29T04:00:00.123Z` → `20261129T040000Z`. */
export function backupStamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

/** The time encoded in a backup file name, or undefined when the name is not a backup's. */
export function backupTime(file: string): Date | undefined {
  const m = BACKUP_RE.exec(basename(file));
  if (!m) return undefined;
  const s = m[1]!;
  const iso = `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}Z`;
  const d = new Date(iso);
  return Number.isFinite(d.getTime()) ? d : undefined;
}

/** Path of the checksum file of a backup. */
export function checksumPath(file: string): string {
  return `${file}.sha256`;
}

/** A libpq connection for a child process: the URL without its password, and the password in `PGPASSWORD`. */
export interface PgConnection {
  /** The URL with the password removed (safe on a command line). */
  url: string;
  /** Environment for the child: `PGPASSWORD` when the URL had one. */
  env: Record<string, string>;
}

/**
 * Splits a postgres:// URL into a password-free URL and the environment carrying the password.
 * @throws BackupError `bad_request` when `url` is not a postgres URL.
 */
export function pgConnection(url: string): PgConnection {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new BackupError('bad_request', 'expected a postgres:// or postgresql:// URL');
  }
  if (!/^postgres(ql)?:$/.test(u.protocol)) throw new BackupError('bad_request', `expected a postgres:// or postgresql:// URL, got ${u.protocol}//…`);
  const env: Record<string, string> = {};
  if (u.password) {
    env.PGPASSWORD = decodeURIComponent(u.password);
    u.password = '';
  }
  return { url: u.toString(), env };
}

/** The URL with its password replaced by `***` (for messages and logs). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/** The database name of a postgres URL (`postgres` when the path is empty). */
export function databaseName(url: string): string {
  const path = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  return path || 'postgres';
}

/** Path of a PostgreSQL client program: `<pgBinDir>/<name>` or the bare name (PATH). */
export function pgTool(name: 'pg_dump' | 'pg_restore' | 'psql', pgBinDir?: string): string {
  return pgBinDir ? join(pgBinDir, name) : name;
}

/** Whether this machine's pg_dump can dump a server: majors compared (pg_dump must be at least the server's). */
export interface DumpCompatibility {
  ok: boolean;
  /** pg_dump's major version, undefined when it is not installed. */
  clientMajor: number | undefined;
  serverMajor: number;
  /** Why not, in a sentence (when `ok` is false). */
  reason?: string;
}

/**
 * Compares `pg_dump --version` (from `pgBinDir` or PATH) with a server's `server_version_num` (e.g. 150019 → 15;
 * PGlite reports 18). Never throws: a missing pg_dump is `ok: false` with the reason.
 */
export async function dumpCompatibility(serverVersionNum: number, pgBinDir?: string): Promise<DumpCompatibility> {
  const serverMajor = Math.floor(serverVersionNum / 10000);
  let out: string;
  try {
    out = (await runPgTool(pgTool('pg_dump', pgBinDir), ['--version'], { url: '', env: {} }, { timeoutMs: 10_000 })).stdout;
  } catch (err) {
    return { ok: false, clientMajor: undefined, serverMajor, reason: (err as Error).message };
  }
  const clientMajor = Number(/(\d+)(?:\.\d+)?/.exec(out)?.[1]);
  if (!Number.isFinite(clientMajor)) return { ok: false, clientMajor: undefined, serverMajor, reason: `unrecognised pg_dump --version output: ${out.trim().slice(0, 100)}` };
  if (clientMajor < serverMajor)
    return { ok: false, clientMajor, serverMajor, reason: `pg_dump ${clientMajor} cannot dump a PostgreSQL ${serverMajor} server (set PG_BIN_DIR to a client of version ${serverMajor} or newer)` };
  return { ok: true, clientMajor, serverMajor };
}

/**
 * Reads the server's version (one `select`) and throws unless this machine's pg_dump can handle it (pg_restore has
 * the same version rule). Called before the tool ever connects.
 * @throws BackupError `version_mismatch` or `tool_missing`, naming the versions.
 */
export async function assertToolCanHandle(url: string, tool: 'pg_dump' | 'pg_restore', pgBinDir?: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  let versionNum: number;
  try {
    await client.connect();
    versionNum = Number((await client.query<{ v: string }>(`select current_setting('server_version_num') as v`)).rows[0]?.v ?? 0);
  } finally {
    await client.end().catch(() => undefined);
  }
  const c = await dumpCompatibility(versionNum, pgBinDir);
  if (c.ok) return;
  if (c.clientMajor === undefined) throw new BackupError('tool_missing', c.reason ?? 'pg_dump is not installed');
  throw new BackupError(
    'version_mismatch',
    `${tool} ${c.clientMajor} cannot handle a PostgreSQL ${c.serverMajor} server (the embedded PGlite reports 18: its backups are taken by the service ` +
      'holding it — nightly, or /lf backups → Back up now). Point PG_BIN_DIR at a newer PostgreSQL client, or use a PostgreSQL server (DATABASE_URL).',
  );
}

/** Result of a finished client program. */
export interface ToolResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs a PostgreSQL client program without a shell, with `conn.env` added to the environment (PGPASSWORD) and
 * `PGCONNECT_TIMEOUT` 10 s unless set.
 * @throws BackupError `tool_missing` (not installed), `version_mismatch` (pg_dump older than the server),
 *   `timeout`, or `tool_failed` with the program's last stderr lines.
 */
export async function runPgTool(
  program: string,
  args: string[],
  conn: PgConnection,
  opts: { timeoutMs?: number } = {},
): Promise<ToolResult> {
  const timeoutMs = opts.timeoutMs ?? 30 * 60_000;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(program, args, {
      env: { ...process.env, PGCONNECT_TIMEOUT: process.env.PGCONNECT_TIMEOUT ?? '10', ...conn.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.length > 64_000) stderr = stderr.slice(-32_000);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
    }, timeoutMs);
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'ENOENT')
        reject(new BackupError('tool_missing', `${program} is not installed (install the PostgreSQL client, e.g. Debian's postgresql-client, or set PG_BIN_DIR)`, { cause: err }));
      else reject(new BackupError('tool_failed', `${program} could not start: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) return reject(new BackupError('timeout', `${basename(program)} did not finish within ${Math.round(timeoutMs / 1000)} s`));
      if (code === 0) return resolvePromise({ stdout, stderr });
      const mismatch = /server version mismatch[\s\S]*?server version: ([\d.]+)[\s\S]*?pg_dump version: ([\d.]+)/.exec(stderr);
      if (mismatch)
        return reject(
          new BackupError(
            'version_mismatch',
            `pg_dump ${mismatch[2]} cannot dump a PostgreSQL ${mismatch[1]} server (pg_dump must be at least the server's version; ` +
              'the embedded PGlite database reports 18). Point PG_BIN_DIR at a newer PostgreSQL client, or run on a PostgreSQL server (DATABASE_URL).',
          ),
        );
      const tail = stderr.trim().split('\n').slice(-5).join(' | ');
      reject(new BackupError('tool_failed', `${basename(program)} exited with ${code ?? signal}: ${tail || 'no output'}`));
    });
  });
}

/** SHA-256 of a file, hex. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** What {@link createBackup} made. */
export interface BackupResult {
  file: string;
  bytes: number;
  sha256: string;
  durationMs: number;
}

/**
 * Dumps the database at `url` with `pg_dump --format=custom` into `<dir>/leadfactory-<UTC stamp of now>.dump`
 * (folder created when missing) and writes its checksum file.
 * @throws BackupError (see {@link runPgTool}); nothing is left behind on failure.
 */
export async function createBackup(opts: {
  url: string;
  dir: string;
  now?: Date;
  pgBinDir?: string | undefined;
  timeoutMs?: number;
}): Promise<BackupResult> {
  const started = Date.now();
  const now = opts.now ?? new Date();
  const dir = resolve(opts.dir);
  await mkdir(dir, { recursive: true });
  // pg_dump clears search_path on its connection before it checks versions; on PGlite, whose connections share one
  // session, that breaks every other connection's queries: refuse a server the tool cannot handle before connecting
  await assertToolCanHandle(opts.url, 'pg_dump', opts.pgBinDir);
  const file = await backupPath(dir, now, DUMP_EXT);
  const conn = pgConnection(opts.url);
  return writeBackup(file, started, (partial) =>
    runPgTool(
      pgTool('pg_dump', opts.pgBinDir),
      ['--format=custom', '--no-password', `--file=${partial}`, `--dbname=${conn.url}`],
      conn,
      opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs },
    ),
  );
}

/**
 * Has `write` produce `<file>.partial`, then checksums it, renames it to `file` and writes `<file>.sha256`; the
 * partial file is removed when anything fails. `started` (ms since epoch) times the whole backup.
 * @throws what `write` or the file system throws.
 */
export async function writeBackup(file: string, started: number, write: (partial: string) => Promise<unknown>): Promise<BackupResult> {
  const partial = `${file}.partial`;
  try {
    await write(partial);
    const sha256 = await sha256File(partial);
    const { size } = await stat(partial);
    await rename(partial, file);
    await writeFile(checksumPath(file), `${sha256}  ${basename(file)}\n`);
    return { file, bytes: size, sha256, durationMs: Date.now() - started };
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Result of a checksum check. `reason` says why it failed. */
export interface ChecksumCheck {
  ok: boolean;
  expected: string | undefined;
  actual: string | undefined;
  reason?: 'no_checksum_file' | 'unreadable_checksum' | 'mismatch' | 'no_backup_file';
}

/** Compares a backup file's SHA-256 with its `.sha256` file. Never throws for missing or unreadable files. */
export async function verifyChecksum(file: string): Promise<ChecksumCheck> {
  let expected: string | undefined;
  try {
    const text = await readFile(checksumPath(file), 'utf8');
    expected = /^([0-9a-f]{64})\b/i.exec(text.trim())?.[1]?.toLowerCase();
    if (!expected) return { ok: false, expected: undefined, actual: undefined, reason: 'unreadable_checksum' };
  } catch {
    return { ok: false, expected: undefined, actual: undefined, reason: 'no_checksum_file' };
  }
  let actual: string;
  try {
    actual = await sha256File(file);
  } catch {
    return { ok: false, expected, actual: undefined, reason: 'no_backup_file' };
  }
  return actual === expected ? { ok: true, expected, actual } : { ok: false, expected, actual, reason: 'mismatch' };
}

/** One backup in a folder. */
export interface BackupInfo {
  file: string;
  name: string;
  /** When it was taken (from its name). */
  takenAt: Date;
  bytes: number;
  /** True when the checksum file matches; false when it is missing or differs; undefined when not checked. */
  verified: boolean | undefined;
  sha256: string | undefined;
}

/**
 * The backups in `dir`, newest first; each checksum verified unless `verify` is false. A missing folder lists
 * nothing.
 */
export async function listBackups(dir: string, opts: { verify?: boolean } = {}): Promise<BackupInfo[]> {
  let names: string[];
  try {
    names = await readdir(resolve(dir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: BackupInfo[] = [];
  for (const name of names) {
    const takenAt = backupTime(name);
    if (!takenAt) continue;
    const file = join(resolve(dir), name);
    const { size } = await stat(file);
    let verified: boolean | undefined;
    let sha256: string | undefined;
    if (opts.verify !== false) {
      const check = await verifyChecksum(file);
      verified = check.ok;
      sha256 = check.actual;
    }
    out.push({ file, name, takenAt, bytes: size, verified, sha256 });
  }
  // newest first; within one second the higher suffix is newer
  const suffix = (n: string) => Number(BACKUP_RE.exec(n)?.[2] ?? 1);
  return out.sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime() || suffix(b.name) - suffix(a.name));
}

/**
 * Deletes backups (and their checksum files) taken more than `keepDays` days before `now`, judged by the time in
 * the file name (copying a folder keeps names, not mtimes); also removes `.partial` leftovers of crashed dumps
 * older than a day. Other files are never touched.
 * @returns the deleted backup files.
 */
export async function rotateBackups(dir: string, keepDays = 30, now: Date = new Date()): Promise<string[]> {
  const cutoff = now.getTime() - keepDays * 24 * 60 * 60_000;
  const deleted: string[] = [];
  let names: string[];
  try {
    names = await readdir(resolve(dir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  for (const name of names) {
    const file = join(resolve(dir), name);
    const takenAt = backupTime(name);
    if (takenAt && takenAt.getTime() < cutoff) {
      await rm(file, { force: true });
      await rm(checksumPath(file), { force: true });
      deleted.push(file);
    } else if (name.startsWith(BACKUP_PREFIX) && name.endsWith('.partial')) {
      const { mtimeMs } = await stat(file);
      if (now.getTime() - mtimeMs > 24 * 60 * 60_000) await rm(file, { force: true });
    }
  }
  return deleted.sort();
}
