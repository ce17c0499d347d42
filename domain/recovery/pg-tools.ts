/**
 * The PostgreSQL client programs behind backups and restores (pg_dump, pg_restore, psql): where they are, how they
 * run (no shell; a URL's password in `PGPASSWORD`, never on a command line where `ps` shows it), whether they can
 * handle a server (pg_dump and pg_restore refuse servers newer than themselves; PGlite reports 18), and the
 * {@link BackupError} every backup and restore step throws.
 */
import { spawn } from 'node:child_process';
import { basename, join } from 'node:path';
import pg from 'pg';
import { AppError } from '../errors.js';
import { serverVersionNum } from '../queries/pg-server.js';

/** Why a backup or restore step failed. */
export type BackupFailure = 'tool_missing' | 'version_mismatch' | 'tool_failed' | 'timeout' | 'checksum' | 'not_empty' | 'bad_request';

/** A backup/restore failure with a machine-readable `reason` (code `internal`, or `bad_request` for bad input). */
export class BackupError extends AppError {
  readonly reason: BackupFailure;
  constructor(reason: BackupFailure, message: string, opts: { cause?: unknown } = {}) {
    super(reason === 'bad_request' || reason === 'not_empty' ? 'bad_request' : 'internal', message, opts);
    this.reason = reason;
  }
}

/** A libpq connection for a child process: the URL without its password, and the password in `PGPASSWORD`. */
export interface PgConnection {
  /** The URL with the password removed (safe on a command line). */
  url: string;
  /** Environment for the child: `PGPASSWORD` when the URL had one. */
  env: Record<string, string>;
}

/**
 * Splits a postgres:// URL into a password-free URL and the environment carrying the password.
 * @throws BackupError `bad_request` when `url` is not a postgres URL.
 */
export function pgConnection(url: string): PgConnection {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new BackupError('bad_request', 'expected a postgres:// or postgresql:// URL');
  }
  if (!/^postgres(ql)?:$/.test(u.protocol)) throw new BackupError('bad_request', `expected a postgres:// or postgresql:// URL, got ${u.protocol}//…`);
  const env: Record<string, string> = {};
  if (u.password) {
    env.PGPASSWORD = decodeURIComponent(u.password);
    u.password = '';
  }
  return { url: u.toString(), env };
}

/** The URL with its password replaced by `***` (for messages and logs). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/** The database name of a postgres URL (`postgres` when the path is empty). */
export function databaseName(url: string): string {
  const path = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  return path || 'postgres';
}

/** Path of a PostgreSQL client program: `<pgBinDir>/<name>` or the bare name (PATH). */
export function pgTool(name: 'pg_dump' | 'pg_restore' | 'psql', pgBinDir?: string): string {
  return pgBinDir ? join(pgBinDir, name) : name;
}

/** Whether this machine's pg_dump can dump a server: majors compared (pg_dump must be at least the server's). */
export interface DumpCompatibility {
  ok: boolean;
  /** pg_dump's major version, undefined when it is not installed. */
  clientMajor: number | undefined;
  serverMajor: number;
  /** Why not, in a sentence (when `ok` is false). */
  reason?: string;
}

/**
 * Compares `pg_dump --version` (from `pgBinDir` or PATH) with a server's `server_version_num` (e.g. 150019 → 15;
 * PGlite reports 18). Never throws: a missing pg_dump is `ok: false` with the reason.
 */
