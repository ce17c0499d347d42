/**
 * A throw-away PostgreSQL cluster for recovery tests: `initdb` into a temporary folder (as the `postgres` user when
 * the tests run as root), WAL archiving on into `<root>/archive`, started on a free loopback port, removed by
 * {@link ThrowawayCluster.remove}. The shared server at 127.0.0.1:5432 is never touched.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, handOver, runServerProgram, serverBinDir, serverRunAs, startCluster, stopCluster } from '../../domain/recovery/cluster.js';

/** A running throw-away cluster. */
export interface ThrowawayCluster {
  /** Temporary root: data in `data/`, WAL archive in `archive/`, free space for base backups and restores. */
  root: string;
  dataDir: string;
  archiveDir: string;
  port: number;
  /** URL of its `postgres` database as the `postgres` superuser. */
  adminUrl: string;
  /** Stops the cluster and deletes the whole root. */
  remove(): Promise<void>;
}

/**
 * Why a throw-away cluster cannot be made here (no server programs; root without a `postgres` user), or undefined
 * when it can. Synchronous so a suite decides at definition time whether it runs or is reported as skipped.
 */
export function clusterUnavailable(): string | undefined {
  const dirs = [process.env.PG_BIN_DIR, ...(existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').map((m) => join('/usr/lib/postgresql', m, 'bin')) : [])];
  if (!dirs.some((d) => d && existsSync(join(d, 'pg_ctl')) && existsSync(join(d, 'initdb'))))
    return 'the PostgreSQL server programs (initdb, pg_ctl) are not installed';
  if (process.getuid?.() === 0) {
    try {
      execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' });
    } catch {
      return 'running as root without a postgres user (PostgreSQL refuses to run as root)';
    }
  }
  return undefined;
}

/** Creates and starts a cluster with WAL archiving (archive_timeout off; call pg_switch_wal() to archive). */
export async function createThrowawayCluster(): Promise<ThrowawayCluster> {
  const binDir = await serverBinDir(process.env.PG_BIN_DIR);
  const runAs = await serverRunAs();
  const root = mkdtempSync(join(tmpdir(), 'lf-pgcluster-'));
  const dataDir = join(root, 'data');
  const archiveDir = join(root, 'archive');
  mkdirSync(archiveDir);
  await handOver(root, runAs);
  await runServerProgram(binDir, 'initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--no-sync'], { runAs });
  const port = await freePort();
  const conf = [
    `port = ${port}`,
    `listen_addresses = '127.0.0.1'`,
    `unix_socket_directories = '${dataDir}'`,
    `wal_level = replica`,
    `archive_mode = on`,
    `archive_command = 'cp "%p" "${archiveDir}/%f"'`,
    `max_wal_senders = 4`,
    `fsync = off`,
    '',
  ];
  await appendFile(join(dataDir, 'postgresql.auto.conf'), `\n${conf.join('\n')}`);
  await startCluster(binDir, dataDir, runAs);
  return {
    root,
    dataDir,
    archiveDir,
    port,
    adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async remove() {
      await stopCluster(binDir, dataDir, runAs);
      rmSync(root, { recursive: true, force: true });
    },
  };
}
