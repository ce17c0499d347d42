/**
 * Restoring a backup made by {@link createBackup}: the checksum is checked first (a corrupted or tampered file is
 * refused before anything is created), then `pg_restore --no-owner --no-privileges --single-transaction` into
 *
 * - a fresh database created on the server of `adminUrl`, named `<database of adminUrl>_restore_<UTC stamp>`
 *   (dropped again when the restore fails), or
 * - a named target database, which must exist and hold no tables (restoring over live tables is refused; drop or
 *   create the target first).
 *
 * Switching the service to the restored database is a manual step on purpose (set `DATABASE_URL` to the returned
 * URL and restart `npm start`): a running service's pool, worker threads and replicas cannot be moved safely
 * from here. `--single-transaction` makes a failed restore leave the target as it was.
 */
import pg from 'pg';
import { AppError } from '../errors.js';
import { USER_RELATION_COUNT_SQL, createDatabaseSql, dropDatabaseSql, tableRowCount } from '../queries/pg-server.js';
import { backupStamp, verifyChecksum } from './backup.js';
import { BackupError, assertToolCanHandle, databaseName, pgConnection, pgTool, redactUrl, runPgTool } from './pg-tools.js';

/** What {@link restoreBackup} did. */
export interface RestoreResult {
  /** URL of the restored database (same credentials as the admin or target URL). */
  targetUrl: string;
  database: string;
  /** True when a fresh database was created for it. */
  created: boolean;
  durationMs: number;
}

/** Restore request: `targetUrl`, or `intoFreshDatabase` with `adminUrl` (a URL allowed to create databases). */
export type RestoreOptions = {
  file: string;
  now?: Date;
  pgBinDir?: string | undefined;
  timeoutMs?: number;
  /** Restore only these tables (definition and rows; `pg_restore --table`), e.g. one table lost to a bad change. */
  tables?: readonly string[];
} & ({ targetUrl: string; intoFreshDatabase?: false; adminUrl?: string } | { intoFreshDatabase: true; adminUrl: string; targetUrl?: undefined });

/** PostgreSQL identifier limit (bytes). */
const MAX_IDENT = 63;

/** The fresh database name for a restore: `<base>_restore_<stamp>` in lower case, cut to 63 characters. */
export function freshDatabaseName(base: string, now: Date): string {
  const suffix = `_restore_${backupStamp(now).toLowerCase()}`;
  const clean = base.toLowerCase().replace(/[^a-z0-9_]/g, '_').replace(/^([^a-z_])/, '_$1') || 'leadfactory';
  return `${clean.slice(0, MAX_IDENT - suffix.length)}${suffix}`;
}

/** `url` with its database replaced by `database`. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

/** Runs one SQL statement with psql on `url`; returns psql's unaligned output. */
async function psql(url: string, sql: string, pgBinDir: string | undefined): Promise<string> {
  const conn = pgConnection(url);
  const r = await runPgTool(
    pgTool('psql', pgBinDir),
    ['--no-psqlrc', '--no-password', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', `--dbname=${conn.url}`, '-c', sql],
    conn,
    { timeoutMs: 60_000 },
  );
  return r.stdout.trim();
}

/** Number of tables, views and sequences outside the system schemas of the database at `url`. */
export async function userRelationCount(url: string, pgBinDir?: string): Promise<number> {
  const out = await psql(url, USER_RELATION_COUNT_SQL, pgBinDir);
  return Number(out);
}

/**
 * Restores `file` (see the module comment).
 * @throws BackupError `checksum` (file refused), `not_empty` (named target holds tables), `tool_missing`,
 *   `tool_failed` (pg_restore's or psql's error), `timeout`; AppError `bad_request` for bad options.
 */
export async function restoreBackup(opts: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
  const now = opts.now ?? new Date();
  const check = await verifyChecksum(opts.file);
  if (!check.ok)
    throw new BackupError(
      'checksum',
      `${opts.file}: checksum ${check.reason === 'mismatch' ? `mismatch (expected ${check.expected}, file has ${check.actual})` : (check.reason ?? 'failed')}; refusing to restore it`,
    );
  // never let pg_restore (or our psql) near a server it cannot handle (PGlite: see assertToolCanHandle)
  const probeUrl = opts.intoFreshDatabase ? opts.adminUrl : opts.targetUrl;
  if (probeUrl) await assertToolCanHandle(probeUrl, 'pg_restore', opts.pgBinDir);
  let targetUrl: string;
  let created = false;
  if (opts.intoFreshDatabase) {
    if (!opts.adminUrl) throw new AppError('bad_request', 'a fresh-database restore needs adminUrl (a URL allowed to create databases)');
    const name = freshDatabaseName(databaseName(opts.adminUrl), now);
    await psql(opts.adminUrl, createDatabaseSql(name), opts.pgBinDir);
    created = true;
    targetUrl = withDatabase(opts.adminUrl, name);
  } else {
    if (!opts.targetUrl) throw new AppError('bad_request', 'restore needs targetUrl or intoFreshDatabase');
    targetUrl = opts.targetUrl;
    const relations = await userRelationCount(targetUrl, opts.pgBinDir);
    if (relations > 0)
      throw new BackupError(
        'not_empty',
        `the target ${redactUrl(targetUrl)} already holds ${relations} table(s)/sequence(s); restore into a fresh database, or drop and recreate the target first`,
      );
  }
  const conn = pgConnection(targetUrl);
  try {
    await runPgTool(
      pgTool('pg_restore', opts.pgBinDir),
      ['--no-owner', '--no-privileges', '--single-transaction', '--exit-on-error', '--no-password', ...(opts.tables ?? []).map((t) => `--table=${t}`), `--dbname=${conn.url}`, opts.file],
      conn,
      opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs },
    );
  } catch (err) {
    if (created && opts.intoFreshDatabase) {
      await psql(opts.adminUrl, dropDatabaseSql(databaseName(targetUrl)), opts.pgBinDir).catch(() => undefined);
    }
    throw err;
  }
  return { targetUrl, database: databaseName(targetUrl), created, durationMs: Date.now() - started };
}

/** Creates an empty database through `adminUrl` (tests and trial restores); returns its URL. */
export async function createDatabase(adminUrl: string, database: string, opts: { pgBinDir?: string } = {}): Promise<string> {
  if (!/^[a-z0-9_]+$/.test(database) || database.length > MAX_IDENT) throw new AppError('bad_request', `refusing to create a database with an unusual name: ${database}`);
  await psql(adminUrl, createDatabaseSql(database), opts.pgBinDir);
  return withDatabase(adminUrl, database);
}

/**
 * Drops a database (tests and clean-up after a trial restore), connected through `adminUrl`; `force` ends its
 * sessions first (PostgreSQL 13+).
 */
export async function dropDatabase(adminUrl: string, database: string, opts: { force?: boolean; pgBinDir?: string } = {}): Promise<void> {
  if (!/^[A-Za-z0-9_]+$/.test(database)) throw new AppError('bad_request', `refusing to drop a database with an unusual name: ${database}`);
  if (database === databaseName(adminUrl)) throw new AppError('bad_request', 'cannot drop the database the admin URL is connected to');
  await psql(adminUrl, dropDatabaseSql(database, opts.force), opts.pgBinDir);
}

/**
 * Row count of each of `tables` in the database at `url` (after a single-table restore).
 * @throws pg errors (e.g. 42P01 when a table is missing).
 */
export async function tableRowCountsAt(url: string, tables: readonly string[]): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    const out: Record<string, number> = {};
    for (const t of tables) out[t] = await tableRowCount(client, t);
    return out;
  } finally {
    await client.end().catch(() => undefined);
  }
}
