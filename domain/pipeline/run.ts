/**
 * The daily pipeline run: targeting → sourcing → assessment → scoring → personalization → delivery.
 * Records a job run (`job_runs`, per-stage counts, heartbeat at each stage) and ops events at start, finish
 * and failure. The run holds a lease (domain/leases.ts) renewed every third of `LEASE_SECONDS` with those of the
 * items it claims; a dead run left `running` is reaped (domain/pipeline/reaper.ts) before a new one starts. Its
 * database work waits out an outage (domain/db-retry.ts) instead of failing the run. At most one run of the pipeline is `running` at a time (partial unique index), so a second
 * start while one runs fails with AppError `job_running` instead of overlapping. Run-time overrides
 * (domain/overrides.ts: batch sizes, the Yelp page size, …) are read once at the start of each run and apply to
 * the whole run, so an operator's change takes effect from the next run on.
 */
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { JobRun, type IJobRun } from '../../db/entities/index.js';
import { retryFailed } from '../assessment/assess.js';
import type { Gate } from '../concurrency/gate.js';
import type { ProviderId } from '../config.js';
import { AppError } from '../errors.js';
import { recordOpsEvent } from '../events.js';
import { applyOverrides, readOverrides } from '../overrides.js';
import { activeTargetsWithQuota } from '../targeting/quota.js';
import { withDbRetry } from '../db-retry.js';
import { withLogContext } from '../log-context.js';
import { keepLeases, processHolder, runHolder } from '../leases.js';
import { finishRun, saveRunCheckpoint } from '../queries/runs.js';
import { reapExpiredLeases, type ReaperDeps } from './reaper.js';
import { releaseExpiredClaims, stuckItems } from './stuck.js';
import { adaptiveDeps, runOverlapped } from './overlap.js';
import { PIPELINE_JOB, type PipelineDeps, type ProgressFn, type StageCount } from './deps.js';

export { PIPELINE_JOB } from './deps.js';

/** What a finished run reports. `counts` holds every {@link StageCount} (0 when nothing happened). */
export interface PipelineRunSummary {
  runId: number;
  status: 'succeeded' | 'failed';
  counts: Record<StageCount, number>;
  durationMs: number;
  error?: string;
}

const emptyCounts = (): Record<StageCount, number> => ({
  targets: 0,
  stuck: 0,
  assessment_retried: 0,
  sourced: 0,
  duplicates: 0,
  no_website: 0,
  assessed: 0,
  assessment_failed: 0,
  scored: 0,
  personalized: 0,
  held: 0,
  emailed: 0,
  send_failed: 0,
});

/**
 * Runs the pipeline once with `deps.config` plus the stored run-time overrides (`effectiveConfig`). Never
 * throws for stage failures: the run is marked `failed` with the error and a `pipeline.run_failed` event. Throws
 * AppError `job_running` when another run is in progress.
 */
export async function runPipeline(
  baseDeps: PipelineDeps,
  opts: {
    trigger?: string;
    progress?: ProgressFn;
    onStart?: (runId: number) => void;
    skipReap?: boolean;
    /** The provider concurrency gates to use (default: fresh ones from the config); benches and tests watch them. */
    gates?: Record<ProviderId, Gate>;
  } = {},
): Promise<PipelineRunSummary> {
  const deps = baseDeps;
  const em = deps.em.fork();
  // a run left `running` by a dead holder must not block this one (the scheduler reaps before it starts a run; the
  // CLI and tests call this directly)
  if (!opts.skipReap) await reapExpiredLeases(reaperDeps(deps, PIPELINE_JOB));
  const started = deps.clock.now();
  const { leaseMs } = deps.config.stages;
  const run = em.create(JobRun, {
    job: PIPELINE_JOB,
    status: 'running',
    trigger: opts.trigger ?? 'schedule',
    startedAt: started,
    heartbeatAt: started,
    counts: {},
    leaseHolder: processHolder(),
    leaseExpiresAt: new Date(started.getTime() + leaseMs),
  });
  try {
    await em.flush();
  } catch (err) {
    if (err instanceof UniqueConstraintViolationException)
      throw new AppError('job_running', `${PIPELINE_JOB} is already running`, { cause: err });
    throw err;
  }
  // every line of the run's work (stages, gateway, leases, retries), in whatever module, carries its runId
  return withLogContext({ job: PIPELINE_JOB, runId: run.id }, () => runStarted(deps, run, started, opts));
}

