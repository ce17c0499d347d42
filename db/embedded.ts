/**
 * The embedded database used when `DATABASE_URL` is unset: PGlite (PostgreSQL compiled to wasm) keeping its
 * files under `<dataDir>/pglite`, served over the Postgres wire protocol by pglite-socket on a loopback port,
 * so the ordinary @mikro-orm/postgresql driver, entities and migrations serve it exactly like a real server.
 *
 * PGlite has no file lock of its own (two processes on one folder silently lose writes), so we take
 * `<dataDir>/pglite.lock` with an exclusive create; it holds `{ pid, port, startedAt }` so the CLI can reach the
 * running server instead of opening the folder a second time.
 */
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { DatabaseError } from './errors.js';

/** Contents of the lock file. */
export interface EmbeddedLock {
  pid: number;
  /** Loopback port the running process serves its PGlite on. */
  port: number;
  startedAt: string;
}

/** A running embedded database. `url` is a postgres:// URL for the driver; `close()` stops server and PGlite. */
export interface EmbeddedDatabase {
  url: string;
  port: number;
  lockPath: string;
  /** Lets the process exit while the server still listens (shared test databases). */
  unref(): void;
  /**
   * A gzipped tarball of the whole data directory (PGlite `dumpDataDir`): a physical, consistent snapshot taken
   * between statements (PGlite runs one at a time); loadable with {@link loadEmbeddedDataDir}.
   */
  dumpDataDir(): Promise<Blob>;
  close(): Promise<void>;
}

/**
 * Creates the embedded database of a new data folder from a {@link EmbeddedDatabase.dumpDataDir} tarball:
 * PGlite `loadDataDir` into `<dataDir>/pglite`, then closed (start it with {@link startEmbeddedDatabase}).
 * @throws PGlite's error when the archive is not a PGlite data directory.
 */
export async function loadEmbeddedDataDir(dataDir: string, archive: Blob): Promise<void> {
  mkdirSync(dataDir, { recursive: true });
  const pglite = await PGlite.create(join(resolve(dataDir), 'pglite'), { loadDataDir: archive });
  await pglite.close();
}

/** Path of the lock file for a data folder. */
export function lockPathFor(dataDir: string): string {
  return resolve(dataDir, 'pglite.lock');
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Reads the lock of a data folder; returns it when the owning process is alive, else undefined.
 */
export function readLiveLock(dataDir: string): EmbeddedLock | undefined {
  try {
    const lock = JSON.parse(readFileSync(lockPathFor(dataDir), 'utf8')) as EmbeddedLock;
    return pidAlive(lock.pid) ? lock : undefined;
  } catch {
    return undefined;
  }
}

/** A lock file written in the last few seconds counts as live even before its owner has filled it in. */
function justCreated(path: string): boolean {
  try {
    return Date.now() - statSync(path).mtimeMs < 5000 && readFileSync(path, 'utf8').trim() === '';
  } catch {
    return false;
  }
}

/** Removes the lock file only when it is ours (never another process's). */
function releaseLock(path: string): void {
  try {
    const held = JSON.parse(readFileSync(path, 'utf8')) as EmbeddedLock;
    if (held.pid !== process.pid) return;
  } catch {
    /* unreadable: ours was half-written */
  }
  rmSync(path, { force: true });
}

function takeLock(dataDir: string): { fd: number; path: string } {
  const path = lockPathFor(dataDir);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      // Our pid goes in at once (port 0 until the server listens): a second starter during our initdb must see a
      // live owner, not an empty file it would take for stale.
      const early: EmbeddedLock = { pid: process.pid, port: 0, startedAt: new Date().toISOString() };
      writeSync(fd, JSON.stringify(early));
      return { fd, path };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const live = readLiveLock(dataDir) ?? (justCreated(path) ? { pid: 0, port: 0, startedAt: '' } : undefined);
      if (live) {
        throw new DatabaseError(
          'db_locked',
          `The embedded database in ${resolve(dataDir)} is in use by process ${live.pid} (lock file ${path}). ` +
            'Stop that process first, or set DATA_DIR to another folder, or DATABASE_URL to a PostgreSQL server.',
        );
      }
      rmSync(path, { force: true }); // stale: its process is gone
    }
  }
  throw new DatabaseError('db_locked', `Could not take the lock file ${path}`);
}

/**
 * Opens (creating on first use) the embedded database in `<dataDir>/pglite` and serves it on a loopback port.
 * `dataDir` `':memory:'` keeps everything in memory and takes no lock (tests).
 * @throws DatabaseError `db_locked` when another live process holds the folder's lock.
 */
export async function startEmbeddedDatabase(opts: {
  dataDir: string;
  maxConnections: number;
}): Promise<EmbeddedDatabase> {
  const inMemory = opts.dataDir === ':memory:';
  let lock: { fd: number; path: string } | undefined;
  if (!inMemory) {
    mkdirSync(opts.dataDir, { recursive: true }); // PGlite's own mkdir is not recursive
    lock = takeLock(opts.dataDir);
  }
  try {
    const pglite = await PGlite.create(inMemory ? undefined : join(resolve(opts.dataDir), 'pglite'));
    const server = new PGLiteSocketServer({ db: pglite, host: '127.0.0.1', port: 0, maxConnections: opts.maxConnections });
    await server.start();
    const net = (server as unknown as { server?: { address(): { port: number } | null; unref(): void } }).server;
    const address = net?.address();
    if (!address) throw new DatabaseError('db_unavailable', 'pglite-socket did not report its port');
    const port = address.port;
    if (lock) {
      const body: EmbeddedLock = { pid: process.pid, port, startedAt: new Date().toISOString() };
      ftruncateSync(lock.fd, 0);
      writeSync(lock.fd, JSON.stringify(body), 0);
      closeSync(lock.fd);
    }
    const lockPath = lock?.path ?? '';
    return {
      url: `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`,
      port,
      lockPath,
      unref: () => net?.unref(),
      dumpDataDir: async () => pglite.dumpDataDir('gzip'),
      async close() {
        await server.stop().catch(() => undefined);
        await pglite.close().catch(() => undefined);
        if (lock) releaseLock(lock.path);
      },
    };
  } catch (err) {
    if (lock) {
      try {
        closeSync(lock.fd);
      } catch {
        /* already closed */
      }
      releaseLock(lock.path);
    }
    throw err;
  }
}
