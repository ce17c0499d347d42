/**
 * Runbook "Pipeline not processing" (troubleshooting guide playbook 1: 0 processed, the run failed or stalled).
 *
 * Diagnostics (read-only): the last daily-pipeline run (status, age, counts, stall: a `running` run whose
 * heartbeat is older than `STUCK_AFTER_MINUTES`, items stuck in a stage), the targeting quota left today, Yelp rate
 * limiting (429s in the ledger over the last hour, the Retry-After block, breaker, today's quota, the batch size in
 * force), active targets, and the database (`select 1`).
 *
 * Remediations: lower the Yelp batch size, reset today's targeting quotas, reconnect the database pool, run the
 * pipeline now.
 */
import { z } from 'zod';
import { stuckItems } from '../domain/pipeline/stuck.js';
import { pingDatabase } from '../domain/queries/health.js';
import { latestRunHeartbeat } from '../domain/queries/runs.js';
import { targetCounts } from '../domain/queries/targets.js';
import { PIPELINE_JOB, getPipelineStatus } from '../domain/status.js';
import { setYelpBatchSize, yelpBatchSize } from '../domain/targeting/batch-size.js';
import { quotaSummary, resetQuotas } from '../domain/targeting/quota.js';
import type { RunbookContext } from './context.js';
import { defineRunbook, evidenceOf, type Finding } from './define.js';
import { RECENT_429_MINUTES, yelpRateLimit } from './pipeline-yelp.js';

/** Minutes of ledger history in which a Yelp 429 still counts as "rate limited now" (defined in runbooks/pipeline-yelp.ts). */
export { RECENT_429_MINUTES };

/** No run started within this window means the schedule is not firing (daily job plus 2 h of slack). */
export const NOT_SCHEDULED_AFTER_MS = 26 * 3600_000;

/** A `select 1` slower than this (ms) is reported as a warning. */
export const DB_SLOW_MS = 500;

/** How long the database check waits for `select 1` before calling the database unreachable (ms). */
export const DB_PROBE_TIMEOUT_MS = 3000;

const hours = (ms: number) => Math.round((ms / 3600_000) * 10) / 10;
const minutes = (ms: number) => Math.round(ms / 60_000);

/** last-run: the newest daily-pipeline run and the items stuck in a stage. */
async function lastRun(ctx: RunbookContext): Promise<Finding> {
  const em = ctx.em();
  const now = ctx.services.clock.now();
  const stallMs = ctx.services.config.stages.stuckAfterMs;
  const [status, lastBeat, stuck, jobs] = await Promise.all([
    getPipelineStatus(em, { clock: ctx.services.clock }),
    latestRunHeartbeat(em, PIPELINE_JOB),
    stuckItems(em, now, stallMs),
    ctx.jobs.list().catch(() => []),
  ]);
  const job = jobs.find((j) => j.name === PIPELINE_JOB);
  const stuckEvidence = {
    total: stuck.total,
    thresholdMinutes: stuck.thresholdMinutes,
    businesses: stuck.businesses,
    sendingEmails: stuck.sendingEmails.count,
  };
  const schedule = { paused: job?.paused ?? null, nextRunAt: job?.nextRunAt?.toISOString() ?? null };
  const run = status.runs[0];
  if (!run) {
    return {
      status: 'problem',
      summary: `The daily pipeline has never run${job?.paused ? ' (the job is paused)' : ''}; ${stuck.total} item(s) stuck.`,
      evidence: { lastRunId: null, notScheduled: true, stalled: stuck.total > 0, stuck: stuckEvidence, ...schedule },
    };
  }
  const ageMs = now.getTime() - Date.parse(run.startedAt);
  const heartbeat = lastBeat ?? new Date(run.startedAt);
  const heartbeatAgeMs = now.getTime() - heartbeat.getTime();
  const stalledRun = (run.status === 'running' && heartbeatAgeMs > stallMs) || run.status === 'stalled';
  const notScheduled = ageMs > NOT_SCHEDULED_AFTER_MS;
  const processed = ['sourced', 'assessed', 'scored', 'personalized', 'emailed'].reduce((s, k) => s + (run.counts[k] ?? 0), 0);
  const evidence = {
    lastRunId: run.id,
    runStatus: run.status,
    trigger: run.trigger,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    ageHours: hours(ageMs),
    heartbeatAgeMinutes: minutes(heartbeatAgeMs),
    stallThresholdMinutes: minutes(stallMs),
    counts: run.counts,
    processed,
    error: run.error ? run.error.slice(0, 300) : null,
    stalled: stalledRun || stuck.total > 0,
    stalledRun,
    notScheduled,
    stuck: stuckEvidence,
    ...schedule,
  };
  const what = `Last run #${run.id} ${run.status}, started ${hours(ageMs)} h ago`;
  const stuckText = `${stuck.total} item(s) stuck over ${stuck.thresholdMinutes} min`;
  if (stalledRun)
    return {
      status: 'problem',
      summary: `${what}; no heartbeat for ${minutes(heartbeatAgeMs)} min (stalled); ${stuckText}.`,
      evidence,
    };
  if (notScheduled)
    return {
      status: 'problem',
      summary: `${what}: no run in the last ${hours(NOT_SCHEDULED_AFTER_MS)} h${job?.paused ? ' (the job is paused)' : ''}; ${stuckText}.`,
      evidence,
    };
  if (run.status === 'failed')
    return { status: 'problem', summary: `${what}: failed (${(run.error ?? 'no message').slice(0, 120)}); ${stuckText}.`, evidence };
  if (stuck.total > 0) return { status: 'warn', summary: `${what}, ${processed} processed; ${stuckText}.`, evidence };
  if (job?.paused) return { status: 'warn', summary: `${what}, ${processed} processed; the job is paused (no scheduled runs).`, evidence };
  if (run.status === 'interrupted' || (run.status === 'succeeded' && processed === 0))
    return { status: 'warn', summary: `${what}, ${processed} processed.`, evidence };
  return { status: 'ok', summary: `${what}, ${processed} processed; nothing stuck.`, evidence };
}

