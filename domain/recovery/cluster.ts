/**
 * A self-managed PostgreSQL cluster on a data folder, driven by the server programs (`initdb`, `pg_ctl`,
 * `pg_basebackup`): what point-in-time recovery needs to bring a base backup up in a NEW cluster beside the live
 * one (never over it). PostgreSQL refuses to run its server as root, so when this process is root the programs run
 * as the `postgres` operating-system user (uid/gid looked up with `id`) and the data folder is handed to it.
 *
 * The server programs live in `pg_config --bindir` (Debian: /usr/lib/postgresql/<major>/bin, not on PATH);
 * `PG_BIN_DIR` overrides. Sources: PostgreSQL 15 docs, "pg_ctl", "initdb", "pg_basebackup".
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BackupError } from './pg-tools.js';

const run = promisify(execFile);

/** A PostgreSQL server program (not the client programs of pg-tools.ts). */
export type ServerProgram = 'initdb' | 'pg_ctl' | 'pg_basebackup' | 'postgres';

/** The OS user the server programs run as: undefined = this process's own user. */
export interface RunAs {
  uid: number;
  gid: number;
  name: string;
}

/**
 * Folder of the server programs: `pgBinDir` when given and it holds `pg_ctl`, else `pg_config --bindir`, else the
 * newest `/usr/lib/postgresql/<major>/bin`.
 * @throws BackupError `tool_missing` when no folder holds `pg_ctl`.
 */
export async function serverBinDir(pgBinDir?: string): Promise<string> {
  if (pgBinDir && existsSync(join(pgBinDir, 'pg_ctl'))) return pgBinDir;
  try {
    const dir = (await run('pg_config', ['--bindir'])).stdout.trim();
    if (dir && existsSync(join(dir, 'pg_ctl'))) return dir;
  } catch {
    // pg_config is in libpq-dev / postgresql-server-dev on Debian; fall through to the package layout
  }
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root) ? (await readdir(root)).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const m of majors) if (existsSync(join(root, m, 'bin', 'pg_ctl'))) return join(root, m, 'bin');
  throw new BackupError('tool_missing', 'the PostgreSQL server programs (pg_ctl, initdb, pg_basebackup) are not installed; install the postgresql package or set PG_BIN_DIR');
}

/** The user to run server programs as: `postgres` when this process is root, else undefined (ourselves). */
export async function serverRunAs(): Promise<RunAs | undefined> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  try {
    const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
    const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
    return { uid, gid, name: 'postgres' };
  } catch {
    throw new BackupError('tool_failed', 'running as root, and there is no `postgres` user to run the PostgreSQL server as (PostgreSQL refuses to run as root)');
  }
}

/**
 * Runs a server program from `binDir` as `runAs` (no shell).
 * @throws BackupError `tool_failed` with the program's last output lines, `timeout`.
 */
export async function runServerProgram(
  binDir: string,
  program: ServerProgram,
  args: string[],
  opts: { runAs?: RunAs | undefined; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<string> {
  try {
    const r = await run(join(binDir, program), args, {
      timeout: opts.timeoutMs ?? 10 * 60_000,
      env: { ...process.env, ...opts.env },
      cwd: '/',
      maxBuffer: 16 * 1024 * 1024,
      ...(opts.runAs ? { uid: opts.runAs.uid, gid: opts.runAs.gid } : {}),
    });
    return r.stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; killed?: boolean; message: string };
    if (e.killed) throw new BackupError('timeout', `${program} did not finish in time`);
    const tail = `${e.stderr ?? ''}${e.stdout ?? ''}`.trim().split('\n').slice(-6).join(' | ');
    throw new BackupError('tool_failed', `${program} failed: ${tail || e.message}`, { cause: err });
  }
}

/** Hands a folder tree to `runAs` (recursive chown); nothing when running as ourselves. */
export async function handOver(path: string, runAs: RunAs | undefined): Promise<void> {
  if (!runAs) return;
  await chown(path, runAs.uid, runAs.gid);
  for (const entry of await readdir(path, { withFileTypes: true, recursive: true })) {
    await chown(join(entry.parentPath, entry.name), runAs.uid, runAs.gid);
  }
}

/**
 * Starts the cluster in `dataDir` with `pg_ctl start -w` (log in `<dataDir>/server.log`).
 * @throws BackupError `tool_failed` with the server log's last lines when it does not come up.
 */
export async function startCluster(binDir: string, dataDir: string, runAs: RunAs | undefined, timeoutSec = 120): Promise<void> {
  const log = join(dataDir, 'server.log');
  try {
    await runServerProgram(binDir, 'pg_ctl', ['-D', dataDir, '-l', log, '-w', '-t', String(timeoutSec), 'start'], { runAs, timeoutMs: (timeoutSec + 10) * 1000 });
  } catch (err) {
    throw new BackupError('tool_failed', `the PostgreSQL server in ${dataDir} did not start: ${await logTail(log)}`, { cause: err });
  }
}

/** Stops the cluster in `dataDir` (`pg_ctl stop -m fast`); a cluster that is not running is fine. */
export async function stopCluster(binDir: string, dataDir: string, runAs: RunAs | undefined): Promise<void> {
  if (!existsSync(join(dataDir, 'postmaster.pid'))) return;
  await runServerProgram(binDir, 'pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', 'stop'], { runAs, timeoutMs: 120_000 }).catch(() => undefined);
}

/** The last lines of a server log (for error messages), or a note that there is none. */
export async function logTail(path: string, lines = 6): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim().split('\n').slice(-lines).join(' | ');
  } catch {
    return '(no server log)';
  }
}

/** A free loopback TCP port. */
export async function freePort(): Promise<number> {
  return await new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}
