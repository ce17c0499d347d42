/**
 * The pipeline's batch jobs between daily runs (troubleshooting guide: "assessment and email batches"):
 *
 * - `assessment-batch` (every 15 min): re-queues failed assessments that have tries left (failed at least
 *   {@link RETRY_SPACING_MS} ago), assesses what is `assessment_pending` (work the daily run left: a PageSpeed
 *   outage, a crashed run, `lf fix requeue`), and scores what got assessed.
 * - `email-batch` (every 15 min, offset by 7 min): personalises what is scored and sends pending emails (a
 *   SendGrid outage's leftovers; delivery's own pause, `delivery.paused`, is honoured by `sendPending`).
 *
 * Both skip (status `skipped`, nothing touched) while the daily pipeline is paused — pausing the pipeline during
 * an incident pauses its batches too — or while a daily run is going (the run does the same stages; scoring and
 * personalisation do not claim rows, so they must not run twice at once): the scheduler tells them when it runs the
 * daily run itself (catalog `skipWhileRunning`, `data.busy`), and `job_runs` tells them of one elsewhere (the CLI,
 * another replica). The daily run, in turn, waits for a batch already under way (catalog `waitFor`). Stage
 * functions are the daily run's (domain/), with the stored run-time overrides applied, on the service's pool when
 * in-process.
 */
import { assessPending, retryFailed } from '../domain/assessment/assess.js';
import { sendPending } from '../domain/delivery/send.js';
import { applyOverrides, readOverrides } from '../domain/overrides.js';
import { PIPELINE_JOB, type PipelineDeps, type StageCount } from '../domain/pipeline/deps.js';
import { personalizeScored } from '../domain/personalization/draft.js';
import { scoreAssessed } from '../domain/scoring/score.js';
import { releaseExpiredClaims } from '../domain/pipeline/stuck.js';
import { reapExpiredLeases } from '../domain/pipeline/reaper.js';
import { runningRuns } from '../domain/queries/runs.js';
import { isJobPaused } from './control.js';
import { requireServices } from './job-context.js';
import type { JobContext } from './job-types.js';

/** Catalog entry: assessments left by the daily run. */
export const ASSESSMENT_BATCH_JOB = {
  name: 'assessment-batch',
  file: 'assessment-batch',
  cron: '*/15 * * * *',
  timeoutMs: 14 * 60_000,
  why: 'Assesses and scores what the daily run left pending (provider outages, requeued items) every 15 min (guide: assessment batches).',
} as const;

/** Catalog entry: emails left by the daily run. */
export const EMAIL_BATCH_JOB = {
  name: 'email-batch',
  file: 'email-batch',
  cron: '7-59/15 * * * *',
  timeoutMs: 14 * 60_000,
  why: 'Personalises what is scored and sends pending emails every 15 min (guide: email batches; delivery pause honoured).',
} as const;

/** What a batch run did: `skipped` with the reason (`skipped: 1` lands in the run's counts), or the stage counts. */
export type BatchSummary =
  | { status: 'skipped'; reason: 'pipeline_paused' | 'pipeline_running'; skipped: 1 }
  | ({ status: 'succeeded' } & Partial<Record<StageCount, number>>);

/**
 * Runs `stages` with the pipeline's dependencies (the context's full services) unless the daily pipeline is paused
 * or running.
 * @throws what a stage throws (the scheduler marks the run failed); Error when the context has no full services.
 */
export async function runBatch(ctx: JobContext, stages: (deps: PipelineDeps, count: (stage: StageCount, n: number) => void) => Promise<void>): Promise<BatchSummary> {
  const { data, report, job } = ctx;
  // the scheduler saw the daily run going as it started this one (catalog skipWhileRunning): not a row is touched
  if ((data.busy ?? []).includes(PIPELINE_JOB)) return { status: 'skipped', reason: 'pipeline_running', skipped: 1 };
  const services = requireServices(ctx);
  const em = services.orm.em.fork();
  if (await isJobPaused(em, PIPELINE_JOB)) return { status: 'skipped', reason: 'pipeline_paused', skipped: 1 };
  // a daily run left `running` by a dead holder is reaped first, so it does not hold the batches back for good
  const st = services.config.stages;
  await reapExpiredLeases({ em: () => services.orm.em.fork(), clock: services.clock, logger: services.logger, leaseMs: st.leaseMs, settleMs: st.activitySettleMs, sendgrid: services.providers.sendgrid, job: PIPELINE_JOB });
  if ((await runningRuns(em, PIPELINE_JOB)).length > 0) return { status: 'skipped', reason: 'pipeline_running', skipped: 1 };
  const config = applyOverrides(services.config, await readOverrides(em));
  const deps: PipelineDeps = { em, providers: services.providers, config, logger: services.logger.child({ job }), clock: services.clock };
  const counts: Partial<Record<StageCount, number>> = {};
  await stages(deps, (stage, n) => {
    counts[stage] = (counts[stage] ?? 0) + n;
    report({ kind: 'progress', stage, n });
  });
  return { status: 'succeeded', ...counts };
}

/** A failed assessment is retried by the batch at most once per this many ms (with the attempt cap). */
export const RETRY_SPACING_MS = 60 * 60_000;

/** The assessment batch's stages. */
export async function assessmentStages(deps: PipelineDeps, count: (stage: StageCount, n: number) => void): Promise<void> {
  await releaseExpiredClaims(deps.em, deps.clock.now());
  const retried = await retryFailed(deps, { olderThanMs: RETRY_SPACING_MS });
  if (retried > 0) count('assessment_retried', retried);
  await assessPending(deps, count);
  await scoreAssessed(deps, count);
}

/** The email batch's stages. */
export async function emailStages(deps: PipelineDeps, count: (stage: StageCount, n: number) => void): Promise<void> {
  await personalizeScored(deps, count);
  await sendPending(deps, count);
}
