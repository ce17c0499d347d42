/** Job-run bookkeeping of the scheduler and `lf run`: a tracked run is opened and closed here (runs cut short: domain/queries/runs.ts). */
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { processHolder } from './leases.js';
import { finishRun, insertRunningRun } from './queries/runs.js';

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