/** targeting-quota: what the active targets may still source today. */
async function targetingQuota(ctx: RunbookContext): Promise<Finding> {
  const q = await quotaSummary(ctx.em(), ctx.services.clock.now());
  const evidence = {
    activeTargets: q.targets.length,
    totalQuota: q.totalQuota,
    totalUsed: q.totalUsed,
    totalAvailable: q.totalAvailable,
    since: q.since.toISOString(),
    resetAt: q.resetAt.toISOString(),
    targets: q.targets.slice(0, 10).map((t) => ({
      id: t.target.id,
      target: `${t.target.category} in ${t.target.location}`,
      quota: t.quota,
      used: t.usedToday,
      available: t.available,
    })),
  };
  if (q.targets.length === 0) return { status: 'no_data', summary: 'No active targets, so no quota to check.', evidence };
  if (q.totalAvailable === 0)
    return {
      status: 'problem',
      summary:
        q.totalQuota === 0
          ? `All ${q.targets.length} active target(s) have a daily quota of 0.`
          : `Targeting quota used up: ${q.totalUsed} of ${q.totalQuota} sourced today across ${q.targets.length} target(s); resets at ${q.resetAt.toISOString()}.`,
      evidence,
    };
  return {
    status: 'ok',
    summary: `${q.totalAvailable} of ${q.totalQuota} businesses left to source today across ${q.targets.length} active target(s).`,
    evidence,
  };
}

/** active-targets: how many targets the pipeline works through. */
async function activeTargets(ctx: RunbookContext): Promise<Finding> {
  const { active, total } = await targetCounts(ctx.em());
  const evidence = { active, inactive: total - active, total };
  if (active === 0)
    return { status: 'problem', summary: total === 0 ? 'No targets exist: the pipeline has nothing to source.' : `All ${total} target(s) are inactive.`, evidence };
  return { status: 'ok', summary: `${active} active target(s) of ${total}.`, evidence };
}

