/**
 * Job control shared by Slack, the CLI and runbooks: the catalog with next/last runs, run now, pause/resume
 * (persisted as settings `jobs.paused.<name>`, so a restart keeps them) and cancelling a running worker.
 * In the service it drives the live Bree scheduler; without one (the CLI) `runNow` runs the job module in this
 * process, guarded by the same one-running-run-per-job index as the scheduler.
 */
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { closeJobRun, openJobRun } from '../domain/job-runs.js';
import { keepLeases, processHolder } from '../domain/leases.js';
import { newLogId } from '../domain/log-context.js';
import { createLogger } from '../domain/logger.js';
import { reapExpiredLeases } from '../domain/pipeline/reaper.js';
import { lastRunPerJob, runningRuns } from '../domain/queries/runs.js';
import { nextCronRun } from '../domain/schedule.js';
import type { AppConfig } from '../domain/config.js';
import type { Clock } from '../domain/clock.js';
import { AppError } from '../domain/errors.js';
import { getSetting, setSetting } from '../domain/settings.js';
import type { JobControl, JobInfo } from '../runbooks/context.js';
import { jobActivity } from '../domain/queries/jobs.js';
import { jobCatalog, jobModulePath, type JobDefinition } from './catalog.js';
import { importJob } from './in-process-runner.js';
import { buildWorkerJobContext, runJobModule, sharedJobContext } from './job-context.js';
import type { JobData, JobReport, JobServices } from './job-types.js';
import type { Scheduler } from './scheduler.js';

/** Setting key marking a job paused (value `true`; written with who paused it). */
export const pausedKey = (name: string): string => `jobs.paused.${name}`;

/** True when the job is paused. */
export async function isJobPaused(em: EntityManager, name: string): Promise<boolean> {
  return (await getSetting<boolean>(em, pausedKey(name))) === true;
}

export { nextCronRun } from '../domain/schedule.js';

/** "<job> is already running (run #N, holder H, lease until T)" from the job's `running` row. */
async function alreadyRunning(em: EntityManager, name: string): Promise<string> {
  const [r] = await runningRuns(em, name).catch(() => []);
  if (!r) return `${name} is already running`;
  return `${name} is already running (run #${r.id}, held by ${r.leaseHolder ?? 'unknown'}, lease until ${r.leaseExpiresAt?.toISOString() ?? 'unset'})`;
}

/** What {@link createJobControl} needs. `scheduler` absent = run jobs in this process (CLI). */
export interface JobControlDeps {
  orm: MikroORM;
  config: AppConfig;
  clock: Clock;
  /** The live scheduler (a getter, since the service starts it after the Slack app); absent for the CLI. */
  scheduler?: Scheduler | (() => Scheduler | undefined);
  /** Environment for in-process runs (database and sandbox URLs). */
  jobEnv?: Record<string, string>;
  /** Progress of in-process runs (CLI progress bar). */
  onProgress?: JobReport;
  /**
   * What this process hands the jobs it runs itself (the CLI: its own services and runbook context, so a job the
   * service runs on its main thread — the health check, the alert evaluation — runs from a terminal too). A getter,
   * since the runbook context holds this job control. Absent: each run opens its own context from `jobEnv`, as a
   * worker does.
   */
  jobServices?: () => JobServices;
}

/** Builds the {@link JobControl}. Unknown job names throw AppError `bad_request` listing the known ones. */
export function createJobControl(deps: JobControlDeps): JobControl {
  const catalog = jobCatalog(deps.config);
  const scheduler = (): Scheduler | undefined => (typeof deps.scheduler === 'function' ? deps.scheduler() : deps.scheduler);
  const find = (name: string) => {
    const job = catalog.find((j) => j.name === name);
    if (!job) throw new AppError('bad_request', `unknown job "${name}"; jobs: ${catalog.map((j) => j.name).join(', ')}`);
    return job;
  };
  return {
    list: () => listJobs(deps, catalog, scheduler()),
    async runNow(name, actor) {
      const job = find(name);
      const trigger = `manual:${actor}`;
      const live = scheduler();
      if (live) {
        const started = await live.runNow(name, trigger);
        return { started, detail: started ? `${name} started` : await alreadyRunning(deps.orm.em.fork(), name) };
      }
      return runInThisProcess(deps, job, trigger);
    },
    async pause(name, actor) {
      find(name);
      await setSetting(deps.orm.em.fork(), pausedKey(name), true, actor, deps.clock.now());
    },
    async resume(name, actor) {
      find(name);
      await setSetting(deps.orm.em.fork(), pausedKey(name), false, actor, deps.clock.now());
    },
    async restartWorker(name, actor) {
      find(name);
      const live = scheduler();
      if (!live) return { restarted: false, detail: 'only the running service (npm start) owns job workers' };
      const restarted = await live.cancelRun(name, `worker restarted by ${actor}`);
      return {
        restarted,
        detail: restarted ? `${name}: worker cancelled, run marked interrupted; the next run resumes its work` : `${name} has no running worker`,
      };
    },
  };
}

