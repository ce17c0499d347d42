/**
 * Test database: the real PostgreSQL at `DATABASE_URL` when set, else one in-memory embedded PGlite shared by
 * every suite of the test process (its initdb takes seconds). Either way each `freshDatabase()` drops the
 * schema and applies the migrations again, so the same driver and migrations run in both modes.
 */
import { startEmbeddedDatabase, type EmbeddedDatabase } from '../../db/embedded.js';
import { ENTITY_TABLES } from '../../db/entities/index.js';
import { openDatabase, type Database } from '../../db/orm.js';
import { flushLedgers } from '../../domain/gateway/ledger.js';

/** Which database the tests run on, for suite names. */
export const DB_KIND = process.env.DATABASE_URL ? 'postgres' : 'embedded';

let shared: Promise<EmbeddedDatabase> | undefined;

/** The URL of the shared in-memory embedded database (started on first use). */
export async function sharedEmbeddedUrl(): Promise<string> {
  shared ??= startEmbeddedDatabase({ dataDir: ':memory:', maxConnections: 40 }).then((db) => {
    db.unref();
    return db;
  });
  return (await shared).url;
}

/**
 * Opens a clean, migrated database; `url` undefined (or unset DATABASE_URL) means the shared embedded one.
 * Close it with `db.close()` in the suite's `after` (closes the pool, not the shared server).
 */
export async function freshDatabase(opts: { url?: string | undefined; poolMax?: number } = {}): Promise<Database> {
  await flushLedgers(); // an earlier suite's buffered ledger rows must not land in this one's tables
  const url = ('url' in opts ? opts.url : process.env.DATABASE_URL) ?? (await sharedEmbeddedUrl());
  const db = await openDatabase({ url, dataDir: ':memory:', poolMax: opts.poolMax ?? 5 });
  await db.orm.getSchemaGenerator().dropSchema({ dropMigrationsTable: true });
  await db.orm.getMigrator().up();
  return db;
}

/**
 * Deletes every row (keeps the schema) between tests of one suite: every table of the entity list
 * (db/entities ENTITIES), so a new entity's table is emptied too.
 */
export async function truncateAll(db: Database): Promise<void> {
  await flushLedgers(); // rows buffered by the gateway's write-behind ledger belong to the previous test
  const tables = ENTITY_TABLES.map((t) => `"${t}"`).join(', ');
  await db.orm.em.getConnection().execute(`truncate table ${tables} restart identity cascade`);
}
