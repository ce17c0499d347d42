/**
 * Named queries over `job_runs`: the lease protocol (domain/leases.ts, domain/pipeline/reaper.ts); the daily
 * pipeline's last finished run, whether it failed and how many items failed in it (the rules PipelineRunFailed /
 * PipelineRunFailures, the gauges, the status post's colour); the scheduler's and start-up's bookkeeping
 * (domain/job-runs.ts, domain/status.ts).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { JobRunStatus } from '../../db/entities/job-run.entity.js';
import { rowsOf, type SqlRunner } from './sql-runner.js';

/** A `running` row of `job_runs` with its lease. */
export interface RunningRun {
  id: number;
  job: string;
  leaseHolder: string | null;
  leaseExpiresAt: Date | null;
  heartbeatAt: Date;
}

/** Every `running` run, oldest first. */
export async function runningRuns(em: EntityManager, job?: string): Promise<RunningRun[]> {
  const rows = await em.execute<{ id: number; job: string; lease_holder: string | null; lease_expires_at: Date | string | null; heartbeat_at: Date | string }[]>(
    `select id, job, lease_holder, lease_expires_at, heartbeat_at from job_runs where status = 'running'${job ? ' and job = ?' : ''} order by id`,
    job ? [job] : [],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    job: r.job,
    leaseHolder: r.lease_holder,
    leaseExpiresAt: r.lease_expires_at === null ? null : new Date(r.lease_expires_at),
    heartbeatAt: new Date(r.heartbeat_at),
  }));
}

/** Renews a run's lease (and heartbeat) while it is `running`; false when it is not (its lease was lost). */
export async function renewRunLease(em: EntityManager, runId: number, until: Date): Promise<boolean> {
  const rows = await em
    .execute<{ id: number }[]>(`update job_runs set lease_expires_at = ?, heartbeat_at = now() where id = ? and status = 'running' returning id`, [until, runId]);
  return rows.length > 0;
}

/** Marks a `running` run `interrupted` with `reason`; false when it was no longer running. */
export async function interruptRun(em: EntityManager, runId: number, now: Date, reason: string): Promise<boolean> {
  const rows = await em
    .execute<{ id: number }[]>(`update job_runs set status = 'interrupted', finished_at = ?, error = ?, lease_expires_at = null where id = ? and status = 'running' returning id`, [
      now,
      reason.slice(0, 2000),
      runId,
    ]);
  return rows.length > 0;
}

/** Stores a run's counts and heartbeat (a pipeline checkpoint). */
export async function saveRunCheckpoint(em: EntityManager, runId: number, counts: Record<string, number>, now: Date): Promise<void> {
  await em.execute(`update job_runs set counts = ?::jsonb, heartbeat_at = ? where id = ?`, [JSON.stringify(counts), now, runId]);
}

/**
 * Closes a run with its outcome unless something else closed it first (the reaper, a shutdown): true when this call
 * closed it.
 */
export async function finishRun(
  em: EntityManager,
  runId: number,
  outcome: { status: 'succeeded' | 'failed'; counts: Record<string, number>; error: string | null },
  now: Date,
): Promise<boolean> {
  const rows = await em.execute<{ id: number }[]>(
    `update job_runs set status = ?, finished_at = ?, heartbeat_at = ?, counts = ?::jsonb, error = ?, lease_expires_at = null
      where id = ? and status = 'running' returning id`,
    [outcome.status, now, now, JSON.stringify(outcome.counts), outcome.error, runId],
  );
  return rows.length > 0;
}

/** A finished daily-pipeline run. `counts` as recorded (domain/pipeline/deps.ts StageCount). */
export interface FinishedRun {
  id: number;
  status: string;
  trigger: string | null;
  startedAt: Date;
  finishedAt: Date;
  counts: Record<string, number>;
  error: string | null;
}

/** Item failures of a run: `send_failed + assessment_failed` over the items attempted in those stages. */
export interface RunFailures {
  failed: number;
  attempted: number;
  ratio: number;
}

/** Run failures above this ratio (with at least {@link RUN_FAILURES_MIN} failures) make a run a warning. */
export const RUN_FAILURES_RATIO = 0.1;
/** Minimum failed items for {@link runHasFailures}. */
export const RUN_FAILURES_MIN = 5;

/** The failures of a run's counts (see {@link RunFailures}). */
export function runFailures(counts: Record<string, number>): RunFailures {
  const n = (k: string) => Number(counts[k] ?? 0);
  const failed = n('send_failed') + n('assessment_failed');
  const attempted = failed + n('emailed') + n('assessed');
  return { failed, attempted, ratio: attempted > 0 ? failed / attempted : 0 };
}

