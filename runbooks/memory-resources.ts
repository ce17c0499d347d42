/**
 * Runbook "Memory and resources" (troubleshooting guide playbook 6: docker stats, restart the app, reduce batch
 * sizes; alert thresholds: RSS > 1e9 warning, memory > 85 %, disk > 85 % used warning, < 10 % free critical).
 *
 * Diagnostics (read-only): this process's memory (RSS, V8 heap), event-loop lag, the host's free memory, free disk
 * under the data folder, the batch sizes in force (configuration plus run-time overrides) and the job workers.
 * Process figures come from `ctx.probes`, so tests can pose as a process under pressure.
 *
 * Remediations: halve the assessment batch size, assessment concurrency and email batch size (run-time overrides,
 * no restart); restart a job's worker (cancel its running worker thread; the next run resumes its work).
 */
import { z } from 'zod';
import { AppError } from '../domain/errors.js';
import { batchSizes, diskUsage, half, lowerBatchSizes } from '../domain/ops/resources.js';
import type { RunbookContext } from './context.js';
import { defineRunbook, evidenceOf, type Finding, type FindingStatus } from './define.js';

const GIB = 1024 ** 3;

/** Process RSS (bytes) from which memory is high: warn (the guide's HighMemoryUsage rule: RSS > 1e9). */
export const RSS_WARN_BYTES = 1 * GIB;
/** Process RSS (bytes) from which memory is a problem (a 2 GiB container is close to its OOM kill). */
export const RSS_PROBLEM_BYTES = 1.5 * GIB;
/** Event-loop delay p99 (ms) from which the loop is slowed: warn (Slack's 3 s ack and webhooks start to suffer). */
export const EVENT_LOOP_WARN_MS = 100;
/** Event-loop delay p99 (ms) from which the loop is blocked: problem. */
export const EVENT_LOOP_PROBLEM_MS = 500;
/** Host memory used share (0–1) from which memory is short: warn (the guide's "memory > 85 %"). */
export const SYSTEM_MEMORY_WARN_RATIO = 0.85;
/** Host memory used share (0–1) from which memory is a problem. */
export const SYSTEM_MEMORY_PROBLEM_RATIO = 0.95;
/** Free disk share (0–1) below which disk is low: warn (the guide's "disk > 85 % used"). */
export const DISK_FREE_WARN_RATIO = 0.15;
/** Free disk share (0–1) below which disk is a problem (the guide's LowDiskSpace: free/total < 0.1, critical). */
export const DISK_FREE_PROBLEM_RATIO = 0.1;
/** Assessment batch size above which it counts as large (default 20; each claimed business is held in memory). */
export const LARGE_ASSESSMENT_BATCH = 50;
/** Assessment concurrency above which it counts as large (default 4; each website assessment holds a page report). */
export const LARGE_ASSESSMENT_CONCURRENCY = 10;
/** Email batch size above which it counts as large (default 50). */
export const LARGE_EMAIL_BATCH = 200;
/** A job run `running` for longer than this (ms) is reported as long-running (the daily pipeline's timeout is 2 h). */
export const LONG_RUNNING_JOB_MS = 2 * 3600_000;

const mib = (b: number) => Math.round(b / 1024 / 1024);
const gib = (b: number) => Math.round((b / GIB) * 100) / 100;
const pct = (r: number) => Math.round(r * 100);
const bad = (f: Finding | undefined) => f?.status === 'warn' || f?.status === 'problem';

/** Status from a value rising past a warn and a problem threshold. */
function rising(v: number, warn: number, problem: number): FindingStatus {
  return v >= problem ? 'problem' : v >= warn ? 'warn' : 'ok';
}

/** The verdict on free disk: below {@link DISK_FREE_PROBLEM_RATIO} problem, below {@link DISK_FREE_WARN_RATIO} warn. */
export function diskVerdict(freeRatio: number): FindingStatus {
  return freeRatio < DISK_FREE_PROBLEM_RATIO ? 'problem' : freeRatio < DISK_FREE_WARN_RATIO ? 'warn' : 'ok';
}

