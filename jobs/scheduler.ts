/**
 * The scheduler: fires the job catalog on its cron schedules (jobs/cron-timers.ts, UTC) and on demand, never
 * overlaps runs of one job, respects pauses and the `waitFor`/`skipWhileRunning` rules, records runs
 * (jobs/run-book.ts) and stops cleanly on shutdown.
 *
 * One job mode: a job is its module's default function `(ctx, signal)` (jobs/job-types.ts JobContext). It runs on
 * the main thread (jobs/in-process-runner.ts) with the service's own services (`SchedulerDeps.jobs`) when the
 * catalog marks it `inProcess` (the frequent light ticks, where a worker would cost more than the work, and the jobs
 * that need the main thread's runbook context) or with `JOBS_IN_PROCESS=true`; otherwise in a worker thread with a
 * context built from `data.env` (jobs/job-context.ts buildWorkerJobContext), so the
 * long and heavy runs (the pipeline, the batches, pg_dump, the reports) never block the main thread's event loop.
 * Workers are launched through Bree's documented API only — `new Bree({ jobs })`, `run`, `stop`, the
 * `worker created` event and the worker message handler; Bree's own timers are never started.
 * Job progress reaches the main thread either way (metrics live there: a worker's registry would never be scraped).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Bree from 'bree';
import { processHolder } from '../domain/leases.js';
import { markRunsInterrupted, runningRuns } from '../domain/queries/runs.js';
import type { Providers } from '../domain/services.js';
import type { Logger } from '../domain/logger.js';
import { WAIT_FOR_MAX_MS, jobCatalog, jobModulePath, type JobDefinition } from './catalog.js';
import { isJobPaused } from './control.js';
import { armCronTimers, type CronTimers } from './cron-timers.js';
import { createInProcessRunner, type InProcessRunner } from './in-process-runner.js';
import { buildWorkerJobContext, sharedJobContext } from './job-context.js';
import { parseJobMessage, type JobData, type JobServices, type JobStartMessage } from './job-types.js';
import { createReaperLoop, type ReaperLoop } from './reaper-loop.js';
import { createRunBook, type RunBook, type RunBookDeps } from './run-book.js';

const here = dirname(fileURLToPath(import.meta.url));
const ENTRY = join(here, 'worker-entry.mjs');

/** What the scheduler needs from the main process: what its run book needs (jobEnv: this process's database and sandbox URLs), and: */
export interface SchedulerDeps extends RunBookDeps {
  /**
   * The service's own job services (built once by the composition root: jobs/job-context.ts mainJobServices), handed
   * to every in-process run. Absent (tests): each in-process run opens its own from `data.env`, as a worker does —
   * and a job needing the runbook context then fails with a clear error.
   */
  jobs?: JobServices;
  /** The providers (the reaper asks SendGrid's activity feed about emails left `sending`); absent = emails wait. */
  providers?: Pick<Providers, 'sendgrid'>;
  /**
   * Arm the cron timers (default true). False leaves the firing to the caller through
   * {@link Scheduler.fire} — the soak bench drives 24 h of schedules in accelerated time that way.
   */
  autoStart?: boolean;
}

/** A started scheduler. */
export interface Scheduler {
  /** The Bree instance running the worker-thread jobs (the in-process jobs are not in it). */
  bree: Bree;
  /** Runs a job now unless it is already running; returns false when it was. */
  runNow(name: string, trigger?: string): Promise<boolean>;
  /**
   * Starts a run exactly as the job's cron timer does (trigger `schedule`, a pause respected, never overlapping a
   * running one); resolves with false when it was skipped (paused, or still running).
   */
  fire(name: string): Promise<boolean>;
  /** True while a run of the job is going (its worker is alive, or its in-process run has not ended). */
  isRunning(name: string): boolean;
  /** Number of jobs with an armed cron timer (0 with `autoStart: false` and after stop). */
  armedTimers(): number;
  /**
   * One reaper pass now (domain/pipeline/reaper.ts; also run every quarter lease while the scheduler runs): runs of
   * dead holders `interrupted`, their claims returned, their `sending` emails settled with SendGrid.
   */
  reap(): Promise<void>;
  /**
   * Ends a job's running run (terminates its worker, or aborts and forgets its in-process run) and marks it
   * `interrupted` (the next run resumes the work); false when none was running.
   */
  cancelRun(name: string, reason: string): Promise<boolean>;
  /**
   * Stops scheduling, asks running workers to cancel, waits up to `graceMs`, then marks their runs
   * `interrupted`.
   */
  stop(graceMs: number): Promise<void>;
}

