/** Job-run bookkeeping shared by the scheduler and start-up: runs cut short are marked `interrupted`. */
import type { EntityManager } from '@mikro-orm/postgresql';

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
