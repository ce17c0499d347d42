/**
 * Runbook "Assessment failures" (troubleshooting guide playbook 3: businesses stuck in assessment, PageSpeed errors,
 * no AI insights).
 *
 * Diagnostics (read-only): the assessment coordinator's backlog (businesses by status, oldest pending, claims),
 * businesses stuck in `assessment_pending`, PageSpeed (live connection check, today's quota and calls, cache TTL
 * in force), OpenAI (live connection check, tokens and cost today), failed assessments with their errors, and
 * invalid website URLs.
 *
 * Remediations: raise the PageSpeed cache TTL (run-time override the gateway reads within seconds), repair or
 * retire invalid websites, re-queue failed assessments, change the assessment batch size, run the pipeline now.
 */
import { z } from 'zod';
import { MAX_BATCHES_PER_RUN } from '../domain/assessment/assess.js';
import { requeueFailedAssessments, scanWebsites, validateWebsites } from '../domain/assessment/remedies.js';
import { effectiveConfig, setOverride } from '../domain/overrides.js';
import { assessmentResultsByStatus, failedAssessmentsByErrorCode, topAssessmentErrors } from '../domain/queries/assessments.js';
import { assessmentPending, businessesByStatus, failedAssessmentBusinesses, stuckAssessmentPending } from '../domain/queries/businesses.js';
import { runningRuns } from '../domain/queries/runs.js';
import { PIPELINE_JOB } from '../domain/pipeline/deps.js';
import { openai, pagespeed, redact, RESULTS_WINDOW_MS } from './assessment-providers.js';
import type { RunbookContext } from './context.js';
import { defineRunbook, evidenceOf, type Finding } from './define.js';

/** Setting key of the PageSpeed cache TTL override (seconds). */
export const PAGESPEED_TTL_OVERRIDE = 'gateway.cache_ttl_seconds.pagespeed';
/** Setting key of the assessment batch size override. */
export const ASSESSMENT_BATCH_OVERRIDE = 'pipeline.assessment_batch_size';
/** The guide's advice for a PageSpeed quota problem: cache results for 24 h. */
export const RECOMMENDED_PAGESPEED_TTL_SECONDS = 86_400;
/** Longest TTL the override accepts (30 days). */
const MAX_TTL_SECONDS = 30 * 86_400;
/** Window (ms) of recent assessment results the diagnostics look at (defined in runbooks/assessment-providers.ts). */
export { RESULTS_WINDOW_MS };
/** Share of failed results in the window at which failures are a problem rather than a warning. */
export const FAILED_SHARE_PROBLEM = 0.5;

const minutes = (ms: number) => Math.round(ms / 60_000);
const iso = (d: Date | string | null | undefined) => (d ? new Date(d).toISOString() : null);

/** coordinator: businesses by status, the pending backlog against what one run can take, and claims. */
async function coordinator(ctx: RunbookContext): Promise<Finding> {
  const em = ctx.em();
  const now = ctx.services.clock.now();
  const [byStatus, pending, running, cfg] = await Promise.all([
    businessesByStatus(em),
    assessmentPending(em, now),
    runningRuns(em, PIPELINE_JOB),
    effectiveConfig(em, ctx.services.config),
  ]);
  const { assessmentBatchSize: batchSize, assessmentConcurrency: concurrency, stuckAfterMs } = cfg.stages;
  const capacityPerRun = batchSize * MAX_BATCHES_PER_RUN;
  const n = pending.pending;
  const oldestAgeMs = pending.oldestAt ? now.getTime() - pending.oldestAt.getTime() : 0;
  const backlog = n > capacityPerRun;
  const evidence = {
    businessesByStatus: byStatus,
    pending: n,
    oldestPendingAt: iso(pending.oldestAt),
    oldestPendingMinutes: n > 0 ? minutes(oldestAgeMs) : null,
    claimed: pending.claimed,
    expiredClaims: pending.expiredClaims,
    batchSize,
    concurrency,
    capacityPerRun,
    pipelineRunning: running.length > 0,
    backlog,
  };
  const head = `${n} business(es) waiting for assessment (${evidence.claimed} claimed), one run assesses up to ${capacityPerRun} (${MAX_BATCHES_PER_RUN} batches of ${batchSize})`;
  if (backlog) return { status: 'problem', summary: `${head}: a backlog that one run cannot clear.`, evidence };
  if (n > 0 && oldestAgeMs > stuckAfterMs)
    return { status: 'warn', summary: `${head}; the oldest has waited ${minutes(oldestAgeMs)} min.`, evidence };
  return { status: 'ok', summary: `${head}.`, evidence };
}

