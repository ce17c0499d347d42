/**
 * Assessment coordinator: claims batches of `assessment_pending` businesses and assesses each website with
 * PageSpeed Insights (mobile) and then an AI insight built from what PageSpeed measured.
 *
 * - Claim: one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING` sets a lease
 *   (`claim_holder` + `claimed_until`, renewed while the stage runs, domain/leases.ts), so two workers never assess
 *   one business; a lease that runs out or whose holder died makes the business claimable again (the reaper).
 * - Per business: URL validation first (an invalid URL fails without any provider call); PageSpeed failing or
 *   timing out → `assessment_failed` with `error_message`; PageSpeed answering 200 with
 *   `lighthouseResult.runtimeError` (Lighthouse could not load the page) → `assessment_failed` with Lighthouse's code in
 *   `error_code` and its message in `error_message` (no scores are stored, no AI insight is asked for); the AI insight failing (provider error, timeout, cut-off,
 *   refused or malformed answer) → a `partial` result that still counts as assessed.
 * - Every business assessed gets one `assessment_results` row, `assessment_attempts + 1`, its lease cleared and
 *   `status_changed_at` set.
 */
import { AssessmentResult, Business } from '../../db/entities/index.js';
import { withDbRetry } from '../db-retry.js';
import { keepLeases, processHolder } from '../leases.js';
import { mapConcurrent, type PipelineDeps, type ProgressFn } from '../pipeline/deps.js';
import { claimAssessmentBatch, retryFailedAssessments } from '../queries/businesses.js';
import { runInsight, runPageSpeed } from './assessors.js';
import type { Insight } from './insight.js';
import { siteDomain, validateWebsiteUrl } from './url.js';

export { validateWebsiteUrl } from './url.js';
export { insightPrompt, parseInsight, InsightSchema, type Insight } from './insight.js';

/** Batches one {@link assessPending} call claims at most (then it returns; the next run continues). */
export const MAX_BATCHES_PER_RUN = 10;

/** Outcome counts of one assessment pass: `assessed` = completed + partial; `failed` = assessment_failed. */
export interface AssessResult {
  assessed: number;
  failed: number;
}

/** A claimed business: the columns the assessors need. */
export interface ClaimedBusiness {
  id: number;
  name: string;
  website: string | null;
}

/**
 * Businesses one claim may take: no more than can be assessed within one lease (`config.stages.leaseMs`) — one
 * business per slot takes at most both assessor timeouts — times `assessmentConcurrency`, at least one per slot, and
 * at most `assessmentBatchSize`. (The lease is renewed while the stage runs, so a slow business is not lost.)
 */
export function maxAssessmentClaim(stages: PipelineDeps['config']['stages']): number {
  const perSlot = Math.max(1, Math.floor(stages.leaseMs / (stages.pagespeedTimeoutMs + stages.openaiTimeoutMs)));
  return Math.max(1, Math.min(stages.assessmentBatchSize, perSlot * stages.assessmentConcurrency));
}

/**
 * Claims up to `limit` pending businesses, lowest id first, skipping rows another worker holds (locked, or
 * leased until after `now`), with a lease of `config.stages.leaseMs` for `deps.holder` (default this process). One
 * statement; returns the claimed rows.
 */
export async function claimBatch(deps: PipelineDeps, limit: number): Promise<ClaimedBusiness[]> {
  const now = deps.clock.now();
  const until = new Date(now.getTime() + deps.config.stages.leaseMs);
  const rows: ClaimedBusiness[] = await claimAssessmentBatch(deps.em, limit, now, deps.holder ?? processHolder(), until);
  return rows.sort((a, b) => a.id - b.id);
}

/** What one business's assessment produced, before it is stored. */
interface Outcome {
  status: 'completed' | 'partial' | 'failed';
  url: string;
  host: string | undefined;
  permanent: boolean;
  assessors: Record<string, string>;
  errorMessage: string | null;
  /** Lighthouse's `runtimeError.code` when PageSpeed answered without a measurement. */
  errorCode?: string;
  ps?: Awaited<ReturnType<PipelineDeps['providers']['pagespeed']['run']>>;
  insight?: Insight;
}

async function evaluate(deps: PipelineDeps, b: ClaimedBusiness): Promise<Outcome> {
  const checked = validateWebsiteUrl(b.website);
  if (!checked.ok) {
    return {
      status: 'failed',
      url: (b.website ?? '').slice(0, 2048),
      host: undefined,
      permanent: true,
      assessors: { pagespeed: 'skipped: invalid URL', openai: 'skipped: invalid URL' },
      errorMessage: `invalid URL: ${checked.error}`,
    };
  }
  const base = { url: checked.url.slice(0, 2048), host: checked.host, permanent: false };
  const ps = await runPageSpeed(deps, checked.url);
  if (!ps.ok) {
    return {
      ...base,
      status: 'failed',
      assessors: { pagespeed: `failed: ${ps.error}`, openai: 'skipped: no PageSpeed facts' },
      errorMessage: ps.error,
      ...(ps.code ? { errorCode: ps.code } : {}),
    };
  }
  const ai = await runInsight(deps, b.name, ps.value);
  if (!ai.ok) {
    return { ...base, status: 'partial', ps: ps.value, assessors: { pagespeed: 'ok', openai: `failed: ${ai.error}` }, errorMessage: ai.error };
  }
  return { ...base, status: 'completed', ps: ps.value, insight: ai.value, assessors: { pagespeed: 'ok', openai: 'ok' }, errorMessage: null };
}

