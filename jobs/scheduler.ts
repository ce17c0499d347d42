/**
 * The Bree scheduler: runs the job catalog in worker threads (or in-process when `JOBS_IN_PROCESS=true`, for
 * tests and tiny machines), forwards job progress to the main thread (metrics live there: a worker's registry
 * would never be scraped), never overlaps runs of one job, and stops cleanly on shutdown.
 */
import { EventEmitter } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import Bree from 'bree';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Metrics, PipelineStage } from '../alerts/metrics.js';
import { PIPELINE_STAGES, applyObservation } from '../alerts/metrics.js';
import type { AppConfig } from '../domain/config.js';
import type { Clock } from '../domain/clock.js';
import { closeJobRun, markRunsInterrupted, openJobRun } from '../domain/job-runs.js';
import type { Logger } from '../domain/logger.js';
import { WAIT_FOR_MAX_MS, jobCatalog } from './catalog.js';
import { isJobPaused } from './control.js';
import type { JobData, JobFn, JobStatus } from './job-types.js';

const here = dirname(fileURLToPath(import.meta.url));
const isTs = import.meta.url.endsWith('.ts');
const ENTRY = join(here, 'worker-entry.mjs');

/** What the scheduler needs from the main process. */
export interface SchedulerDeps {
  config: AppConfig;
  logger: Logger;
  metrics: Metrics;
  orm: MikroORM;
  clock: Clock;
  /** Environment overrides for jobs: the database URL and sandbox URL of this process. */
  jobEnv: Record<string, string>;
  /** Called when a job run ends, with its result or error (for notifications and tests). */
  onJobDone?: (name: string, outcome: { result?: unknown; error?: string }) => void;
  /**
   * Start Bree's cron timers (default true). False leaves the firing to the caller through
   * {@link Scheduler.fire} — the soak bench drives 24 h of schedules in accelerated time that way.
   */
  autoStart?: boolean;
}

/** A started scheduler. */
export interface Scheduler {
  bree: Bree;
  /** Runs a job now unless it is already running; returns false when it was. */
  runNow(name: string, trigger?: string): Promise<boolean>;
  /**
   * Starts a run exactly as the job's cron timer would (trigger `schedule`, a pause respected, never overlapping a
   * running one); resolves with false when it was skipped (paused, or still running).
   */
  fire(name: string): Promise<boolean>;
  /** True while the job's worker is alive. */
  isRunning(name: string): boolean;
  /**
   * Terminates a job's running worker and marks its run `interrupted` (the next run resumes the work);
   * false when no worker was running.
   */
  cancelRun(name: string, reason: string): Promise<boolean>;
  /**
   * Stops scheduling, asks running workers to cancel, waits up to `graceMs`, then marks their runs
   * `interrupted`.
   */
  stop(graceMs: number): Promise<void>;
}

/** Runs a job module on the main thread, looking like a Worker to Bree (online/message/exit, terminate). */
class InProcessWorker extends EventEmitter {
  private done = false;
  constructor(file: string, data: JobData) {
    super();
    queueMicrotask(async () => {
      this.emit('online');
      try {
        const mod = (await import(pathToFileURL(file).href)) as { default: JobFn };
        const result = await mod.default(data, (s) => this.emit('message', { type: 'status', ...s }));
        if (this.done) return;
        this.emit('message', { type: 'result', result });
        this.emit('message', 'done');
      } catch (err) {
        if (this.done) return;
        this.emit('message', { type: 'failed', error: String((err as Error)?.stack ?? err) });
        this.finish(1);
      }
    });
  }
  private finish(code: number) {
    if (this.done) return;
    this.done = true;
    this.emit('exit', code);
  }
  postMessage(m: unknown) {
    if (m === 'cancel') this.emit('message', 'cancelled');
  }
  async terminate() {
    this.done = true;
    return 0;
  }
}

