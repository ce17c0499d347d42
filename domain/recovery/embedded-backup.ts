/**
 * Backups of the embedded database (PGlite). This machine's pg_dump (15) cannot dump PGlite, which reports
 * PostgreSQL 18, through its socket; so the embedded database is backed up physically instead: PGlite's
 * `dumpDataDir` (a gzipped tarball of the data directory, taken between statements) written to
 * `<dir>/leadfactory-<UTC stamp>.pglite.tar.gz` with the same `.sha256` checksum file, listing and rotation as the
 * pg_dump backups (domain/recovery/backup.ts). It is restored into a new data folder (PGlite `loadDataDir`) that
 * the service is then started on (`DATA_DIR`), never over the live one.
 *
 * {@link takeBackup} picks the kind from the open database: pg_dump for a server, this for the embedded one.
 */
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { loadEmbeddedDataDir, type EmbeddedDatabase } from '../../db/embedded.js';
import type { Database } from '../../db/orm.js';
import { PGLITE_EXT, backupPath, createBackup, verifyChecksum, writeBackup, type BackupResult } from './backup.js';
import { BackupError } from './pg-tools.js';

/**
 * Writes a backup of a running embedded database into `dir` (created when missing) with its checksum file.
 * @throws the PGlite or file-system error; nothing is left behind on failure.
 */
export async function createEmbeddedBackup(opts: { embedded: EmbeddedDatabase; dir: string; now?: Date }): Promise<BackupResult> {
  const started = Date.now();
  const dir = resolve(opts.dir);
  await mkdir(dir, { recursive: true });
  const file = await backupPath(dir, opts.now ?? new Date(), PGLITE_EXT);
  return writeBackup(file, started, async (partial) => {
    const archive = await opts.embedded.dumpDataDir();
    await writeFile(partial, Buffer.from(await archive.arrayBuffer()));
  });
}

/**
 * Restores an embedded backup into `dataDir`, a new or empty folder; start the service on it with
 * `DATA_DIR=<dataDir>`.
 * @throws BackupError `checksum` (the file does not match its `.sha256`), `not_empty` (the folder holds files),
 *   `bad_request` (not an embedded backup's name), `tool_failed` (not a PGlite archive; the folder is emptied again).
 */
export async function restoreEmbeddedBackup(opts: { file: string; dataDir: string }): Promise<{ dataDir: string; durationMs: number }> {
  const started = Date.now();
  if (!basename(opts.file).endsWith(PGLITE_EXT)) throw new BackupError('bad_request', `${basename(opts.file)} is not an embedded-database backup (*${PGLITE_EXT})`);
  const check = await verifyChecksum(opts.file);
  if (!check.ok) throw new BackupError('checksum', `${basename(opts.file)} fails its checksum (${check.reason ?? 'mismatch'}): not restored`);
  const dataDir = resolve(opts.dataDir);
  const existing = await readdir(dataDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  if (existing.length > 0) throw new BackupError('not_empty', `${dataDir} is not empty: restore into a new folder`);
  // Unpacked here, synchronously: a damaged gzip stream inside PGlite's own gunzip is an uncaught stream error that
  // ends the process. gunzip checks the whole stream's CRC; the tar header's magic is checked before PGlite sees it.
  let tar: Buffer;
  try {
    tar = gunzipSync(await readFile(opts.file));
  } catch (err) {
    throw new BackupError('tool_failed', `${basename(opts.file)} is not a readable PGlite data directory archive (${(err as Error).message}); nothing restored`, { cause: err });
  }
  if (tar.subarray(257, 262).toString('latin1') !== 'ustar')
    throw new BackupError('tool_failed', `${basename(opts.file)} is not a readable PGlite data directory archive (no tar header); nothing restored`);
  try {
    await loadEmbeddedDataDir(dataDir, new Blob([tar], { type: 'application/x-tar' }));
  } catch (err) {
    // leave the folder as it was (empty or absent), so a retry with a sound backup can use it
    for (const name of await readdir(dataDir).catch(() => [] as string[])) await rm(join(dataDir, name), { recursive: true, force: true });
    throw new BackupError('tool_failed', `${basename(opts.file)} is not a readable PGlite data directory archive (${(err as Error).message}); nothing restored`, { cause: err });
  }
  return { dataDir, durationMs: Date.now() - started };
}

/**
 * One backup of an open database into `dir`: pg_dump (custom format) of a server, or the data directory of the
 * embedded database.
 * @throws BackupError from pg_dump (see createBackup), or the embedded backup's error.
 */
export async function takeBackup(db: Database, opts: { dir: string; now: Date; pgBinDir?: string | undefined }): Promise<BackupResult> {
  if (db.embedded) return createEmbeddedBackup({ embedded: db.embedded, dir: opts.dir, now: opts.now });
  return createBackup({ url: db.url, dir: opts.dir, now: opts.now, pgBinDir: opts.pgBinDir });
}