/** stuck-pending: `assessment_pending` longer than STUCK_AFTER_MINUTES and not under a live claim. */
async function stuckPending(ctx: RunbookContext): Promise<Finding> {
  const em = ctx.em();
  const now = ctx.services.clock.now();
  const stuckAfterMs = ctx.services.config.stages.stuckAfterMs;
  const row = await stuckAssessmentPending(em, new Date(now.getTime() - stuckAfterMs), now);
  const n = row.count;
  const evidence = {
    stuck: n,
    thresholdMinutes: minutes(stuckAfterMs),
    oldestAt: iso(row.oldestAt),
    oldestMinutes: row.oldestAt ? minutes(now.getTime() - row.oldestAt.getTime()) : null,
    sampleIds: row.sampleIds,
  };
  if (n === 0) return { status: 'ok', summary: `No business has waited in assessment_pending over ${evidence.thresholdMinutes} min.`, evidence };
  return {
    status: 'problem',
    summary: `${n} business(es) stuck in assessment_pending over ${evidence.thresholdMinutes} min (oldest ${evidence.oldestMinutes} min), none claimed by a worker.`,
    evidence,
  };
}

/**
 * failed-results: businesses in assessment_failed (attempts left or not), the commonest errors in 24 h and the failures
 * by Lighthouse runtime error code (`lighthouseErrors24h`).
 */
async function failedResults(ctx: RunbookContext): Promise<Finding> {
  const em = ctx.em();
  const now = ctx.services.clock.now();
  const max = ctx.services.config.stages.assessmentMaxAttempts;
  const since = new Date(now.getTime() - RESULTS_WINDOW_MS);
  const [failed, by, errors, codes] = await Promise.all([
    failedAssessmentBusinesses(em, max),
    assessmentResultsByStatus(em, since),
    topAssessmentErrors(em, since, 5),
    failedAssessmentsByErrorCode(em.fork(), since),
  ]);
  const total = Object.values(by).reduce((sum, k) => sum + k, 0);
  const failed24h = by.failed ?? 0;
  const n = failed.failed;
  const evidence = {
    failedBusinesses: n,
    retryable: failed.retryable,
    attemptsExhausted: n - (failed.retryable),
    maxAttempts: max,
    results24h: { completed: by.completed ?? 0, partial: by.partial ?? 0, failed: failed24h },
    topErrors: errors.map((e) => ({ error: redact(e.error), count: e.count })),
    /** Failed in 24 h by Lighthouse `runtimeError.code` (PageSpeed answered 200 but could not load the page). */
    lighthouseErrors24h: codes.byCode,
  };
  const head = `${n} business(es) in assessment_failed (${evidence.retryable} with attempts left of ${max}); ${failed24h} of ${total} assessments failed in 24 h`;
  const lh = Object.entries(codes.byCode).map(([c, k]) => `${c} ×${k}`).join(', ');
  const top = (evidence.topErrors[0] ? `; commonest error: ${evidence.topErrors[0].error}` : '') + (lh ? `; Lighthouse could not load the page: ${lh}` : '');
  if (total >= 3 && failed24h / total >= FAILED_SHARE_PROBLEM) return { status: 'problem', summary: `${head}${top}.`, evidence };
  if (n > 0 || failed24h > 0) return { status: 'warn', summary: `${head}${top}.`, evidence };
  return { status: 'ok', summary: `${head}.`, evidence };
}