/** Creates and starts the scheduler (cron in UTC). Call `runNow` for `RUN_ON_START`. */
export async function startScheduler(deps: SchedulerDeps): Promise<Scheduler> {
  const { config, logger, metrics } = deps;
  const catalog = jobCatalog(config);
  const byName = new Map(catalog.map((j) => [j.name, j]));
  /** Waits (up to WAIT_FOR_MAX_MS) while a job this one waits for is running in this scheduler. */
  const waitForOthers = async (name: string) => {
    const others = byName.get(name)?.waitFor ?? [];
    const until = Date.now() + WAIT_FOR_MAX_MS;
    let logged = false;
    while (others.some((o) => bree.workers.has(o)) && Date.now() < until) {
      if (!logged) logger.info({ job: name, waitingFor: others.filter((o) => bree.workers.has(o)) }, 'job waits for a running job before it starts');
      logged = true;
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  /** Set by stop(): a run still waiting for others does not start. */
  let stopped = false;
  const nextTrigger = new Map<string, string>();
  const activeRuns = new Map<string, number>();
  const inProcessJobs = new Set(catalog.filter((j) => j.inProcess).map((j) => j.name));
  const trackedJobs = new Set(catalog.filter((j) => (j.tracking ?? 'scheduler') === 'scheduler').map((j) => j.name));
  /** Run rows the scheduler opened (tracked jobs), by job: resolved once the insert is done. */
  const trackedRuns = new Map<string, Promise<number | undefined>>();

  const openRun = async (name: string, trigger: string): Promise<number | undefined> => {
    const id = await openJobRun(deps.orm.em.fork(), name, trigger, deps.clock.now()).catch((err: unknown) => {
      logger.error({ job: name, err: (err as Error).message }, 'job run not recorded');
      return null;
    });
    // undefined: the one-running-run-per-job index (a run left `running` by another replica or a dead process)
    if (id === undefined) logger.warn({ job: name }, 'job run not recorded (another run of it is marked running)');
    if (id === undefined || id === null) return undefined;
    activeRuns.set(name, id);
    return id;
  };
  const closeRun = async (name: string, outcome: { result?: unknown; error?: string }) => {
    const pending = trackedRuns.get(name);
    trackedRuns.delete(name);
    const id = await pending;
    if (id === undefined) return;
    activeRuns.delete(name);
    await closeJobRun(deps.orm.em.fork(), id, outcome, deps.clock.now()).catch((err: unknown) =>
      logger.error({ job: name, err: (err as Error).message }, 'job run could not be closed'),
    );
  };
  // heartbeats of the runs the scheduler tracks (the daily pipeline beats its own)
  const heartbeat = setInterval(() => {
    for (const [name, p] of trackedRuns)
      void p
        .then(async (id) => {
          if (id !== undefined) await deps.orm.em.getConnection().execute('update job_runs set heartbeat_at = ? where id = ? and status = ?', [deps.clock.now(), id, 'running']);
        })
        .catch(() => {
        logger.warn({ job: name }, 'heartbeat not written');
      });
  }, 30_000);
  heartbeat.unref();

  class AppBree extends Bree {
    override createWorker = (file: string, opts: Partial<WorkerOptions>) => {
      const base = (opts.workerData ?? {}) as { job?: { name?: string } };
      const name = base.job?.name ?? 'unknown';
      const busy = (byName.get(name)?.skipWhileRunning ?? []).filter((other) => bree.workers.has(other));
      const data: JobData = { ...base, env: deps.jobEnv, trigger: nextTrigger.get(name) ?? 'schedule', busy };
      nextTrigger.delete(name);
      if (trackedJobs.has(name)) trackedRuns.set(name, openRun(name, data.trigger ?? 'schedule'));
      if (config.jobsInProcess || inProcessJobs.has(name)) return new InProcessWorker(file, data) as unknown as Worker;
      return new Worker(ENTRY, { ...opts, workerData: { ...data, jobFile: pathToFileURL(file).href } });
    };
  }

  const bree = new AppBree({
    root: here,
    defaultExtension: isTs ? 'ts' : 'js',
    acceptedExtensions: ['.ts', '.js'],
    logger: false,
    timezone: 'UTC',
    jobs: catalog.map((j) => ({ name: j.name, path: join(here, `${j.file}.${isTs ? 'ts' : 'js'}`), cron: j.cron, hasSeconds: j.cron.trim().split(/\s+/).length === 6, closeWorkerAfterMs: j.timeoutMs })),
    workerMessageHandler: ({ name, message }: { name: string; message: unknown }) => {
      if (typeof message !== 'object' || message === null) return;
      const m = message as { type: string } & Record<string, unknown>;
      if (m.type === 'status') {
        const s = m as unknown as JobStatus;
        if (s.kind === 'progress' && (PIPELINE_STAGES as readonly string[]).includes(s.stage))
          metrics.businessesProcessed.inc({ stage: s.stage as PipelineStage }, s.n);
        if (s.kind === 'run_started') activeRuns.set(name, s.runId);
        if (s.kind === 'gateway') applyObservation(metrics, s.observation);
      } else if (m.type === 'result') {
        activeRuns.delete(name);
        const status = (m.result as { status?: string } | undefined)?.status ?? 'succeeded';
        metrics.jobRuns.inc({ job_name: name, status });
        logger.info({ job: name, status }, 'job finished');
        void closeRun(name, { result: m.result });
        deps.onJobDone?.(name, { result: m.result });
      } else if (m.type === 'failed') {
        activeRuns.delete(name);
        metrics.jobRuns.inc({ job_name: name, status: 'failed' });
        logger.error({ job: name, error: String(m.error).split('\n')[0] }, 'job failed');
        void closeRun(name, { error: String(m.error) });
        deps.onJobDone?.(name, { error: String(m.error) });
      }
    },
    errorHandler: (err: unknown, meta: { name?: string }) => {
      logger.error({ job: meta?.name, err: (err as Error)?.message ?? String(err) }, 'job worker error');
    },
  });
  // Scheduled runs of a paused job are skipped (pause is a setting, so it survives restarts); a manual run
  // (runNow sets nextTrigger first) still runs. Bree's timers call `this.run(name)`, so wrapping it suffices.
  const breeRun = bree.run.bind(bree);
  bree.run = async (name?: string) => {
    if (name && !nextTrigger.has(name) && (await isJobPaused(deps.orm.em.fork(), name).catch(() => false))) {
      logger.info({ job: name }, 'job paused: scheduled run skipped');
      return;
    }
    if (name) await waitForOthers(name);
    if (stopped) return; // shutdown began while it waited
    return breeRun(name);
  };
  if (deps.autoStart ?? true) await bree.start(); // else Bree initialises itself on the first fire()
  logger.info({ jobs: catalog.map((j) => `${j.name} (${j.cron} UTC)`), timers: deps.autoStart ?? true }, 'scheduler started');

  return {
    bree,
    isRunning: (name) => bree.workers.has(name),
    async fire(name) {
      if (bree.workers.has(name)) return false;
      if (await isJobPaused(deps.orm.em.fork(), name).catch(() => false)) return false;
      await waitForOthers(name);
      if (stopped || bree.workers.has(name)) return false;
      await breeRun(name);
      return true;
    },
    async cancelRun(name, reason) {
      const worker = bree.workers.get(name) as Worker | undefined;
      if (!worker) return false;
      const runId = activeRuns.get(name);
      await worker.terminate();
      bree.workers.delete(name);
      activeRuns.delete(name);
      if (runId !== undefined) await markRunsInterrupted(deps.orm.em.fork(), [runId], deps.clock.now(), reason);
      logger.warn({ job: name, runId, reason }, 'job worker cancelled');
      return true;
    },
    async runNow(name, trigger = 'manual') {
      if (bree.workers.has(name)) return false;
      nextTrigger.set(name, trigger);
      await bree.run(name);
      return true;
    },
    async stop(graceMs) {
      stopped = true;
      clearInterval(heartbeat);
      const running = [...activeRuns.entries()];
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        bree.stop(),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs);
        }),
      ]);
      clearTimeout(timer);
      for (const w of bree.workers.values()) await (w as Worker).terminate();
      if (running.length > 0) {
        const n = await markRunsInterrupted(
          deps.orm.em.fork(),
          running.map(([, id]) => id),
          deps.clock.now(),
          'stopped by shutdown',
        );
        logger.warn({ runs: running.map(([job, id]) => `${job}#${id}`), marked: n }, 'runs interrupted by shutdown');
      }
    },
  };
}