/** The parts of a started scheduler, shared by its operations. */
interface Parts {
  deps: SchedulerDeps;
  byName: Map<string, JobDefinition>;
  book: RunBook;
  runner: InProcessRunner;
  bree: Bree;
  reaper: ReaperLoop;
  timers: { current?: CronTimers };
  /** Runs handed to Bree but not yet in `bree.workers`, and their data for the `start` message. */
  launching: Map<string, JobData>;
  state: { stopped: boolean; pauseReadFailing: boolean };
}

/** Creates and starts the scheduler (cron in UTC). Call `runNow` for `RUN_ON_START`. */
export async function startScheduler(deps: SchedulerDeps): Promise<Scheduler> {
  const catalog = jobCatalog(deps.config);
  const inProcess = (j: JobDefinition) => deps.config.jobsInProcess || j.inProcess === true;
  const book = createRunBook(deps, catalog);
  const bree = createBree(catalog.filter((j) => !inProcess(j)), deps.logger, book);
  const parts: Parts = {
    deps,
    byName: new Map(catalog.map((j) => [j.name, j])),
    book,
    runner: createInProcessRunner((name, m) => book.handle(name, m), deps.jobs ? sharedJobContext(deps.jobs) : buildWorkerJobContext),
    bree,
    reaper: createReaperLoop({ ...deps, isLocalRunAlive: (job, runId) => book.activeRunId(job) === runId || isRunning(parts, job) }),
    timers: {},
    launching: new Map(),
    state: { stopped: false, pauseReadFailing: false },
  };
  // a worker's per-run data follows its creation (jobs/worker-entry.mjs waits for it)
  bree.on('worker created', (name: string) => {
    const data = parts.launching.get(name);
    const start: JobStartMessage = { type: 'start', data: data ?? { env: deps.jobEnv } };
    bree.workers.get(name)?.postMessage(start);
  });
  processHolder(); // fixes this process's holder id before any worker thread starts (they inherit it)
  await parts.reaper.reap(); // before the first run (RUN_ON_START): what a dead process left is returned first
  if (deps.autoStart ?? true) parts.timers.current = armCronTimers(catalog, (name) => fire(parts, name));
  deps.logger.info({ jobs: catalog.map((j) => `${j.name} (${j.cron} UTC)`), timers: deps.autoStart ?? true }, 'scheduler started');
  return {
    bree,
    isRunning: (name) => isRunning(parts, name),
    armedTimers: () => parts.timers.current?.size() ?? 0,
    reap: () => parts.reaper.reap(),
    fire: (name) => fire(parts, name),
    cancelRun: (name, reason) => cancelRun(parts, name, reason),
    runNow: (name, trigger = 'manual') => runNow(parts, name, trigger),
    stop: (graceMs) => stop(parts, graceMs),
  };
}

/** Bree for the worker-thread jobs: no timers of its own (never started), its workers' messages to the run book. */
function createBree(jobs: readonly JobDefinition[], logger: Logger, book: RunBook): Bree {
  return new Bree({
    root: false,
    logger: false,
    timezone: 'UTC',
    jobs: jobs.map((j) => ({
      name: j.name,
      path: ENTRY,
      timeout: false,
      closeWorkerAfterMs: j.timeoutMs,
      worker: { workerData: { jobFile: pathToFileURL(jobModulePath(j)).href } },
    })),
    workerMessageHandler: ({ name, message }: { name: string; message: unknown }) => {
      const m = parseJobMessage(message);
      if (m) book.handle(name, m);
    },
    errorHandler: (err: unknown, meta: { name?: string }) => {
      logger.error({ job: meta?.name, err: (err as Error)?.message ?? String(err) }, 'job worker error');
    },
  });
}

function isRunning(p: Parts, name: string): boolean {
  return p.bree.workers.has(name) || p.launching.has(name) || p.runner.has(name);
}

/** Starts a run of `name` now, in a worker or in-process; false when one is running. */
async function launch(p: Parts, name: string, trigger: string): Promise<boolean> {
  if (isRunning(p, name)) return false;
  const job = p.byName.get(name);
  if (!job) throw new Error(`Job "${name}" does not exist`);
  const busy = (job.skipWhileRunning ?? []).filter((other) => isRunning(p, other));
  const data = p.book.begin(name, trigger, busy);
  if (p.deps.config.jobsInProcess || job.inProcess) return p.runner.start(name, jobModulePath(job), data, job.timeoutMs);
  p.launching.set(name, data);
  try {
    await p.bree.run(name);
  } finally {
    p.launching.delete(name);
  }
  return true;
}