/**
 * Assesses one claimed business and stores the result (one transaction: the result row and the business
 * update). Returns `assessed` (completed or partial) or `failed`. An invalid URL is a permanent failure: its
 * attempts are raised to `config.stages.assessmentMaxAttempts` so {@link retryFailed} leaves it alone.
 */
export async function assessBusiness(deps: PipelineDeps, claimed: ClaimedBusiness): Promise<'assessed' | 'failed'> {
  const started = Date.now();
  const out = await evaluate(deps, claimed);
  // the result is stored through a database outage (a fresh unit of work per try; the assessors are not re-run)
  return withDbRetry(() => storeOutcome(deps, claimed, out, started), {
    maxWaitMs: deps.config.stages.dbOutageMaxWaitMs,
    logger: deps.logger,
    what: 'assessment result',
  });
}

async function storeOutcome(deps: PipelineDeps, claimed: ClaimedBusiness, out: Outcome, started: number): Promise<'assessed' | 'failed'> {
  const em = deps.em.fork();
  const b = await em.findOne(Business, claimed.id);
  if (!b) return 'failed'; // deleted while being assessed: nothing to store
  const now = deps.clock.now();
  const ps = out.ps;
  em.create(AssessmentResult, {
    business: b,
    status: out.status,
    url: out.url,
    performanceScore: ps?.scores.performance ?? null,
    accessibilityScore: ps?.scores.accessibility ?? null,
    bestPracticesScore: ps?.scores.bestPractices ?? null,
    seoScore: ps?.scores.seo ?? null,
    metrics: ps ? { ...ps.metrics } : {},
    opportunities: ps ? ps.opportunities.map((o) => ({ id: o.id, title: o.title, savingsMs: o.savingsMs })) : [],
    insight: out.insight ? JSON.stringify(out.insight) : null,
    recommendations: out.insight ? out.insight.recommendations : [],
    assessors: out.assessors,
    durationMs: Date.now() - started,
    errorMessage: out.errorMessage,
    errorCode: out.errorCode ?? null,
    createdAt: now,
  });
  const attempts = b.assessmentAttempts + 1;
  b.assessmentAttempts = out.permanent ? Math.max(attempts, deps.config.stages.assessmentMaxAttempts) : attempts;
  b.status = out.status === 'failed' ? 'assessment_failed' : 'assessed';
  b.statusChangedAt = now;
  b.claimedUntil = null;
  b.claimHolder = null;
  if (!b.websiteDomain && out.host) b.websiteDomain = siteDomain(out.host);
  await em.flush();
  if (out.status === 'failed') deps.logger.warn({ businessId: b.id, code: out.errorCode, error: out.errorMessage }, 'assessment failed');
  return out.status === 'failed' ? 'failed' : 'assessed';
}

/**
 * Assesses pending businesses: claims batches of `config.stages.assessmentBatchSize` (at most
 * {@link MAX_BATCHES_PER_RUN}) and assesses `config.stages.assessmentConcurrency` businesses at a time, until none
 * is left to claim. Safe to run in several workers at once. Reports `assessed` / `assessment_failed` progress
 * per business.
 */
export async function assessPending(deps: PipelineDeps, progress: ProgressFn = () => {}): Promise<AssessResult> {
  const out: AssessResult = { assessed: 0, failed: 0 };
  const { assessmentConcurrency, leaseMs, dbOutageMaxWaitMs } = deps.config.stages;
  const holder = deps.holder ?? processHolder();
  const keeper = keepLeases({ em: () => deps.em.fork(), holder, leaseMs, now: () => deps.clock.now(), logger: deps.logger });
  try {
    for (let batch = 0; batch < MAX_BATCHES_PER_RUN; batch++) {
      const claimed = await withDbRetry(() => claimBatch({ ...deps, em: deps.em.fork(), holder }, maxAssessmentClaim(deps.config.stages)), {
        maxWaitMs: dbOutageMaxWaitMs,
        logger: deps.logger,
        what: 'assessment claim',
      });
      if (claimed.length === 0) break;
      await mapConcurrent(claimed, assessmentConcurrency, async (b) => {
        const r = await assessBusiness(deps, b);
        if (r === 'assessed') out.assessed++;
        else out.failed++;
        progress(r === 'assessed' ? 'assessed' : 'assessment_failed', 1);
      });
    }
  } finally {
    keeper.stop();
  }
  return out;
}

/**
 * Moves `assessment_failed` businesses with `assessment_attempts < maxAttempts` (default
 * `config.stages.assessmentMaxAttempts`) back to `assessment_pending` (lease cleared, `status_changed_at` set), in
 * one statement. `olderThanMs` retries only failures at least that old (`status_changed_at`), so frequent callers
 * (the 15-minute assessment batch) space the tries out. Returns how many moved.
 */
export async function retryFailed(deps: PipelineDeps, opts: { maxAttempts?: number; olderThanMs?: number } = {}): Promise<number> {
  const max = opts.maxAttempts ?? deps.config.stages.assessmentMaxAttempts;
  const now = deps.clock.now();
  const before = new Date(now.getTime() - (opts.olderThanMs ?? 0));
  return retryFailedAssessments(deps.em, max, before, now);
}
