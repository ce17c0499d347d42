/**
 * A read-only snapshot of the pipeline for `/lf status` and `npm run lf -- status`: the last runs of the daily
 * pipeline job, businesses and emails by status, and how many targets are active.
 *
 * Named queries (domain/queries/) over the passed (forked) EntityManager's connection, so it loads no entities into
 * an identity map and returns the same shapes on the real PostgreSQL and on the embedded PGlite (same `pg` driver).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { BUSINESS_STATUSES, EMAIL_STATUSES, type BusinessStatus, type EmailStatus } from '../db/entities/statuses.js';
import type { JobRunStatus } from '../db/entities/job-run.entity.js';
import { systemClock, type Clock } from './clock.js';
import { businessesByStatus } from './queries/businesses.js';
import { recentDeploys } from './queries/changes.js';
import { emailsByStatus } from './queries/email-figures.js';
import { recentRuns, type RecentRunRow } from './queries/runs.js';
import type { SqlRunner } from './queries/sql-runner.js';
import { targetCounts } from './queries/targets.js';

import { PIPELINE_JOB } from './pipeline/deps.js';

export { PIPELINE_JOB };

/** How many recent runs {@link getPipelineStatus} returns. */
export const STATUS_RUN_LIMIT = 5;

/**
 * One pipeline run, from a `job_runs` row. Times are ISO-8601 UTC strings.
 * `durationMs` is `finishedAt − startedAt` in milliseconds, or null while the run has not finished.
 * `counts` maps a stage (e.g. `sourced`, `assessed`, `scored`, `personalized`, `emailed`) to how many
 * businesses completed it in this run, as the job recorded them.
 */
export interface RecentPipelineRun {
  id: number;
  status: JobRunStatus;
  /** What started it: `schedule`, `startup`, `manual`, … (free text set by the job runner). */
  trigger: string;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  counts: Record<string, number>;
  /** Failure message of a failed or stalled run, else null. */
  error: string | null;
}

/**
 * The snapshot returned by {@link getPipelineStatus}. `businessesByStatus` and `emailsByStatus` carry every
 * status of BUSINESS_STATUSES / EMAIL_STATUSES (0 when none), in that order.
 */
export interface PipelineStatus {
  /** When the snapshot was taken (ISO-8601 UTC). */
  generatedAt: string;
  /** The last {@link STATUS_RUN_LIMIT} runs of {@link PIPELINE_JOB}, newest first. */
  runs: RecentPipelineRun[];
  businessesByStatus: Record<BusinessStatus, number>;
  businessesTotal: number;
  emailsByStatus: Record<EmailStatus, number>;
  emailsTotal: number;
  /** Targets with `active = true`. */
  activeTargets: number;
  /** The newest recorded service start (`deploys`): version, git commit, since when (ISO-8601), or null. */
  deploy?: { version: string; gitSha: string | null; startedAt: string; host: string } | null;
}

function parseCounts(value: RecentRunRow['counts']): Record<string, number> {
  const raw = typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
  const out: Record<string, number> = {};
  if (raw && typeof raw === 'object') {
    for (const [key, n] of Object.entries(raw)) if (typeof n === 'number' && Number.isFinite(n)) out[key] = n;
  }
  return out;
}

function byStatus<S extends string>(statuses: readonly S[], found: Record<string, number>): { counts: Record<S, number>; total: number } {
  const counts = Object.fromEntries(statuses.map((s) => [s, 0])) as Record<S, number>;
  let total = 0;
  for (const [status, n] of Object.entries(found)) {
    total += n;
    // an unknown status (a newer migration than this code) still counts in the total
    if ((statuses as readonly string[]).includes(status)) counts[status as S] = n;
  }
  return { counts, total };
}

/**
 * Reads the pipeline snapshot. Five read-only named queries on `em`'s connection; pass a fork per request.
 * @param em a forked EntityManager (never the global one).
 * @param opts.clock source of `generatedAt` (default: the wall clock).
 * @throws driver errors when the database is unreachable or not migrated.
 */
export async function getPipelineStatus(em: EntityManager, opts: { clock?: Clock } = {}): Promise<PipelineStatus> {
  const conn = em.getConnection();
  return pipelineStatusFrom({ query: (sql, params) => conn.execute(sql, params ?? []) }, opts);
}

/**
 * Runs SQL with `?` placeholders and resolves the rows: a MikroORM connection's `execute`, or (the CLI's
 * `lf status`, which does not load the ORM) a `pg` client behind a placeholder translation.
 */
export interface StatusSql {
  query(sql: string, params?: unknown[]): Promise<unknown[]>;
}

/** {@link getPipelineStatus} over any {@link StatusSql}. @throws driver errors (unreachable, not migrated). */
export async function pipelineStatusFrom(sql: StatusSql, opts: { clock?: Clock } = {}): Promise<PipelineStatus> {
  const clock = opts.clock ?? systemClock;
  const db: SqlRunner = { execute: (text, params) => sql.query(text, params) };
  const [runRows, businessCounts, emailCounts, targets, deploys] = await Promise.all([
    recentRuns(db, PIPELINE_JOB, STATUS_RUN_LIMIT),
    businessesByStatus(db),
    emailsByStatus(db),
    targetCounts(db),
    // the newest recorded start (deploys, domain/changes.ts); an unmigrated table reads as none
    recentDeploys(db, 1).catch(() => []),
  ]);
  const latest = deploys[0];

  const runs = runRows.map((row): RecentPipelineRun => {
    const startedAt = row.startedAt.toISOString();
    const finishedAt = row.finishedAt === null ? null : row.finishedAt.toISOString();
    return {
      id: Number(row.id),
      status: row.status,
      trigger: row.trigger,
      startedAt,
      finishedAt,
      durationMs: finishedAt === null ? null : Date.parse(finishedAt) - Date.parse(startedAt),
      counts: parseCounts(row.counts),
      error: row.error,
    };
  });
  const businesses = byStatus(BUSINESS_STATUSES, businessCounts);
  const emails = byStatus(EMAIL_STATUSES, emailCounts);
  return {
    generatedAt: clock.now().toISOString(),
    runs,
    businessesByStatus: businesses.counts,
    businessesTotal: businesses.total,
    emailsByStatus: emails.counts,
    emailsTotal: emails.total,
    activeTargets: targets.active,
    deploy: latest ? { version: latest.version, gitSha: latest.gitSha, startedAt: latest.startedAt.toISOString(), host: latest.host } : null,
  };
}