/** True when a run's item failures are above the threshold ({@link RUN_FAILURES_RATIO}, {@link RUN_FAILURES_MIN}). */
export function runHasFailures(counts: Record<string, number>): boolean {
  const f = runFailures(counts);
  return f.failed >= RUN_FAILURES_MIN && f.ratio > RUN_FAILURES_RATIO;
}

/** The most recent finished (not running) daily-pipeline run at or before `now`, or undefined. */
export async function lastFinishedPipelineRun(em: EntityManager, now: Date): Promise<FinishedRun | undefined> {
  const [r] = await em.execute<{ id: number; status: string; trigger: string | null; started_at: Date; finished_at: Date; counts: Record<string, number> | null; error: string | null }[]>(
    `select id, status, trigger, started_at, finished_at, counts, error from job_runs
      where job = 'daily-pipeline' and status <> 'running' and finished_at is not null and finished_at <= ?
      order by finished_at desc, id desc limit 1`,
    [now],
  );
  if (!r) return undefined;
  return { id: r.id, status: r.status, trigger: r.trigger, startedAt: new Date(r.started_at), finishedAt: new Date(r.finished_at), counts: r.counts ?? {}, error: r.error };
}

/** True when a finished run's status is a failure (`failed`, `stalled`). `interrupted` (a shutdown) is not. */
export function isFailedRun(run: Pick<FinishedRun, 'status'>): boolean {
  return run.status === 'failed' || run.status === 'stalled';
}

/** End of the last `succeeded` daily-pipeline run and the wall time of the last finished one. */
export interface PipelineRunTimes {
  /** `finished_at` of the last `succeeded` daily-pipeline run; undefined = never. */
  lastSuccessAt: Date | undefined;
  /** `finished_at - started_at` of the last finished daily-pipeline run (any status), seconds; undefined = none. */
  lastDurationSeconds: number | undefined;
}

/** Reads {@link PipelineRunTimes} (one statement). */
export async function pipelineRunTimes(em: EntityManager): Promise<PipelineRunTimes> {
  const [row] = await em.execute<{ success: Date | null; duration: number | null }[]>(
    `select
       (select max(finished_at) from job_runs where job = 'daily-pipeline' and status = 'succeeded') as success,
       (select extract(epoch from finished_at - started_at)::float8 from job_runs
         where job = 'daily-pipeline' and finished_at is not null order by finished_at desc limit 1) as duration`,
  );
  return { lastSuccessAt: row?.success ? new Date(row.success) : undefined, lastDurationSeconds: row?.duration == null ? undefined : Number(row.duration) };
}

/** The latest heartbeat of each job that has a `running` run (jobs without one are absent). */
export async function runningHeartbeats(em: EntityManager): Promise<{ job: string; heartbeatAt: Date }[]> {
  const rows = await em
    .execute<{ job: string; heartbeat_at: Date }[]>(`select job, max(heartbeat_at) as heartbeat_at from job_runs where status = 'running' group by job`);
  return rows.map((r) => ({ job: r.job, heartbeatAt: new Date(r.heartbeat_at) }));
}

/** Heartbeat of the newest run of `job` (by `started_at`, then id), whatever its status; undefined when it never ran. */
export async function latestRunHeartbeat(em: EntityManager, job: string): Promise<Date | undefined> {
  const [row] = await em
    .execute<{ id: number; heartbeat_at: Date | string }[]>('select id, heartbeat_at from job_runs where job = ? order by started_at desc, id desc limit 1', [job]);
  return row ? new Date(row.heartbeat_at) : undefined;
}

/** Marks the given `running` runs `interrupted` with `reason` (process stopping; lease left as is), on the connection; returns how many changed. */
export async function markRunsInterrupted(em: EntityManager, runIds: readonly number[], now: Date, reason: string): Promise<number> {
  if (runIds.length === 0) return 0;
  const rows = await em
    .getConnection()
    .execute<{ id: number }[]>(`update job_runs set status = 'interrupted', finished_at = ?, error = ? where status = 'running' and id in (${runIds.map(() => '?').join(',')}) returning id`, [
      now,
      reason,
      ...runIds,
    ]);
  return rows.length;
}

/**
 * Marks `running` runs with `heartbeat_at <= staleBefore` `interrupted` ("process stopped while the job ran": their
 * process died), on the connection; returns how many. With the embedded database the caller holds the folder lock,
 * so every running run is stale (pass `now`).
 */
export async function interruptStaleRuns(em: EntityManager, staleBefore: Date, now: Date): Promise<number> {
  const rows = await em.getConnection().execute<{ id: number }[]>(
    `update job_runs set status = 'interrupted', finished_at = ?, error = 'process stopped while the job ran'
     where status = 'running' and heartbeat_at <= ? returning id`,
    [now, staleBefore],
  );
  return rows.length;
}