/** The run after its job_runs row exists: stages, checkpoints, finish. Never throws for stage failures. */
async function runStarted(
  baseDeps: PipelineDeps,
  run: IJobRun,
  started: Date,
  opts: { progress?: ProgressFn; onStart?: (runId: number) => void; gates?: Record<ProviderId, Gate> },
): Promise<PipelineRunSummary> {
  let deps = baseDeps;
  const em = deps.em.fork();
  const { leaseMs, dbOutageMaxWaitMs } = deps.config.stages;
  const log = deps.logger.child({ job: PIPELINE_JOB, runId: run.id });
  log.info('pipeline run started');
  // the run's lease and its items' (holder `host:pid:boot#runId`) are renewed every third of the lease
  deps = { ...deps, holder: runHolder(run.id) };
  const keeper = keepLeases({ em: () => deps.em.fork(), holder: deps.holder!, leaseMs, now: () => deps.clock.now(), logger: log, runId: run.id });
  const db = <T>(what: string, fn: () => Promise<T>) => withDbRetry(fn, { maxWaitMs: dbOutageMaxWaitMs, logger: log, what });
  opts.onStart?.(run.id);
  await recordOpsEvent(em, {
    type: 'pipeline.run_started',
    severity: 'info',
    dedupKey: `pipeline.run_started:${run.id}`,
    payload: { runId: run.id, trigger: run.trigger },
  }, started);

  const counts = emptyCounts();
  const progress: ProgressFn = (stage, n) => {
    counts[stage] += n;
    opts.progress?.(stage, n);
  };
  const checkpoint = async (stage: string) => {
    if (keeper.lost()) throw new AppError('lease_lost', `run #${run.id} lost its lease (marked interrupted by the reaper): stopping`);
    await db('run checkpoint', () => saveRunCheckpoint(deps.em.fork(), run.id, { ...counts }, deps.clock.now()));
    log.info({ stage, counts }, 'pipeline stage done');
  };
  try {
    // Overrides in force for this run (a bad stored value is ignored: the configured one applies).
    const overrides = await readOverrides(em);
    if (Object.keys(overrides).length > 0) log.info({ overrides }, 'run-time overrides in force');
    deps = { ...deps, config: applyOverrides(deps.config, overrides) }; // = effectiveConfig(em, config), one read
    // Work left by a crashed or interrupted run: release its claims (this run resumes it) and report what waited
    // past the stuck threshold.
    await releaseExpiredClaims(em, deps.clock.now());
    const stuck = await stuckItems(em, deps.clock.now(), deps.config.stages.stuckAfterMs);
    counts.stuck = stuck.total;
    if (stuck.total > 0) {
      const hour = deps.clock.now().toISOString().slice(0, 13);
      await recordOpsEvent(em, {
        type: 'pipeline.stuck_items',
        severity: 'warning',
        dedupKey: `pipeline.stuck_items:${hour}`,
        payload: { runId: run.id, ...stuck },
      }, deps.clock.now());
    }
    const targets = await activeTargetsWithQuota(em, deps.clock.now());
    counts.targets = targets.length;
    // Failed assessments get another try, up to ASSESSMENT_MAX_ATTEMPTS (invalid URLs never).
    counts.assessment_retried = await retryFailed(deps);
    // Stages overlapped, provider calls through adaptive concurrency gates (overlap.ts).
    await runOverlapped(adaptiveDeps(deps, 'pipeline.assessment_batch_size' in overrides, opts.gates), targets, counts, progress, checkpoint);
    return await db('run finish', () => finish(deps, run, counts, 'succeeded', undefined, log));
  } catch (err) {
    log.error({ err: (err as Error).message }, 'pipeline run failed');
    return await db('run finish', () => finish(deps, run, counts, 'failed', (err as Error).message, log));
  } finally {
    keeper.stop();
  }
}

/** The reaper's dependencies for a run about to start (`job`'s runs only; items of every dead holder). */
function reaperDeps(deps: PipelineDeps, job: string): ReaperDeps {
  return {
    em: () => deps.em.fork(),
    clock: deps.clock,
    logger: deps.logger,
    leaseMs: deps.config.stages.leaseMs,
    settleMs: deps.config.stages.activitySettleMs,
    sendgrid: deps.providers.sendgrid,
    job,
  };
}

/** The run's failure counts above 0 (`send_failed`, `assessment_failed`), e.g. `{ send_failed: 45 }`. */
export function runFailures(counts: Partial<Record<StageCount, number>>): Partial<Record<'send_failed' | 'assessment_failed', number>> {
  const out: Partial<Record<'send_failed' | 'assessment_failed', number>> = {};
  for (const k of ['send_failed', 'assessment_failed'] as const) if ((counts[k] ?? 0) > 0) out[k] = counts[k];
  return out;
}

/** Closes the run (unless the reaper closed it first) and records its ops event. Repeatable (a retry after an outage). */
async function finish(
  deps: PipelineDeps,
  run: IJobRun,
  counts: Record<StageCount, number>,
  status: 'succeeded' | 'failed',
  error: string | undefined,
  log: PipelineDeps['logger'],
): Promise<PipelineRunSummary> {
  const finished = deps.clock.now();
  const em = deps.em.fork();
  if (!(await finishRun(em, run.id, { status, counts: { ...counts }, error: error ?? null }, finished)))
    log.warn({ status }, 'run was closed by someone else (the reaper marked it interrupted): outcome not stored');
  const durationMs = finished.getTime() - run.startedAt.getTime();
  const failures = runFailures(counts);
  await recordOpsEvent(em, {
    type: status === 'succeeded' ? 'pipeline.run_finished' : 'pipeline.run_failed',
    // a run that finished with failures (sends, assessments) is a warning, not an info "succeeded" (issue #14)
    severity: status === 'succeeded' ? (Object.keys(failures).length > 0 ? 'warning' : 'info') : 'critical',
    dedupKey: `pipeline.run_${status === 'succeeded' ? 'finished' : 'failed'}:${run.id}`,
    payload: { runId: run.id, trigger: run.trigger, counts, durationMs, failures, ...(error ? { error } : {}) },
  }, finished);
  log.info({ status, durationMs, counts }, 'pipeline run finished');
  return { runId: run.id, status, counts, durationMs, ...(error ? { error } : {}) };
}