/** invalid-websites: websites assessment would refuse among businesses still to assess (or failed). */
async function invalidWebsites(ctx: RunbookContext): Promise<Finding> {
  const scan = await scanWebsites(ctx.em(), ctx.services.clock.now());
  const refused = scan.problems.filter((p) => p.kind !== 'unnormalised');
  const evidence = {
    checked: scan.checked,
    invalid: scan.invalid,
    repairable: scan.repairable,
    unnormalised: scan.unnormalised,
    examples: refused.slice(0, 5).map((p) => ({ id: p.id, status: p.status, website: p.website.slice(0, 80), error: p.error.slice(0, 100), repair: p.repair ?? null })),
  };
  if (scan.checked === 0) return { status: 'no_data', summary: 'No business with a website waits for assessment.', evidence };
  if (refused.length > 0)
    return {
      status: 'problem',
      summary: `${refused.length} of ${scan.checked} website(s) waiting for assessment are not valid public URLs (${scan.repairable} repairable, ${scan.invalid} not).`,
      evidence,
    };
  return {
    status: 'ok',
    summary: `All ${scan.checked} website(s) waiting for assessment are valid${scan.unnormalised ? ` (${scan.unnormalised} not in normalised form)` : ''}.`,
    evidence,
  };
}

/** The runbook. */
export const runbook = defineRunbook<RunbookContext>({
  id: 'assessment-failures',
  title: 'Assessment failures',
  symptoms: [
    'assessment failures',
    'assessments failing',
    'businesses stuck in assessment',
    'stuck in assessment_pending',
    'assessment backlog',
    'pagespeed errors',
    'pagespeed quota',
    'pagespeed down',
    'no ai insights',
    'openai errors',
    'openai rate limit',
    'invalid websites',
    'bad urls',
    'website urls invalid',
  ],
  diagnostics: [
    { id: 'coordinator', title: 'Assessment coordinator and backlog', run: coordinator },
    { id: 'stuck-pending', title: 'Businesses stuck in assessment_pending', run: stuckPending },
    // a real PageSpeed run takes 10–30 s
    { id: 'pagespeed', title: 'PageSpeed connection and quota', timeoutMs: 40_000, run: pagespeed },
    { id: 'openai', title: 'OpenAI connection and token use', timeoutMs: 15_000, run: openai },
    { id: 'failed-results', title: 'Failed assessments', run: failedResults },
    { id: 'invalid-websites', title: 'Invalid website URLs', run: invalidWebsites },
  ],
  rootCauses: [
    {
      id: 'pagespeed-unavailable',
      title: 'PageSpeed Insights is unavailable',
      indicatedBy: (f) => evidenceOf(f, 'pagespeed').unavailable === true,
      remediations: ['retry-failed'],
    },
    {
      id: 'pagespeed-quota-exhausted',
      title: 'PageSpeed Insights quota exhausted',
      indicatedBy: (f) => evidenceOf(f, 'pagespeed').quotaExhausted === true,
      remediations: ['set-pagespeed-cache-ttl', 'lower-assessment-batch'],
    },
    {
      id: 'openai-unavailable',
      title: 'OpenAI is unavailable or rate limiting (assessments get no AI insight)',
      indicatedBy: (f) => evidenceOf(f, 'openai').unavailable === true,
      remediations: ['lower-assessment-batch'],
    },
    {
      id: 'invalid-websites',
      title: 'Businesses have invalid website URLs',
      indicatedBy: (f) => f['invalid-websites']?.status === 'problem',
      remediations: ['validate-websites'],
    },
    {
      id: 'assessment-backlog',
      title: 'Assessment backlog: businesses wait longer than one run can clear',
      indicatedBy: (f) => evidenceOf(f, 'coordinator').backlog === true || f['stuck-pending']?.status === 'problem',
      remediations: ['run-pipeline-now'],
    },
    {
      id: 'failed-assessments',
      title: 'Assessments failed and wait for a retry',
      indicatedBy: (f) => Number(evidenceOf(f, 'failed-results').failedBusinesses ?? 0) > 0,
      remediations: ['retry-failed'],
    },
  ],
  remediations: [
    {
      id: 'set-pagespeed-cache-ttl',
      title: 'Raise the PageSpeed cache TTL',
      risk: 'write',
      requiredRole: 'operator',
      confirmation: 'Cache PageSpeed results for the given number of seconds (24 h recommended), so re-assessments reuse them instead of spending quota?',
      inputSchema: z.object({ seconds: z.number().int().min(0).max(MAX_TTL_SECONDS) }),
      defaultInput: (f) => {
        const current = Number(evidenceOf(f, 'pagespeed').cacheTtlSeconds ?? 0);
        return { seconds: current < RECOMMENDED_PAGESPEED_TTL_SECONDS ? RECOMMENDED_PAGESPEED_TTL_SECONDS : Math.min(current * 2, MAX_TTL_SECONDS) };
      },
      idempotencyKey: (input) => `pagespeed-ttl:${String(input.seconds)}`,
      recheck: 'pagespeed',
      async run(ctx, input, actor) {
        const seconds = Number(input.seconds);
        const em = ctx.em();
        const before = (await effectiveConfig(em, ctx.services.config)).gateway.cacheTtlSeconds.pagespeed;
        await setOverride(em, PAGESPEED_TTL_OVERRIDE, seconds, actor, ctx.services.clock.now());
        // this process at once; other processes' gateways within their override refresh (seconds)
        await ctx.services.gateway.overrides.refresh();
        ctx.services.logger.info({ seconds, before, actor }, 'pagespeed cache ttl set');
        return { summary: `PageSpeed cache TTL set to ${seconds} s (was ${before} s); new results are cached that long.` };
      },
    },
    {
      id: 'validate-websites',
      title: 'Repair or retire invalid websites',
      risk: 'write',
      requiredRole: 'operator',
      confirmation:
        'Rewrite repairable website URLs in normalised form (re-queueing those that failed on their URL), and clear the rest, marking those businesses skipped (never assessed or emailed)?',
      idempotencyKey: () => 'validate-websites',
      recheck: 'invalid-websites',
      async run(ctx, _input, actor) {
        const r = await validateWebsites(ctx.em(), ctx.services.clock.now());
        ctx.services.logger.info({ actor, ...r, retiredIds: r.retiredIds.slice(0, 50) }, 'websites validated');
        return {
          summary: `Checked ${r.checked} website(s): ${r.fixed} repaired (${r.requeued} re-queued for assessment), ${r.retired} cleared and skipped.`,
        };
      },
    },
    {
      id: 'retry-failed',
      title: 'Retry failed assessments',
      risk: 'write',
      requiredRole: 'operator',
      confirmation: 'Put every assessment_failed business back to assessment_pending with its attempts reset to 0? The next run assesses them again.',
      idempotencyKey: () => 'retry-failed',
      recheck: 'failed-results',
      async run(ctx, _input, actor) {
        const n = await requeueFailedAssessments(ctx.em(), ctx.services.clock.now());
        ctx.services.logger.info({ actor, requeued: n }, 'failed assessments re-queued');
        return { summary: `${n} failed assessment(s) re-queued with attempts reset; the next pipeline run assesses them.` };
      },
    },
    {
      id: 'lower-assessment-batch',
      title: 'Lower the assessment batch size',
      risk: 'write',
      requiredRole: 'operator',
      confirmation: 'Set the number of businesses claimed per assessment batch to the new value from the next pipeline run on?',
      inputSchema: z.object({ value: z.number().int().min(1).max(1000) }),
      defaultInput: (f) => {
        const current = evidenceOf(f, 'coordinator').batchSize;
        return typeof current === 'number' ? { value: Math.max(1, Math.floor(current / 2)) } : {};
      },
      idempotencyKey: (input) => `assessment-batch:${String(input.value)}`,
      recheck: 'coordinator',
      async run(ctx, input, actor) {
        const value = Number(input.value);
        const em = ctx.em();
        const before = (await effectiveConfig(em, ctx.services.config)).stages.assessmentBatchSize;
        await setOverride(em, ASSESSMENT_BATCH_OVERRIDE, value, actor, ctx.services.clock.now());
        ctx.services.logger.info({ value, before, actor }, 'assessment batch size set');
        return { summary: `Assessment batch size set to ${value} (was ${before}); it applies from the next pipeline run.` };
      },
    },
    {
      id: 'run-pipeline-now',
      title: 'Run the daily pipeline now',
      risk: 'write',
      requiredRole: 'operator',
      confirmation: 'Start a daily pipeline run now (it assesses waiting businesses, then scores and emails them), unless one is running?',
      idempotencyKey: () => 'run-pipeline-now',
      recheck: 'coordinator',
      async run(ctx, _input, actor) {
        const r = await ctx.jobs.runNow(PIPELINE_JOB, actor);
        ctx.services.logger.info({ actor, started: r.started }, 'pipeline run requested');
        return { summary: r.started ? `Pipeline started: ${r.detail}.` : `Not started: ${r.detail}.` };
      },
    },
  ],
});