/** Waits (up to WAIT_FOR_MAX_MS) while a job `name` waits for is running in this scheduler. */
async function waitForOthers(p: Parts, name: string): Promise<void> {
  const others = p.byName.get(name)?.waitFor ?? [];
  const until = Date.now() + WAIT_FOR_MAX_MS;
  let logged = false;
  while (others.some((o) => isRunning(p, o)) && Date.now() < until) {
    if (!logged) p.deps.logger.info({ job: name, waitingFor: others.filter((o) => isRunning(p, o)) }, 'job waits for a running job before it starts');
    logged = true;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Fail closed: a scheduled run starts only when the pause setting was read and says "not paused". A failed read
 * (the database is down) skips the run, logged once per streak — never a paused job run by accident.
 */
async function pausedOrUnknown(p: Parts, name: string): Promise<boolean> {
  try {
    const paused = await isJobPaused(p.deps.orm.em.fork(), name);
    p.state.pauseReadFailing = false;
    return paused;
  } catch (err) {
    if (!p.state.pauseReadFailing) p.deps.logger.error({ job: name, err: (err as Error).message }, 'pause setting could not be read: run skipped (fail closed)');
    p.state.pauseReadFailing = true;
    return true;
  }
}

/** A scheduled run (the cron timers call this): skipped when running, paused (or unreadable) or blocked. */
async function fire(p: Parts, name: string): Promise<boolean> {
  const { logger } = p.deps;
  if (isRunning(p, name)) return false;
  if (await pausedOrUnknown(p, name)) {
    logger.info({ job: name }, 'job paused (or the pause could not be read): scheduled run skipped');
    return false;
  }
  await waitForOthers(p, name);
  if (p.state.stopped || isRunning(p, name)) return false; // shutdown began while it waited
  const why = await p.reaper.blocker(name);
  if (why) {
    logger.warn({ job: name, why }, 'run not started: another run of it holds a live lease');
    return false;
  }
  return launch(p, name, 'schedule');
}

/** A manual run: a pause does not stop it; a live run of the job anywhere does. */
async function runNow(p: Parts, name: string, trigger: string): Promise<boolean> {
  if (isRunning(p, name)) return false;
  // never answer "started" for a run the worker would refuse: a live run of the job elsewhere blocks it
  const why = await p.reaper.blocker(name);
  if (why) {
    p.deps.logger.info({ job: name, why }, 'run now refused');
    return false;
  }
  await waitForOthers(p, name);
  if (p.state.stopped) return false;
  return launch(p, name, trigger);
}

async function cancelRun(p: Parts, name: string, reason: string): Promise<boolean> {
  const { deps } = p;
  const worker = p.bree.workers.get(name);
  if (worker) {
    await worker.terminate();
    p.bree.workers.delete(name);
  } else if (!p.runner.cancel(name)) return false;
  const runId = p.book.activeRunId(name);
  p.book.forget(name);
  // the run may have been opened but not yet reported (run_started): its running rows held by this process are the
  // ones just ended
  const ids =
    runId !== undefined ? [runId] : (await runningRuns(deps.orm.em.fork(), name)).filter((r) => r.leaseHolder === processHolder()).map((r) => r.id);
  if (ids.length > 0) await markRunsInterrupted(deps.orm.em.fork(), ids, deps.clock.now(), reason);
  deps.logger.warn({ job: name, runId: ids[0], reason }, 'job worker cancelled');
  return true;
}

async function stop(p: Parts, graceMs: number): Promise<void> {
  const { deps } = p;
  p.state.stopped = true;
  p.timers.current?.stop();
  p.book.stop();
  p.reaper.stop();
  const running = p.book.activeRuns();
  for (const name of p.runner.names()) p.runner.cancel(name); // aborted; a late outcome is ignored
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    p.bree.stop(),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    }),
  ]);
  clearTimeout(timer);
  for (const w of p.bree.workers.values()) await w.terminate();
  if (running.length > 0) {
    const n = await markRunsInterrupted(deps.orm.em.fork(), running.map(([, id]) => id), deps.clock.now(), 'stopped by shutdown');
    deps.logger.warn({ runs: running.map(([job, id]) => `${job}#${id}`), marked: n }, 'runs interrupted by shutdown');
  }
}
