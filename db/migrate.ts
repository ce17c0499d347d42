/**
 * Applies pending migrations to `DATABASE_URL` (or the embedded database in `DATA_DIR`, default `.data`, the same
 * variables and default as the service's configuration). `npm run db:migrate`. Reads the two variables itself:
 * db/ imports nothing of the application. Loads `.env` (or ENV_FILE) first, like the service.
 */
import { existsSync } from 'node:fs';
import { openDatabase } from './orm.js';

// `.env` as the service loads it (domain/env-file.ts), with Node's own loader; the environment wins over the file
const envFile = process.env.ENV_FILE || '.env';
if (existsSync(envFile)) process.loadEnvFile(envFile);
const url = process.env.DATABASE_URL || undefined;
const dataDir = process.env.DATA_DIR || '.data';
const db = await openDatabase({ url, dataDir, poolMax: 2 });
try {
  const applied = await db.orm.getMigrator().up();
  console.log(applied.length ? `applied ${applied.map((m) => m.name).join(', ')}` : 'up to date');
} finally {
  await db.close();
}