/**
 * Inserts a `running` run of `job` (heartbeat `now`, counts `{}`, lease for `holder` until `leaseUntil`) on the
 * connection; returns its id. @throws UniqueConstraintViolationException when the job already has a running run
 * (index `job_runs_one_running_per_job`), other driver errors.
 */
export async function insertRunningRun(em: EntityManager, job: string, trigger: string, now: Date, holder: string, leaseUntil: Date): Promise<number | undefined> {
  const rows = await em
    .getConnection()
    .execute<{ id: number }[]>(
      `insert into job_runs (job, status, trigger, started_at, heartbeat_at, counts, lease_holder, lease_expires_at) values (?, 'running', ?, ?, ?, '{}', ?, ?) returning id`,
      [job, trigger, now, now, holder, leaseUntil],
    );
  return rows[0]?.id;
}

/** One run of a job as `/lf status` lists it; `counts` as the driver returns jsonb (an object, or text). */
export interface RecentRunRow {
  id: number;
  status: JobRunStatus;
  trigger: string;
  startedAt: Date;
  finishedAt: Date | null;
  counts: Record<string, unknown> | string | null;
  error: string | null;
}

/**
 * The last `limit` runs of `job` (those started at or after `since` when given), newest `started_at` (then id) first.
 * Works on any {@link SqlRunner}.
 */
export async function recentRuns(db: SqlRunner, job: string, limit: number, since?: Date): Promise<RecentRunRow[]> {
  const rows = await rowsOf<{
    id: number;
    status: JobRunStatus;
    trigger: string;
    started_at: Date | string;
    finished_at: Date | string | null;
    counts: Record<string, unknown> | string | null;
    error: string | null;
  }>(
    db,
    `select id, status, trigger, started_at, finished_at, counts, error from job_runs where job = ?${since ? ' and started_at >= ?' : ''}
      order by started_at desc, id desc limit ?`,
    since ? [job, since, limit] : [job, limit],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    status: r.status,
    trigger: r.trigger,
    startedAt: new Date(r.started_at),
    finishedAt: r.finished_at === null ? null : new Date(r.finished_at),
    counts: r.counts,
    error: r.error,
  }));
}

/** The newest run of a job (by `started_at`, then id), whatever its status. Dates are instants. */
export interface LastJobRun {
  job: string;
  id: number;
  status: string;
  trigger: string | null;
  startedAt: Date;
  finishedAt: Date | null;
}

/** The newest `job_runs` row of every job that ever ran, keyed by job name. */
export async function lastRunPerJob(em: EntityManager): Promise<Map<string, LastJobRun>> {
  const rows = await em.execute<{ job: string; id: number; status: string; trigger: string | null; started_at: Date; finished_at: Date | null }[]>(
    `select distinct on (job) job, id, status, trigger, started_at, finished_at from job_runs
      order by job, started_at desc, id desc`,
  );
  return new Map(
    rows.map((r) => [r.job, { job: r.job, id: r.id, status: r.status, trigger: r.trigger, startedAt: new Date(r.started_at), finishedAt: r.finished_at ? new Date(r.finished_at) : null }]),
  );
}

/** Start of the first run of `job` started at or after `since` (any status); undefined when none. */
export async function firstRunStartedSince(em: EntityManager, job: string, since: Date): Promise<Date | undefined> {
  const [row] = await em.execute<{ started_at: Date }[]>(`select started_at from job_runs where job = ? and started_at >= ? order by started_at limit 1`, [job, since]);
  return row ? new Date(row.started_at) : undefined;
}

/** Runs of `job` still `running` whose heartbeat is older than `before` (stuck runs), newest id first: id and heartbeat. */
export async function staleRunningRuns(em: EntityManager, job: string, before: Date): Promise<{ id: number; heartbeatAt: Date }[]> {
  const rows = await em.execute<{ id: number; heartbeat_at: Date }[]>(`select id, heartbeat_at from job_runs where job = ? and status = 'running' and heartbeat_at < ? order by id desc`, [job, before]);
  return rows.map((r) => ({ id: r.id, heartbeatAt: new Date(r.heartbeat_at) }));
}

/** Count of runs per status among the runs started in [`from`, `to`), by status (statuses with none absent). */
export async function runCountsByStatus(em: EntityManager, from: Date, to: Date): Promise<Record<string, number>> {
  const rows = await em.execute<{ status: string; n: number }[]>(
    `select status, count(*)::int as n from job_runs where started_at >= ? and started_at < ? group by status order by 1`,
    [from, to],
  );
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n ?? 0)]));
}
