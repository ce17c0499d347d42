/**
 * MikroORM set-up for PostgreSQL (a real server, or the embedded PGlite over its socket; same driver either way).
 * Migrations live in db/migrations (TypeScript under tsx, compiled JS under dist/) and are applied at start.
 */
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { MikroORM, defineConfig } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { ENTITIES } from './entities/index.js';
import { startEmbeddedDatabase, type EmbeddedDatabase } from './embedded.js';

const here = dirname(fileURLToPath(import.meta.url));

/** Builds the MikroORM options for a postgres:// URL and pool size. */
export function ormConfig(clientUrl: string, poolMax: number) {
  return defineConfig({
    entities: ENTITIES,
    clientUrl,
    extensions: [Migrator],
    pool: { min: 0, max: poolMax },
    debug: false,
    allowGlobalContext: false,
    migrations: {
      path: join(here, 'migrations'),
      pathTs: join(here, 'migrations'),
      glob: '!(*.d).{js,ts}',
      snapshot: false,
      silent: true,
      transactional: true,
    },
  });
}

/** An open database: the ORM plus, in embedded mode, the PGlite server behind it. */
export interface Database {
  orm: MikroORM;
  /** The postgres:// URL in use (for worker threads, which open their own small pool). */
  url: string;
  embedded: EmbeddedDatabase | undefined;
  close(): Promise<void>;
}

/**
 * Opens the database: `url` when given, else an embedded PGlite under `dataDir` (':memory:' for none).
 * Applies pending migrations when `migrate` is true.
 * @throws DatabaseError `db_locked` when the embedded folder is in use; driver errors when the server is unreachable.
 */
export async function openDatabase(opts: {
  url: string | undefined;
  dataDir: string;
  poolMax: number;
  migrate?: boolean;
  /** Port of the embedded database's socket (PGLITE_PORT; 0 = any free port). */
  embeddedPort?: number;
}): Promise<Database> {
  let embedded: EmbeddedDatabase | undefined;
  let url = opts.url;
  if (!url) {
    // pglite-socket's default of 1 connection would starve the pool
    embedded = await startEmbeddedDatabase({ dataDir: opts.dataDir, maxConnections: opts.poolMax + 4, ...(opts.embeddedPort !== undefined ? { port: opts.embeddedPort } : {}) });
    url = embedded.url;
  }
  try {
    const orm = await MikroORM.init(ormConfig(url, opts.poolMax));
    if (opts.migrate) await orm.getMigrator().up();
    return {
      orm,
      url,
      embedded,
      async close() {
        await orm.close(true).catch(() => undefined);
        await embedded?.close();
      },
    };
  } catch (err) {
    await embedded?.close();
    throw err;
  }
}

/** Names of migrations not yet applied (for /readyz). */
export async function pendingMigrations(orm: MikroORM): Promise<string[]> {
  const pending = await orm.getMigrator().getPendingMigrations();
  return pending.map((m) => m.name);
}
