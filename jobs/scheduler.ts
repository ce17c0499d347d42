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
import type { Metrics } from '../alerts/metrics.js';
import { applyObservation } from '../alerts/metrics.js';
import { isPipelineStage } from '../domain/pipeline/stages.js';
import type { AppConfig } from '../domain/config.js';
import type { Clock } from '../domain/clock.js';
import { closeJobRun, markRunsInterrupted, openJobRun } from '../domain/job-runs.js';
import { processHolder } from '../domain/leases.js';
import { newLogId, withLogContext } from '../domain/log-context.js';
import { reapExpiredLeases } from '../domain/pipeline/reaper.js';
import { renewRunLease, runningRuns } from '../domain/queries/runs.js';
import type { Providers } from '../domain/services.js';
import type { Logger } from '../domain/logger.js';
import { recordJobTick } from '../domain/queries/jobs.js';
import { WAIT_FOR_MAX_MS, jobCatalog } from './catalog.js';
import { isJobPaused } from './control.js';
import type { JobData, JobFn, JobStatus } from './job-types.js';

const here = dirname(fileURLToPath(import.meta.url));
const isTs = import.meta.url.endsWith('.ts');
/** Jobs that fire every minute or more often (cron with seconds, or `*` in the minute field): their runs are heartbeats. */
function isHeartbeat(cron: string): boolean {
  const f = cron.trim().split(/\s+/);
  return f.length === 6 || f[0] === '*';
}
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
  /** The providers (the reaper asks SendGrid's activity feed about emails left `sending`); absent = emails wait. */
  providers?: Pick<Providers, 'sendgrid'>;
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
   * One reaper pass now (domain/pipeline/reaper.ts; also run every quarter lease while the scheduler runs): runs of
   * dead holders `interrupted`, their claims returned, their `sending` emails settled with SendGrid.
   */
  reap(): Promise<void>;
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
  constructor(file: string, data: JobData, name: string) {
    super();
    queueMicrotask(async () => {
      this.emit('online');
      try {
        const mod = (await import(pathToFileURL(file).href)) as { default: JobFn };
        const result = await withLogContext({ job: name, runId: data.runId }, () =>
          mod.default(data, (s) => this.emit('message', { type: 'status', ...s })),
        );
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
  const HEARTBEAT_JOBS = new Set(catalog.filter((j) => isHeartbeat(j.cron)).map((j) => j.name));
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
  /** The log id of each job's current run (JobData.runId), for the scheduler's own lines about it. */
  const runLogIds = new Map<string, string>();
  const inProcessJobs = new Set(catalog.filter((j) => j.inProcess).map((j) => j.name));
  const trackedJobs = new Set(catalog.filter((j) => (j.tracking ?? 'scheduler') === 'scheduler').map((j) => j.name));
  /** Run rows the scheduler opened (tracked jobs), by job: resolved once the insert is done. */
  const trackedRuns = new Map<string, Promise<number | undefined>>();

  const openRun = async (name: string, trigger: string): Promise<number | undefined> => {
    const id = await openJobRun(deps.orm.em.fork(), name, trigger, deps.clock.now(), config.stages.leaseMs).catch((err: unknown) => {
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
  // lease renewals (and heartbeats) of the runs the scheduler tracks (the daily pipeline renews its own)
  const leaseMs = config.stages.leaseMs;
  const heartbeat = setInterval(() => {
    for (const [name, p] of trackedRuns)
      void p
        .then(async (id) => {
          if (id !== undefined) await renewRunLease(deps.orm.em.fork(), id, new Date(deps.clock.now().getTime() + leaseMs));
        })
        .catch(() => {
          logger.warn({ job: name }, 'run lease not renewed');
        });
  }, Math.max(1000, Math.floor(leaseMs / 3)));
  heartbeat.unref();
  processHolder(); // fixes this process's holder id before any worker thread starts (they inherit it)

  // The reaper (leader only: this scheduler runs on the leader): every quarter lease, and before a run starts.
  let reaping: Promise<void> = Promise.resolve();
  let reapFailing = false;
  const reap = (job?: string): Promise<void> => {
    reaping = reaping.then(async () => {
      try {
        const r = await reapExpiredLeases({
          em: () => deps.orm.em.fork(),
          clock: deps.clock,
          logger,
          leaseMs,
          settleMs: config.stages.activitySettleMs,
          sendgrid: deps.providers?.sendgrid,
          isLocalRunAlive: (job, runId) => activeRuns.get(job) === runId || bree.workers.has(job),
          job,
        });
        const n = r.runsInterrupted.length + r.businessesReleased + r.emailsSent.length + r.emailsRequeued.length + r.emailsUnconfirmed.length;
        if (n > 0) logger.warn({ ...r }, 'reaper returned the work of dead lease holders');
        if (reapFailing) logger.info('reaper works again');
        reapFailing = false;
      } catch (err) {
        if (!reapFailing) logger.warn({ err: (err as Error).message }, 'reaper pass failed; retrying every pass');
        reapFailing = true;
      }
    });
    return reaping;
  };
  const reaper = setInterval(() => void reap(), Math.max(1000, Math.min(30_000, Math.floor(leaseMs / 4))));
  reaper.unref();
  /** Why `name` cannot start now: a run of it still `running` under a live lease (after reaping), else undefined. */
  const blocker = async (name: string): Promise<string | undefined> => {
    await reap(name);
    try {
      const [r] = await runningRuns(deps.orm.em.fork(), name);
      if (!r) return undefined;
      return `run #${r.id} is running (holder ${r.leaseHolder ?? 'unknown'}, lease until ${r.leaseExpiresAt?.toISOString() ?? 'unset'})`;
    } catch (err) {
      return `the database cannot be read (${(err as Error).message})`;
    }
  };

  class AppBree extends Bree {
    override createWorker = (file: string, opts: Partial<WorkerOptions>) => {
      const base = (opts.workerData ?? {}) as { job?: { name?: string } };
      const name = base.job?.name ?? 'unknown';
      const busy = (byName.get(name)?.skipWhileRunning ?? []).filter((other) => bree.workers.has(other));
      const runLogId = newLogId();
      runLogIds.set(name, runLogId);
      const data: JobData = { ...base, env: deps.jobEnv, trigger: nextTrigger.get(name) ?? 'schedule', busy, runId: runLogId };
      nextTrigger.delete(name);
      void recordJobTick(deps.orm.em.fork(), name, 'start', deps.clock.now()).catch((err: unknown) => logger.warn({ job: name, err: (err as Error).message }, 'job tick not recorded'));
      if (trackedJobs.has(name)) trackedRuns.set(name, openRun(name, data.trigger ?? 'schedule'));
      if (config.jobsInProcess || inProcessJobs.has(name)) return new InProcessWorker(file, data, name) as unknown as Worker;
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
        if (s.kind === 'progress' && isPipelineStage(s.stage))
          metrics.businessesProcessed.inc({ stage: s.stage }, s.n);
        if (s.kind === 'run_started') activeRuns.set(name, s.runId);
        if (s.kind === 'gateway') applyObservation(metrics, s.observation);
      } else if (m.type === 'result') {
        const runId = activeRuns.get(name) ?? runLogIds.get(name);
        activeRuns.delete(name);
        const status = (m.result as { status?: string } | undefined)?.status ?? 'succeeded';
        metrics.jobRuns.inc({ job_name: name, status });
        // heartbeat jobs (every minute or more often) finish at debug: at info they were half the log
        logger[HEARTBEAT_JOBS.has(name) ? 'debug' : 'info']({ job: name, runId, status }, 'job finished');
        void recordJobTick(deps.orm.em.fork(), name, 'end', deps.clock.now(), { status }).catch(() => undefined);
        void closeRun(name, { result: m.result });
        deps.onJobDone?.(name, { result: m.result });
      } else if (m.type === 'failed') {
        const runId = activeRuns.get(name) ?? runLogIds.get(name);
        activeRuns.delete(name);
        metrics.jobRuns.inc({ job_name: name, status: 'failed' });
        logger.error({ job: name, runId, error: String(m.error).split('\n')[0] }, 'job failed');
        void recordJobTick(deps.orm.em.fork(), name, 'end', deps.clock.now(), { error: String(m.error).split('\n')[0] }).catch(() => undefined);
        void closeRun(name, { error: String(m.error) });
        deps.onJobDone?.(name, { error: String(m.error) });
      }
    },
    errorHandler: (err: unknown, meta: { name?: string }) => {
      logger.error({ job: meta?.name, err: (err as Error)?.message ?? String(err) }, 'job worker error');
    },
  });
  /**
   * Fail closed: a scheduled run starts only when the pause setting was read and says "not paused". A failed read
   * (the database is down) skips the run, logged once per streak — never a paused job run by accident.
   */
  let pauseReadFailing = false;
  const pausedOrUnknown = async (name: string): Promise<boolean> => {
    try {
      const paused = await isJobPaused(deps.orm.em.fork(), name);
      pauseReadFailing = false;
      return paused;
    } catch (err) {
      if (!pauseReadFailing) logger.error({ job: name, err: (err as Error).message }, 'pause setting could not be read: run skipped (fail closed)');
      pauseReadFailing = true;
      return true;
    }
  };
  // Scheduled runs of a paused job are skipped (pause is a setting, so it survives restarts); a manual run
  // (runNow sets nextTrigger first) still runs. Bree's timers call `this.run(name)`, so wrapping it suffices.
  const breeRun = bree.run.bind(bree);
  bree.run = async (name?: string) => {
    if (name && !nextTrigger.has(name) && (await pausedOrUnknown(name))) {
      logger.info({ job: name }, 'job paused (or the pause could not be read): scheduled run skipped');
      return;
    }
    if (name) await waitForOthers(name);
    if (stopped) return; // shutdown began while it waited
    if (name && !nextTrigger.has(name) && !bree.workers.has(name)) {
      const why = await blocker(name);
      if (why) {
        nextTrigger.delete(name);
        logger.warn({ job: name, why }, 'run not started: another run of it holds a live lease');
        return;
      }
    }
    return breeRun(name);
  };
  await reap(); // before the first run (RUN_ON_START): what a dead process left is returned first
  if (deps.autoStart ?? true) await bree.start(); // else Bree initialises itself on the first fire()
  logger.info({ jobs: catalog.map((j) => `${j.name} (${j.cron} UTC)`), timers: deps.autoStart ?? true }, 'scheduler started');

  return {
    bree,
    isRunning: (name) => bree.workers.has(name),
    reap: () => reap(),
    async fire(name) {
      if (bree.workers.has(name)) return false;
      if (await pausedOrUnknown(name)) return false;
      await waitForOthers(name);
      if (stopped || bree.workers.has(name)) return false;
      if (await blocker(name)) return false;
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
      // the worker may have opened its run but not yet reported it (run_started): its running rows held by this
      // process are the ones just ended
      const ids =
        runId !== undefined
          ? [runId]
          : (await runningRuns(deps.orm.em.fork(), name)).filter((r) => r.leaseHolder === processHolder()).map((r) => r.id);
      if (ids.length > 0) await markRunsInterrupted(deps.orm.em.fork(), ids, deps.clock.now(), reason);
      logger.warn({ job: name, runId: ids[0], reason }, 'job worker cancelled');
      return true;
    },
    async runNow(name, trigger = 'manual') {
      if (bree.workers.has(name)) return false;
      // never answer "started" for a run the worker would refuse: a live run of the job elsewhere blocks it
      const why = await blocker(name);
      if (why) {
        logger.info({ job: name, why }, 'run now refused');
        return false;
      }
      nextTrigger.set(name, trigger);
      await bree.run(name);
      return true;
    },
    async stop(graceMs) {
      stopped = true;
      clearInterval(heartbeat);
      clearInterval(reaper);
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