async function processMemory(ctx: RunbookContext): Promise<Finding> {
  const m = ctx.probes.memoryUsage();
  const status = rising(m.rss, RSS_WARN_BYTES, RSS_PROBLEM_BYTES);
  return {
    status,
    summary: `RSS is ${mib(m.rss)} MiB (warn at ${mib(RSS_WARN_BYTES)}, problem at ${mib(RSS_PROBLEM_BYTES)}); V8 heap ${mib(m.heapUsed)} of ${mib(m.heapTotal)} MiB used.`,
    evidence: {
      rssBytes: m.rss,
      heapUsedBytes: m.heapUsed,
      heapTotalBytes: m.heapTotal,
      externalBytes: m.external,
      arrayBuffersBytes: m.arrayBuffers,
      warnBytes: RSS_WARN_BYTES,
      problemBytes: RSS_PROBLEM_BYTES,
    },
  };
}

async function eventLoopLag(ctx: RunbookContext): Promise<Finding> {
  const lag = ctx.probes.eventLoopLagMs();
  const status = rising(lag, EVENT_LOOP_WARN_MS, EVENT_LOOP_PROBLEM_MS);
  return {
    status,
    summary: `Event-loop delay p99 is ${lag} ms (warn at ${EVENT_LOOP_WARN_MS}, problem at ${EVENT_LOOP_PROBLEM_MS}).`,
    evidence: { lagMs: lag, warnMs: EVENT_LOOP_WARN_MS, problemMs: EVENT_LOOP_PROBLEM_MS },
  };
}

async function systemMemory(ctx: RunbookContext): Promise<Finding> {
  const free = ctx.probes.freeMemBytes();
  const total = ctx.probes.totalMemBytes();
  if (!(total > 0)) return { status: 'no_data', summary: 'The host did not report its total memory.' };
  const usedRatio = Math.round((1 - free / total) * 1000) / 1000;
  return {
    status: rising(usedRatio, SYSTEM_MEMORY_WARN_RATIO, SYSTEM_MEMORY_PROBLEM_RATIO),
    summary: `The host has ${gib(free)} GiB free of ${gib(total)} GiB (${pct(usedRatio)}% used; warn at ${pct(SYSTEM_MEMORY_WARN_RATIO)}%).`,
    evidence: { freeBytes: free, totalBytes: total, usedRatio },
  };
}

async function diskFree(ctx: RunbookContext): Promise<Finding> {
  const { url, dataDir } = ctx.services.config.db;
  if (url) {
    return {
      status: 'no_data',
      summary: `DATABASE_URL is set, so the data folder (${dataDir}) is not used; check the free disk of the database server itself.`,
      evidence: { databaseUrl: 'SET', dataDir },
    };
  }
  const d = await diskUsage(dataDir);
  const status = diskVerdict(d.freeRatio);
  return {
    status,
    summary: `${gib(d.freeBytes)} GiB free of ${gib(d.totalBytes)} GiB (${pct(d.freeRatio)}%) for the data folder ${d.path}${d.measuredPath !== d.path ? ` (not created yet; measured at ${d.measuredPath})` : ''}.`,
    evidence: { databaseUrl: 'MISSING', dataDir: d.path, measuredPath: d.measuredPath, freeBytes: d.freeBytes, totalBytes: d.totalBytes, freeRatio: d.freeRatio },
  };
}

