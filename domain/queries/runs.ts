/** Job-run queries of the lease protocol (domain/leases.ts, domain/pipeline/reaper.ts). */
import type { EntityManager } from '@mikro-orm/postgresql';

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
  const rows = await em.getConnection().execute<{ id: number; job: string; lease_holder: string | null; lease_expires_at: Date | string | null; heartbeat_at: Date | string }[]>(
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
    .getConnection()
    .execute<{ id: number }[]>(`update job_runs set lease_expires_at = ?, heartbeat_at = now() where id = ? and status = 'running' returning id`, [until, runId]);
  return rows.length > 0;
}

/** Sets the holder and lease of a run just opened. */
export async function setRunLease(em: EntityManager, runId: number, holder: string, until: Date): Promise<void> {
  await em.getConnection().execute(`update job_runs set lease_holder = ?, lease_expires_at = ? where id = ?`, [holder, until, runId]);
}

/** Marks a `running` run `interrupted` with `reason`; false when it was no longer running. */
export async function interruptRun(em: EntityManager, runId: number, now: Date, reason: string): Promise<boolean> {
  const rows = await em
    .getConnection()
    .execute<{ id: number }[]>(`update job_runs set status = 'interrupted', finished_at = ?, error = ?, lease_expires_at = null where id = ? and status = 'running' returning id`, [
      now,
      reason.slice(0, 2000),
      runId,
    ]);
  return rows.length > 0;
}

/** Stores a run's counts and heartbeat (a pipeline checkpoint). */
export async function saveRunCheckpoint(em: EntityManager, runId: number, counts: Record<string, number>, now: Date): Promise<void> {
  await em.getConnection().execute(`update job_runs set counts = ?::jsonb, heartbeat_at = ? where id = ?`, [JSON.stringify(counts), now, runId]);
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
  const rows = await em.getConnection().execute<{ id: number }[]>(
    `update job_runs set status = ?, finished_at = ?, heartbeat_at = ?, counts = ?::jsonb, error = ?, lease_expires_at = null
      where id = ? and status = 'running' returning id`,
    [outcome.status, now, now, JSON.stringify(outcome.counts), outcome.error, runId],
  );
  return rows.length > 0;
}
