/**
 * Prints `true` when this machine's pg_dump can dump the test database's server (DATABASE_URL, else a fresh
 * in-memory PGlite), else `false`. Run by {@link testServerDumpable} in test/helpers/recovery.ts.
 */
import { startEmbeddedDatabase } from '../../db/embedded.js';
import { openDatabase } from '../../db/orm.js';
import { dumpCompatibility } from '../../domain/recovery/pg-tools.js';

const embedded = process.env.DATABASE_URL ? undefined : await startEmbeddedDatabase({ dataDir: ':memory:', maxConnections: 2 });
const db = await openDatabase({ url: process.env.DATABASE_URL ?? embedded!.url, dataDir: ':memory:', poolMax: 1 });
try {
  const [v] = await db.orm.em.getConnection().execute<{ v: string }[]>(`select current_setting('server_version_num') as v`);
  console.log((await dumpCompatibility(Number(v!.v))).ok ? 'true' : 'false');
} finally {
  await db.close();
  await embedded?.close();
}