/** database: `select 1` round trip. A failure is the finding (problem), not a diagnostic error. */
async function database(ctx: RunbookContext): Promise<Finding> {
  const em = ctx.em();
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      pingDatabase(em),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${DB_PROBE_TIMEOUT_MS} ms`)), DB_PROBE_TIMEOUT_MS);
      }),
    ]);
  } catch (err) {
    const latencyMs = Math.round(performance.now() - t0);
    const message = ((err as Error)?.message ?? String(err)).split('\n')[0]!.slice(0, 200);
    return { status: 'problem', summary: `The database did not answer select 1: ${message}.`, evidence: { ok: false, latencyMs, error: message } };
  } finally {
    clearTimeout(timer);
  }
  const latencyMs = Math.round(performance.now() - t0);
  if (latencyMs > DB_SLOW_MS)
    return { status: 'warn', summary: `The database took ${latencyMs} ms to answer select 1 (over ${DB_SLOW_MS} ms).`, evidence: { ok: true, latencyMs } };
  return { status: 'ok', summary: `The database answered select 1 in ${latencyMs} ms.`, evidence: { ok: true, latencyMs } };
}

/** The runbook. */
export const runbook = defineRunbook<RunbookContext>({
  id: 'pipeline-not-processing',
  title: 'Pipeline not processing',
  symptoms: [
    'pipeline not processing',
    'pipeline stuck',
    'pipeline stalled',
    'no leads today',
    'nothing sourced today',
    '0 processed',
    'no new businesses',
    'daily pipeline failed',
    'pipeline did not run',
    'yelp rate limit',
    'yelp 429',
    'targeting quota',
    'no active targets',
    'database connection failed',
  ],
  diagnostics: [
    { id: 'last-run', title: 'Last pipeline run', run: lastRun },
    { id: 'targeting-quota', title: 'Targeting quota', run: targetingQuota },
    { id: 'yelp-rate-limit', title: 'Yelp rate limit', run: yelpRateLimit },
    { id: 'active-targets', title: 'Active targets', run: activeTargets },
    { id: 'database', title: 'Database connection', timeoutMs: DB_PROBE_TIMEOUT_MS + 1000, run: database },
  ],
  rootCauses: [
    {
      id: 'yelp-rate-limit',
      title: 'Yelp API rate limit exceeded',
      indicatedBy: (f) => evidenceOf(f, 'yelp-rate-limit').rateLimited === true,
      remediations: ['lower-yelp-batch-size'],
    },
    {
      id: 'yelp-quota-exhausted',
      title: 'Yelp daily call quota used up (it resets at midnight UTC)',
      indicatedBy: (f) => evidenceOf(f, 'yelp-rate-limit').quotaExhausted === true,
      // A smaller page size spends more calls per business: waiting for the reset is the fix.
      remediations: [],
    },
    {
      id: 'no-targeting-quota',
      title: 'No available targeting quota',
      indicatedBy: (f) => f['targeting-quota']?.status === 'problem',
      remediations: ['reset-quotas'],
    },
    {
      id: 'no-active-targets',
      title: 'No active targets to source from',
      indicatedBy: (f) => f['active-targets']?.status === 'problem',
      remediations: [],
    },
    {
      id: 'database-connection',
      title: 'Database connection failed',
      indicatedBy: (f) => f.database?.status === 'problem' || f.database?.status === 'error',
      remediations: ['reconnect-db-pool'],
    },
    {
      id: 'pipeline-stalled',
      title: 'The pipeline run stalled or items are stuck in a stage',
      indicatedBy: (f) => evidenceOf(f, 'last-run').stalled === true,
      remediations: ['restart-pipeline-worker', 'run-pipeline-now'],
    },
    {
      id: 'pipeline-paused',
      title: 'The daily pipeline job is paused',
      indicatedBy: (f) => evidenceOf(f, 'last-run').paused === true,
      remediations: ['resume-pipeline'],
    },
    {
      id: 'pipeline-not-scheduled',
      title: 'The daily pipeline has not run in the last 26 hours',
      indicatedBy: (f) => evidenceOf(f, 'last-run').notScheduled === true,
      remediations: ['run-pipeline-now'],
    },
  ],
  remediations: [
    {
      id: 'lower-yelp-batch-size',
      title: 'Lower the Yelp batch size',
      risk: 'write',
      requiredRole: 'operator',
      confirmation: 'Set the Yelp batch size (businesses per search call) to the new value from the next pipeline run on?',
      inputSchema: z.object({ value: z.number().int().min(1).max(50) }),
      defaultInput: (f) => {
        const current = evidenceOf(f, 'yelp-rate-limit').batchSize;
        return typeof current === 'number' ? { value: Math.max(1, Math.floor(current / 2)) } : {};
      },
      idempotencyKey: (input) => `yelp-batch:${String(input.value)}`,
      recheck: 'yelp-rate-limit',
      async run(ctx, input, actor) {
        const value = Number(input.value);
        const em = ctx.em();
        const before = await yelpBatchSize(em, ctx.services.config);
        await setYelpBatchSize(em, value, actor, ctx.services.clock.now());
        ctx.services.logger.info({ value, before: before.value, actor }, 'yelp batch size set');
        return { summary: `Yelp batch size set to ${value} (was ${before.value}, ${before.source}); it applies from the next pipeline run.` };
      },
    },
    {
      id: 'reset-quotas',
      title: "Reset today's targeting quotas",
      risk: 'write',
      requiredRole: 'operator',
      confirmation: "Reset every active target's used-today count to 0, so the pipeline may source a full quota again today?",
      idempotencyKey: () => 'reset-quotas',
      recheck: 'targeting-quota',
      async run(ctx, _input, actor) {
        const em = ctx.em();
        const now = ctx.services.clock.now();
        const before = await quotaSummary(em, now);
        await resetQuotas(em, now, actor);
        ctx.services.logger.info({ actor, usedBefore: before.totalUsed }, 'targeting quotas reset');
        return {
          summary: `Targeting quotas reset: ${before.totalUsed} used today before the reset; ${before.totalQuota} available again across ${before.targets.length} target(s).`,
        };
      },
    },
    {
      id: 'reconnect-db-pool',
      title: 'Reconnect the database pool',
      risk: 'write',
      requiredRole: 'operator',
      confirmation: "Close and reopen this process's database connection pool? Queries in flight at that moment fail.",
      idempotencyKey: () => 'reconnect-db-pool',
      recheck: 'database',
      async run(ctx, _input, actor) {
        const t0 = performance.now();
        await ctx.services.orm.reconnect();
        await pingDatabase(ctx.services.orm.em.fork());
        const ms = Math.round(performance.now() - t0);
        ctx.services.logger.info({ actor, ms }, 'database pool reconnected');
        return { summary: `Database pool reconnected; select 1 answered (${ms} ms including the reconnect).` };
      },
    },
    {
      id: 'restart-pipeline-worker',
      title: "Restart the pipeline's worker",
      risk: 'write',
      requiredRole: 'operator',
      confirmation:
        'Cancel the running daily-pipeline worker? Its run is marked interrupted and the next run resumes its work.',
      idempotencyKey: () => 'restart-pipeline-worker',
      recheck: 'last-run',
      async run(ctx, _input, actor) {
        const r = await ctx.jobs.restartWorker(PIPELINE_JOB, actor);
        ctx.services.logger.info({ actor, restarted: r.restarted }, 'pipeline worker restart requested');
        if (!r.restarted)
          throw new Error(`nothing restarted: ${r.detail}. A run left running by a process that died is marked interrupted when the service starts again`);
        return {
          summary: `Worker restarted: ${r.detail}.`,
        };
      },
    },
    {
      id: 'resume-pipeline',
      title: 'Resume the daily pipeline schedule',
      risk: 'write',
      requiredRole: 'operator',
      confirmation: 'Resume the paused daily-pipeline job, so the scheduler runs it again at its next cron time?',
      idempotencyKey: () => 'resume-pipeline',
      recheck: 'last-run',
      async run(ctx, _input, actor) {
        await ctx.jobs.resume(PIPELINE_JOB, actor);
        ctx.services.logger.info({ actor }, 'pipeline schedule resumed');
        return { summary: 'The daily pipeline schedule is resumed.' };
      },
    },
    {
      id: 'run-pipeline-now',
      title: 'Run the daily pipeline now',
      risk: 'write',
      requiredRole: 'operator',
      confirmation: 'Start a daily pipeline run now (sources, assesses, scores and emails up to the quotas), unless one is running?',
      idempotencyKey: () => 'run-pipeline-now',
      recheck: 'last-run',
      async run(ctx, _input, actor) {
        const r = await ctx.jobs.runNow(PIPELINE_JOB, actor);
        ctx.services.logger.info({ actor, started: r.started }, 'pipeline run requested');
        return { summary: r.started ? `Pipeline started: ${r.detail}.` : `Not started: ${r.detail}.` };
      },
    },
  ],
});
