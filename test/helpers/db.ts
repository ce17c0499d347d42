/**
 * Test database: the real PostgreSQL at `DATABASE_URL` when set (schema dropped and migrated afresh), else an
 * in-memory embedded PGlite served over pglite-socket, so the same driver and migrations run either way.
 */
import { openDatabase, type Database } from '../../db/orm.js';

/** Which database the tests run on, for suite names. */
export const DB_KIND = process.env.DATABASE_URL ? 'postgres' : 'embedded';

/** Opens a clean, migrated database. Close it with `db.close()` in the suite's `after`. */
export async function freshDatabase(opts: { url?: string | undefined; poolMax?: number } = {}): Promise<Database> {
  const url = 'url' in opts ? opts.url : process.env.DATABASE_URL;
  const db = await openDatabase({ url, dataDir: ':memory:', poolMax: opts.poolMax ?? 5 });
  await db.orm.getSchemaGenerator().dropSchema({ dropMigrationsTable: true });
  await db.orm.getMigrator().up();
  return db;
}

/** Deletes every row (keeps the schema) between tests of one suite. */
export async function truncateAll(db: Database): Promise<void> {
  await db.orm.em
    .getConnection()
    .execute(
      'truncate table assessment_results, emails, businesses, targets, job_runs, ops_events, provider_state restart identity cascade',
    );
}
