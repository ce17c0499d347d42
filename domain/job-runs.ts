/** Job-run bookkeeping shared by the scheduler and start-up: runs cut short are marked `interrupted`. */
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { processHolder } from './leases.js';

/** Marks the given `running` runs as `interrupted` (process stopping); returns how many changed. */
export async function markRunsInterrupted(em: EntityManager, runIds: number[], now: Date, reason: string): Promise<number> {
  if (runIds.length === 0) return 0;
  const rows = await em.getConnection().execute<{ id: number }[]>(
    `update job_runs set status = 'interrupted', finished_at = ?, error = ? where status = 'running' and id in (${runIds
      .map(() => '?')
      .join(',')}) returning id`,
    [now, reason, ...runIds],
  );
  return rows.length;
}

/**
 * Marks `running` runs whose heartbeat is older than `staleBefore` as `interrupted`: their process died.
 * With the embedded database the caller holds the folder lock, so every running run is stale (pass `now`).
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
 * Opens a tracked run: a `job_runs` row `running` with its heartbeat at `now` and a lease of `leaseMs` held by this
 * process (domain/leases.ts; the opener renews it); returns its id, or undefined when
 * the one-running-run-per-job index refuses it (a run of the job is already marked running).
 * @throws other database errors.
 */
export async function openJobRun(em: EntityManager, job: string, trigger: string, now: Date, leaseMs = 120_000): Promise<number | undefined> {
  try {
    const rows = await em
      .getConnection()
      .execute<{ id: number }[]>(
        `insert into job_runs (job, status, trigger, started_at, heartbeat_at, counts, lease_holder, lease_expires_at) values (?, 'running', ?, ?, ?, '{}', ?, ?) returning id`,
        [job, trigger, now, now, processHolder(), new Date(now.getTime() + leaseMs)],
      );
    return rows[0]?.id;
  } catch (err) {
    if (err instanceof UniqueConstraintViolationException) return undefined;
    throw err;
  }
}

/**
 * Closes a run opened by {@link openJobRun} with a job's outcome: `failed` when it threw (`error`) or returned
 * `{ status: 'failed' }`, else `succeeded`; the result's numeric fields become the run's `counts` (a skipped batch's
 * `skipped: 1` included). Only a row still `running` is changed.
 */
export async function closeJobRun(em: EntityManager, id: number, outcome: { result?: unknown; error?: string }, now: Date): Promise<void> {
  const r = (outcome.result ?? {}) as Record<string, unknown>;
  const failed = outcome.error !== undefined || r.status === 'failed';
  const counts = Object.fromEntries(Object.entries(r).filter(([, v]) => typeof v === 'number'));
  const error = outcome.error ? outcome.error.split('\n')[0]!.slice(0, 2000) : failed ? String(r.error ?? 'failed').slice(0, 2000) : null;
  await em
    .getConnection()
    .execute(`update job_runs set status = ?, finished_at = ?, heartbeat_at = ?, counts = ?::jsonb, error = ?, lease_expires_at = null where id = ? and status = 'running'`, [
      failed ? 'failed' : 'succeeded',
      now,
      now,
      JSON.stringify(counts),
      error,
      id,
    ]);
}
