/**
 * The embedded database used when `DATABASE_URL` is unset: PGlite (PostgreSQL compiled to wasm) keeping its
 * files under `<dataDir>/pglite`, served over the Postgres wire protocol by pglite-socket on a loopback port,
 * so the ordinary @mikro-orm/postgresql driver, entities and migrations serve it exactly like a real server.
 *
 * PGlite has no file lock of its own (two processes on one folder silently lose writes), so we take
 * `<dataDir>/pglite.lock` with an exclusive create; it holds `{ pid, port, startedAt }` so the CLI can reach the
 * running server instead of opening the folder a second time.
 */
import { closeSync, ftruncateSync, mkdirSync, writeSync } from 'node:fs';
import { Server } from 'node:net';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { DatabaseError } from './errors.js';
import { releaseLock, takeLock, type EmbeddedLock } from './embedded-lock.js';

export { lockPathFor, lockedError, readLiveLock, type EmbeddedLock } from './embedded-lock.js';

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

/**
 * Opens (creating on first use) the embedded database in `<dataDir>/pglite` and serves it on a loopback port
 * (`port`, else any free one; the lock file records it).
 * `dataDir` `':memory:'` keeps everything in memory and takes no lock (tests).
 * @throws DatabaseError `db_locked` when another live process holds the folder's lock.
 */
export async function startEmbeddedDatabase(opts: {
  dataDir: string;
  maxConnections: number;
  /** Loopback port of the socket server (PGLITE_PORT); 0 or absent = any free port. */
  port?: number;
}): Promise<EmbeddedDatabase> {
  const inMemory = opts.dataDir === ':memory:';
  let lock: { fd: number; path: string } | undefined;
  if (!inMemory) {
    mkdirSync(opts.dataDir, { recursive: true }); // PGlite's own mkdir is not recursive
    lock = takeLock(opts.dataDir);
  }
  try {
    const pglite = await PGlite.create(inMemory ? undefined : join(resolve(opts.dataDir), 'pglite'));
    const server = new PGLiteSocketServer({ db: pglite, host: '127.0.0.1', port: opts.port ?? 0, maxConnections: opts.maxConnections });
    await server.start().catch(async (err: unknown) => {
      await pglite.close().catch(() => undefined);
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE')
        throw new DatabaseError('db_unavailable', `PGLITE_PORT ${opts.port}: the port is in use; set PGLITE_PORT to a free port (0 = any free port)`);
      throw err;
    });
    const net = listeningServer(server);
    const address = net?.address();
    if (!net || !address || typeof address === 'string') throw new DatabaseError('db_unavailable', 'pglite-socket did not report its port');
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
      unref: () => net.unref(),
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

/**
 * The `net.Server` a started {@link PGLiteSocketServer} listens on, or undefined. pglite-socket 0.2 keeps it in a
 * private field and has no public accessor (its `getServerConn()` gives host:port but not the handle that `unref`
 * needs), so it is read by name and checked with `instanceof` rather than cast.
 */
function listeningServer(socketServer: PGLiteSocketServer): Server | undefined {
  const inner: unknown = Reflect.get(socketServer, 'server');
  return inner instanceof Server ? inner : undefined;
}