export async function dumpCompatibility(serverVersionNum: number, pgBinDir?: string): Promise<DumpCompatibility> {
  const serverMajor = Math.floor(serverVersionNum / 10000);
  let out: string;
  try {
    out = (await runPgTool(pgTool('pg_dump', pgBinDir), ['--version'], { url: '', env: {} }, { timeoutMs: 10_000 })).stdout;
  } catch (err) {
    return { ok: false, clientMajor: undefined, serverMajor, reason: (err as Error).message };
  }
  const clientMajor = Number(/(\d+)(?:\.\d+)?/.exec(out)?.[1]);
  if (!Number.isFinite(clientMajor)) return { ok: false, clientMajor: undefined, serverMajor, reason: `unrecognised pg_dump --version output: ${out.trim().slice(0, 100)}` };
  if (clientMajor < serverMajor)
    return { ok: false, clientMajor, serverMajor, reason: `pg_dump ${clientMajor} cannot dump a PostgreSQL ${serverMajor} server (set PG_BIN_DIR to a client of version ${serverMajor} or newer)` };
  return { ok: true, clientMajor, serverMajor };
}

/**
 * Reads the server's version (one `select`) and throws unless this machine's pg_dump can handle it (pg_restore has
 * the same version rule). Called before the tool ever connects.
 * @throws BackupError `version_mismatch` or `tool_missing`, naming the versions.
 */
export async function assertToolCanHandle(url: string, tool: 'pg_dump' | 'pg_restore', pgBinDir?: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  let versionNum: number;
  try {
    await client.connect();
    versionNum = await serverVersionNum(client);
  } finally {
    await client.end().catch(() => undefined);
  }
  const c = await dumpCompatibility(versionNum, pgBinDir);
  if (c.ok) return;
  if (c.clientMajor === undefined) throw new BackupError('tool_missing', c.reason ?? 'pg_dump is not installed');
  throw new BackupError(
    'version_mismatch',
    `${tool} ${c.clientMajor} cannot handle a PostgreSQL ${c.serverMajor} server (the embedded PGlite reports 18: its backups are taken by the service ` +
      'holding it — nightly, or /lf backups → Back up now). Point PG_BIN_DIR at a newer PostgreSQL client, or use a PostgreSQL server (DATABASE_URL).',
  );
}

/** Result of a finished client program. */
export interface ToolResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs a PostgreSQL client program without a shell, with `conn.env` added to the environment (PGPASSWORD) and
 * `PGCONNECT_TIMEOUT` 10 s unless set.
 * @throws BackupError `tool_missing` (not installed), `version_mismatch` (pg_dump older than the server),
 *   `timeout`, or `tool_failed` with the program's last stderr lines.
 */
export async function runPgTool(
  program: string,
  args: string[],
  conn: PgConnection,
  opts: { timeoutMs?: number } = {},
): Promise<ToolResult> {
  const timeoutMs = opts.timeoutMs ?? 30 * 60_000;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(program, args, {
      env: { ...process.env, PGCONNECT_TIMEOUT: process.env.PGCONNECT_TIMEOUT ?? '10', ...conn.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.length > 64_000) stderr = stderr.slice(-32_000);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
    }, timeoutMs);
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'ENOENT')
        reject(new BackupError('tool_missing', `${program} is not installed (install the PostgreSQL client, e.g. Debian's postgresql-client, or set PG_BIN_DIR)`, { cause: err }));
      else reject(new BackupError('tool_failed', `${program} could not start: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) return reject(new BackupError('timeout', `${basename(program)} did not finish within ${Math.round(timeoutMs / 1000)} s`));
      if (code === 0) return resolvePromise({ stdout, stderr });
      const mismatch = /server version mismatch[\s\S]*?server version: ([\d.]+)[\s\S]*?pg_dump version: ([\d.]+)/.exec(stderr);
      if (mismatch)
        return reject(
          new BackupError(
            'version_mismatch',
            `pg_dump ${mismatch[2]} cannot dump a PostgreSQL ${mismatch[1]} server (pg_dump must be at least the server's version; ` +
              'the embedded PGlite database reports 18). Point PG_BIN_DIR at a newer PostgreSQL client, or run on a PostgreSQL server (DATABASE_URL).',
          ),
        );
      const tail = stderr.trim().split('\n').slice(-5).join(' | ');
      reject(new BackupError('tool_failed', `${basename(program)} exited with ${code ?? signal}: ${tail || 'no output'}`));
    });
  });
}
