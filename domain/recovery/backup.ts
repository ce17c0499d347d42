/**
 * Database backups: `pg_dump --format=custom` into a folder, a SHA-256 checksum beside each file, listing with
 * the checksum verified, and rotation by age.
 *
 * Files: `<dir>/leadfactory-<YYYYMMDDTHHMMSSZ>.dump` (UTC; `-2`, `-3`… appended when two backups fall in one
 * second) and `<file>.sha256` in `sha256sum` format (`<hex>  <basename>`), so `sha256sum -c` checks it too. The dump
 * is written to `<file>.partial` and renamed when complete: a crashed or failed dump never looks like a backup.
 *
 * The client programs (`pg_dump` on PATH, or `pgBinDir`) are run by ./pg-tools.ts, which also refuses a server they
 * cannot handle before they connect: the embedded database (PGlite) reports PostgreSQL 18, newer than this
 * machine's pg_dump 15, and is backed up as its data directory instead (./embedded-backup.ts).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { assertToolCanHandle, pgConnection, pgTool, runPgTool } from './pg-tools.js';

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
 * @throws BackupError (pg-tools.ts: `assertToolCanHandle`, `runPgTool`); nothing is left behind on failure.
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