async function batchSizesDiag(ctx: RunbookContext): Promise<Finding> {
  const b = await batchSizes(ctx.em(), ctx.services.config);
  const large: string[] = [];
  if (b.assessmentBatchSize > LARGE_ASSESSMENT_BATCH) large.push(`assessment batch ${b.assessmentBatchSize} > ${LARGE_ASSESSMENT_BATCH}`);
  if (b.assessmentConcurrency > LARGE_ASSESSMENT_CONCURRENCY) large.push(`assessment concurrency ${b.assessmentConcurrency} > ${LARGE_ASSESSMENT_CONCURRENCY}`);
  if (b.emailBatchSize > LARGE_EMAIL_BATCH) large.push(`email batch ${b.emailBatchSize} > ${LARGE_EMAIL_BATCH}`);
  const reducible = b.assessmentBatchSize > 1 || b.assessmentConcurrency > 1 || b.emailBatchSize > 1;
  return {
    status: large.length ? 'warn' : 'ok',
    summary: `In force: Yelp batch ${b.yelpBatchSize}, assessment batch ${b.assessmentBatchSize} at concurrency ${b.assessmentConcurrency}, email batch ${b.emailBatchSize}${large.length ? `; large: ${large.join(', ')}` : ''}${b.overridden.length ? ` (overridden: ${b.overridden.join(', ')})` : ''}.`,
    evidence: { ...b, large, reducible },
  };
}

async function jobWorkers(ctx: RunbookContext): Promise<Finding> {
  const jobs = await ctx.jobs.list();
  const now = ctx.services.clock.now().getTime();
  const rows = jobs.map((j) => ({
    name: j.name,
    running: j.running,
    paused: j.paused,
    lastRunStatus: j.lastRun?.status ?? null,
    runningMinutes: j.running && j.lastRun && j.lastRun.status === 'running' ? Math.round((now - j.lastRun.startedAt.getTime()) / 60_000) : null,
  }));
  const running = rows.filter((r) => r.running);
  const long = running.filter((r) => r.runningMinutes !== null && r.runningMinutes * 60_000 > LONG_RUNNING_JOB_MS);
  return {
    status: long.length ? 'warn' : 'ok',
    summary: `${running.length} of ${rows.length} job(s) running${running.length ? ` (${running.map((r) => `${r.name}${r.runningMinutes !== null ? ` for ${r.runningMinutes} min` : ''}`).join(', ')})` : ''}${long.length ? `; ${long.length} running longer than ${LONG_RUNNING_JOB_MS / 3600_000} h` : ''}.`,
    evidence: { jobs: rows, running: running.map((r) => r.name), longRunning: long.map((r) => r.name) },
  };
}

const optSize = (max: number) => z.number().int().positive().max(max).optional();
const lowerInput = z.object({
  assessmentBatchSize: optSize(1000),
  assessmentConcurrency: optSize(50),
  emailBatchSize: optSize(1000),
});
const jobInput = z.object({ job: z.string().min(1).max(100) });

