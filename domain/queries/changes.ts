/**
 * Queries behind `/lf changes` and the status line's deploy: service starts (`deploys`), run-time configuration
 * overrides (`settings`, who and when), and the daily pipeline's outcomes within each start's lifetime.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { rowsOf, type SqlRunner } from './sql-runner.js';

/** One service start. Times are Dates (UTC). */
export interface DeployRow {
  id: number;
  version: string;
  gitSha: string | null;
  configHash: string;
  config: Record<string, unknown>;
  host: string;
  startedAt: Date;
}

/** Inserts a start; returns its id. */
export async function insertDeploy(em: EntityManager, d: Omit<DeployRow, 'id'>): Promise<number> {
  const [row] = await em
    .execute<{ id: number }[]>(`insert into deploys (version, git_sha, config_hash, config, host, started_at) values (?, ?, ?, ?::jsonb, ?, ?) returning id`, [
      d.version,
      d.gitSha,
      d.configHash,
      JSON.stringify(d.config),
      d.host,
      d.startedAt,
    ]);
  return Number(row?.id);
}

/** The last `limit` starts, newest first. */
export async function recentDeploys(em: SqlRunner, limit = 10): Promise<DeployRow[]> {
  const rows = await rowsOf<{ id: number; version: string; git_sha: string | null; config_hash: string; config: Record<string, unknown> | string; host: string; started_at: Date | string }>(
    em,
    `select id, version, git_sha, config_hash, config, host, started_at from deploys order by started_at desc, id desc limit ?`,
    [limit],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    version: r.version,
    gitSha: r.git_sha,
    configHash: r.config_hash,
    config: typeof r.config === 'string' ? (JSON.parse(r.config) as Record<string, unknown>) : r.config,
    host: r.host,
    startedAt: new Date(r.started_at),
  }));
}

/** Outcome counts of one job's runs started in [from, to). */
export interface RunOutcomes {
  succeeded: number;
  failed: number;
  interrupted: number;
}

/** Runs of `job` started in [from, to) by status (`to` undefined = until now). */
export async function runOutcomesBetween(em: EntityManager, job: string, from: Date, to: Date | undefined): Promise<RunOutcomes> {
  const rows = await em
    .execute<{ status: string; n: string | number }[]>(
      `select status, count(*) as n from job_runs where job = ? and started_at >= ? and (?::timestamptz is null or started_at < ?::timestamptz) group by status`,
      [job, from, to ?? null, to ?? null],
    );
  const n = (s: string) => Number(rows.find((r) => r.status === s)?.n ?? 0);
  return { succeeded: n('succeeded'), failed: n('failed'), interrupted: n('interrupted') };
}

/** A run-time override (settings row) with who changed it and when. */
export interface OverrideChange {
  key: string;
  value: unknown;
  updatedBy: string | null;
  updatedAt: Date;
}

/** Settings people changed since `since` (not the service's own bookkeeping, written as `system:*`), newest first. */
export async function settingsChangedSince(em: EntityManager, since: Date): Promise<OverrideChange[]> {
  const rows = await em
    .execute<{ key: string; value: unknown; updated_by: string | null; updated_at: Date | string }[]>(
      `select key, value, updated_by, updated_at from settings
        where updated_at >= ? and updated_by not like 'system:%' order by updated_at desc limit 50`,
      [since],
    );
  return rows.map((r) => ({ key: r.key, value: r.value, updatedBy: r.updated_by, updatedAt: new Date(r.updated_at) }));
}
