/** Applies pending migrations to `DATABASE_URL` (or the embedded database in DATA_DIR). `npm run db:migrate`. */
import { loadConfig } from '../domain/config.js';
import { openDatabase } from './orm.js';

const config = loadConfig();
const db = await openDatabase({ url: config.db.url, dataDir: config.db.dataDir, poolMax: 2 });
try {
  const applied = await db.orm.getMigrator().up();
  console.log(applied.length ? `applied ${applied.map((m) => m.name).join(', ')}` : 'up to date');
} finally {
  await db.close();
}
