/** Job-run bookkeeping shared by the scheduler and start-up: runs cut short are marked `interrupted`. */
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { processHolder } from './leases.js';
import { finishRun, insertRunningRun, interruptRunsById, interruptRunsStaleSince } from './queries/runs.js';

/** Marks the given `running` runs as `interrupted` (process stopping); returns how many changed. */
export async function markRunsInterrupted(em: EntityManager, runIds: number[], now: Date, reason: string): Promise<number> {
  return (await interruptRunsById(em, runIds, now, reason)).length;
}

/**
 * Marks `running` runs whose heartbeat is older than `staleBefore` as `interrupted`: their process died.
 * With the embedded database the caller holds the folder lock, so every running run is stale (pass `now`).
 */
export async function interruptStaleRuns(em: EntityManager, staleBefore: Date, now: Date): Promise<number> {
  return interruptRunsStaleSince(em, staleBefore, now);
}

/**
 * Opens a tracked run: a `job_runs` row `running` with its heartbeat at `now` and a lease of `leaseMs` held by this
 * process (domain/leases.ts; the opener renews it); returns its id, or undefined when
 * the one-running-run-per-job index refuses it (a run of the job is already marked running).
 * @throws other database errors.
 */
export async function openJobRun(em: EntityManager, job: string, trigger: string, now: Date, leaseMs = 120_000): Promise<number | undefined> {
  try {
    return await insertRunningRun(em, job, trigger, now, processHolder(), new Date(now.getTime() + leaseMs));
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
  const counts: Record<string, number> = {};
  for (const [k, v] of Object.entries(r)) if (typeof v === 'number') counts[k] = v;
  const error = outcome.error ? outcome.error.split('\n')[0]!.slice(0, 2000) : failed ? String(r.error ?? 'failed').slice(0, 2000) : null;
  await finishRun(em, id, { status: failed ? 'failed' : 'succeeded', counts, error }, now);
}
