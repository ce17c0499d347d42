/**
 * Writes a new migration from the difference between the entities and the database at `DATABASE_URL`
 * (generate against real PostgreSQL 15, as the reference notes advise). Usage: `npm run db:migration:create`.
 */
import { openDatabase } from './orm.js';

const db = await openDatabase({ url: process.env.DATABASE_URL, dataDir: ':memory:', poolMax: 2, migrate: true });
try {
  const result = await db.orm.getMigrator().createMigration();
  console.log(result.fileName ? `created ${result.fileName}` : 'no changes');
} finally {
  await db.close();
}