/** The catalog with pause state, running flag, next fire time and last run (from `job_runs`, else `job_ticks`). */
async function listJobs(deps: JobControlDeps, catalog: readonly JobDefinition[], live: Scheduler | undefined): Promise<JobInfo[]> {
  const em = deps.orm.em.fork();
  const now = deps.clock.now();
  const last = await lastRunPerJob(em);
  const runningSet = new Set((await runningRuns(em)).map((r) => r.job));
  // the frequent jobs keep no job_runs row: their last start and end come from job_ticks
  const ticks = await jobActivity(em);
  const out: JobInfo[] = [];
  for (const j of catalog) {
    const r = last.get(j.name);
    const t = ticks.get(j.name);
    const ended = t?.lastStartedAt && t.lastFinishedAt && t.lastFinishedAt >= t.lastStartedAt ? t.lastFinishedAt : null;
    const tickRun: JobInfo['lastRun'] =
      !r && t?.lastStartedAt
        ? { id: 0, status: ended ? (t.lastStatus ?? 'succeeded') : 'running', trigger: null, startedAt: t.lastStartedAt, finishedAt: ended }
        : undefined;
    out.push({
      name: j.name,
      cron: j.cron,
      why: j.why,
      paused: await isJobPaused(em, j.name),
      running: runningSet.has(j.name) || (live?.isRunning(j.name) ?? false),
      nextRunAt: nextCronRun(j.cron, now),
      lastRun: r ? { id: r.id, status: r.status, trigger: r.trigger, startedAt: r.startedAt, finishedAt: r.finishedAt } : tickRun,
    });
  }
  return out;
}

/**
 * Runs `job` in this process (the CLI, no scheduler), recorded like a scheduler run (the pipeline records its own)
 * so `/lf jobs`, the watchdog and the one-running-run-per-job guard see it. Throws what the job throws.
 */
async function runInThisProcess(deps: JobControlDeps, job: JobDefinition, trigger: string): Promise<{ started: boolean; failed?: boolean; detail: string }> {
  const { name } = job;
  const em = deps.orm.em.fork();
  // a run left `running` by a dead holder does not block (its emails wait for the service's reaper)
  await reapExpiredLeases({ em: () => deps.orm.em.fork(), clock: deps.clock, logger: createLogger('silent'), leaseMs: deps.config.stages.leaseMs, settleMs: deps.config.stages.activitySettleMs, job: name });
  if ((await runningRuns(em, name)).length > 0) return { started: false, detail: await alreadyRunning(em, name) };
  const mod = await importJob(jobModulePath(job));
  const data: JobData = { env: deps.jobEnv ?? {}, trigger };
  const tracked = (job.tracking ?? 'scheduler') === 'scheduler';
  const runId = tracked ? await openJobRun(em, name, trigger, deps.clock.now(), deps.config.stages.leaseMs) : undefined;
  if (tracked && runId === undefined) return { started: false, detail: await alreadyRunning(em, name) };
  const keeper =
    runId === undefined
      ? undefined
      : keepLeases({ em: () => deps.orm.em.fork(), holder: processHolder(), leaseMs: deps.config.stages.leaseMs, now: () => deps.clock.now(), logger: createLogger('silent'), runId });
  let result: { status?: string; runId?: number } | undefined;
  try {
    // every line of this run's work carries its job and run id (the pipeline narrows it to its own run id); its
    // context is the CLI's own services when given, else opened from jobEnv as a worker's is, and closed after
    const report = deps.onProgress ?? (() => undefined);
    const signal = new AbortController().signal;
    const own = deps.jobServices?.();
    result = (await runJobModule(mod, name, data, report, own ? sharedJobContext(own) : buildWorkerJobContext, signal, runId ?? newLogId())) as typeof result;
  } catch (err) {
    if (runId !== undefined) await closeJobRun(em, runId, { error: String((err as Error)?.stack ?? err) }, deps.clock.now());
    throw err;
  } finally {
    keeper?.stop();
  }
  if (runId !== undefined) await closeJobRun(em, runId, { result }, deps.clock.now());
  const failed = result?.status === 'failed' || result?.status === 'stalled';
  return { started: true, failed, detail: `${name} ran in this process: ${result?.status ?? 'done'}${result?.runId ? ` (run #${result.runId})` : ''}` };
}