/** The runbook. */
export const runbook = defineRunbook<RunbookContext>({
  id: 'memory-resources',
  title: 'Memory and resources',
  symptoms: [
    'high memory',
    'out of memory',
    'OOM killed',
    'memory leak',
    'RSS keeps growing',
    'service is slow',
    'bot answers slowly',
    'slack commands time out',
    'event loop blocked',
    'high cpu',
    'disk full',
    'no space left on device',
    'low disk',
    'reduce batch sizes',
    'restart worker',
    'container restarting',
  ],
  diagnostics: [
    { id: 'process-memory', title: 'Process memory (RSS, heap)', run: processMemory },
    { id: 'event-loop-lag', title: 'Event-loop lag', run: eventLoopLag },
    { id: 'system-memory', title: 'Host free memory', run: systemMemory },
    { id: 'disk-free', title: 'Free disk for the data folder', run: diskFree },
    { id: 'batch-sizes', title: 'Batch sizes in force', run: batchSizesDiag },
    { id: 'job-workers', title: 'Job workers', run: jobWorkers },
  ],
  rootCauses: [
    {
      id: 'high-memory',
      title: 'The service uses too much memory (or the host is short of it): smaller batches or a worker restart free it.',
      indicatedBy: (f) => bad(f['process-memory']) || bad(f['system-memory']),
      remediations: ['lower-batch-sizes', 'restart-job-worker'],
    },
    {
      id: 'event-loop-blocked',
      title: 'The event loop is blocked, so Slack, webhooks and jobs answer late: smaller batches or a worker restart relieve it.',
      indicatedBy: (f) => bad(f['event-loop-lag']),
      remediations: ['lower-batch-sizes', 'restart-job-worker'],
    },
    {
      id: 'low-disk',
      title: 'The disk holding the data folder is nearly full: free space (old logs, backups) or grow the volume.',
      indicatedBy: (f) => bad(f['disk-free']),
      remediations: [],
    },
    {
      id: 'large-batches',
      title: 'Batch sizes are large (or the process is under pressure while they can still shrink): lower them.',
      indicatedBy: (f) =>
        bad(f['batch-sizes']) ||
        ((bad(f['process-memory']) || bad(f['event-loop-lag'])) && evidenceOf(f, 'batch-sizes').reducible === true),
      remediations: ['lower-batch-sizes'],
    },
  ],
  remediations: [
    {
      id: 'lower-batch-sizes',
      title: 'Halve the batch sizes',
      risk: 'write',
      requiredRole: 'operator',
      confirmation:
        'Lower the assessment batch size, assessment concurrency and email batch size (by default to half of the values in force)? The next batches use them; no restart.',
      idempotencyKey: (input) =>
        `lower-batch-sizes:${String(input.assessmentBatchSize ?? 'half')}/${String(input.assessmentConcurrency ?? 'half')}/${String(input.emailBatchSize ?? 'half')}`,
      recheck: 'batch-sizes',
      inputSchema: lowerInput,
      defaultInput: (f) => {
        const e = evidenceOf(f, 'batch-sizes');
        const out: Record<string, unknown> = {};
        for (const k of ['assessmentBatchSize', 'assessmentConcurrency', 'emailBatchSize'] as const) {
          if (typeof e[k] === 'number') out[k] = half(e[k] as number);
        }
        return out;
      },
      async run(ctx, input, actor) {
        const parsed = lowerInput.parse(input);
        const em = ctx.em();
        const now = ctx.services.clock.now();
        const current = await batchSizes(em, ctx.services.config);
        const want = {
          assessmentBatchSize: parsed.assessmentBatchSize ?? half(current.assessmentBatchSize),
          assessmentConcurrency: parsed.assessmentConcurrency ?? half(current.assessmentConcurrency),
          emailBatchSize: parsed.emailBatchSize ?? half(current.emailBatchSize),
        };
        for (const k of Object.keys(want) as (keyof typeof want)[]) {
          if (want[k] > current[k]) throw new AppError('bad_request', `lower-batch-sizes only lowers: ${k} ${want[k]} is above the ${current[k]} in force`);
        }
        const { before, after } = await lowerBatchSizes(em, ctx.services.config, want, actor, now);
        ctx.services.logger.info({ actor, before, after }, 'batch sizes lowered');
        return {
          summary: `Assessment batch ${before.assessmentBatchSize} → ${after.assessmentBatchSize}, assessment concurrency ${before.assessmentConcurrency} → ${after.assessmentConcurrency}, email batch ${before.emailBatchSize} → ${after.emailBatchSize} (run-time overrides set by ${actor}).`,
        };
      },
    },
    {
      id: 'restart-job-worker',
      title: "Restart a job's worker",
      risk: 'write',
      requiredRole: 'operator',
      confirmation: "Cancel the job's running worker? Its run is marked interrupted and the next run resumes the unfinished work.",
      idempotencyKey: (input) => `restart-worker:${String(input.job)}`,
      recheck: 'job-workers',
      inputSchema: jobInput,
      defaultInput: (f) => {
        const running = (evidenceOf(f, 'job-workers').running as string[] | undefined) ?? [];
        return { job: running[0] ?? 'daily-pipeline' };
      },
      async run(ctx, input, actor) {
        const { job } = jobInput.parse(input);
        const r = await ctx.jobs.restartWorker(job, actor);
        ctx.services.logger.info({ job, actor, restarted: r.restarted }, 'restart job worker');
        if (!r.restarted) throw new Error(`not restarted: ${r.detail}`);
        return { summary: `${r.detail}.` };
      },
    },
  ],
});
