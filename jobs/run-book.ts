/**
 * The scheduler's book of runs: opens and closes the `job_runs` rows of the jobs it tracks (renewing their leases
 * every third of a lease), records job ticks, and turns a run's messages — progress, gateway observations, result,
 * failure — into metrics, log lines and `onJobDone` calls on the main thread.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Metrics } from '../alerts/metrics.js';
import { applyObservation } from '../alerts/metrics.js';
import type { Clock } from '../domain/clock.js';
import type { AppConfig } from '../domain/config.js';
import { closeJobRun, openJobRun } from '../domain/job-runs.js';
import { newLogId } from '../domain/log-context.js';
import type { Logger } from '../domain/logger.js';
import { isPipelineStage } from '../domain/pipeline/stages.js';
import { recordJobTick } from '../domain/queries/jobs.js';
import { renewRunLease } from '../domain/queries/runs.js';
import type { JobDefinition } from './catalog.js';
import type { JobData, JobMessage } from './job-types.js';

/** What the run book needs. */
export interface RunBookDeps {
  config: AppConfig;
  logger: Logger;
  metrics: Metrics;
  orm: MikroORM;
  clock: Clock;
  /** Environment overrides handed to every run (`JobData.env`). */
  jobEnv: Record<string, string>;
  /** Called when a run ends, with its result or error. */
  onJobDone?: (name: string, outcome: { result?: unknown; error?: string }) => void;
}

/** The run book of one scheduler. */
export interface RunBook {
  /** Records the start of a run of `name` (tick, and its `job_runs` row when tracked) and returns its data. */
  begin(name: string, trigger: string, busy: string[]): JobData;
  /** Applies a message of a run of `name` (status, result, failure). */
  handle(name: string, message: JobMessage): void;
  /** The `job_runs` id of the running run of `name`, when known. */
  activeRunId(name: string): number | undefined;
  /** Forgets the running run of `name` (cancelled: its row is marked by the caller). */
  forget(name: string): void;
  /** The known `job_runs` ids of running runs, by job. */
  activeRuns(): [string, number][];
  /** Stops renewing leases. */
  stop(): void;
}

/** Jobs that fire every minute or more often (cron with seconds, or `*` in the minute field): their runs are heartbeats. */
function isHeartbeat(cron: string): boolean {
  const f = cron.trim().split(/\s+/);
  return f.length === 6 || f[0] === '*';
}

/** Creates the run book for `catalog` and starts its lease renewals. */
export function createRunBook(deps: RunBookDeps, catalog: readonly JobDefinition[]): RunBook {
  const { config, logger, metrics } = deps;
  const heartbeatJobs = new Set(catalog.filter((j) => isHeartbeat(j.cron)).map((j) => j.name));
  const trackedJobs = new Set(catalog.filter((j) => (j.tracking ?? 'scheduler') === 'scheduler').map((j) => j.name));
  const active = new Map<string, number>();
  /** The log id of each job's current run (JobData.runId), for the scheduler's own lines about it. */
  const runLogIds = new Map<string, string>();
  /** Run rows the scheduler opened (tracked jobs), by job: resolved once the insert is done. */
  const trackedRuns = new Map<string, Promise<number | undefined>>();
  const leaseMs = config.stages.leaseMs;

  const openRun = async (name: string, trigger: string): Promise<number | undefined> => {
    const id = await openJobRun(deps.orm.em.fork(), name, trigger, deps.clock.now(), leaseMs).catch((err: unknown) => {
      logger.error({ job: name, err: (err as Error).message }, 'job run not recorded');
      return null;
    });
    // undefined: the one-running-run-per-job index (a run left `running` by another replica or a dead process)
    if (id === undefined) logger.warn({ job: name }, 'job run not recorded (another run of it is marked running)');
    if (id === undefined || id === null) return undefined;
    active.set(name, id);
    return id;
  };
  const closeRun = async (name: string, outcome: { result?: unknown; error?: string }) => {
    const pending = trackedRuns.get(name);
    trackedRuns.delete(name);
    const id = await pending;
    if (id === undefined) return;
    active.delete(name);
    await closeJobRun(deps.orm.em.fork(), id, outcome, deps.clock.now()).catch((err: unknown) =>
      logger.error({ job: name, err: (err as Error).message }, 'job run could not be closed'),
    );
  };
  const heartbeat = renewLeases(deps, trackedRuns);

  const ended = (name: string, outcome: { result?: unknown; error?: string }) => {
    const runId = active.get(name) ?? runLogIds.get(name);
    active.delete(name);
    reportEnd(deps, name, runId, heartbeatJobs.has(name), outcome);
    void closeRun(name, outcome);
    deps.onJobDone?.(name, outcome);
  };

  return {
    begin(name, trigger, busy) {
      const runId = newLogId();
      runLogIds.set(name, runId);
      void recordJobTick(deps.orm.em.fork(), name, 'start', deps.clock.now()).catch((err: unknown) =>
        logger.warn({ job: name, err: (err as Error).message }, 'job tick not recorded'),
      );
      if (trackedJobs.has(name)) trackedRuns.set(name, openRun(name, trigger));
      return { env: deps.jobEnv, trigger, busy, runId };
    },
    handle(name, m) {
      if (m.type === 'status') {
        if (m.kind === 'progress' && isPipelineStage(m.stage)) metrics.businessesProcessed.inc({ stage: m.stage }, m.n);
        if (m.kind === 'run_started') active.set(name, m.runId);
        if (m.kind === 'gateway') applyObservation(metrics, m.observation);
      } else if (m.type === 'result') ended(name, { result: m.result });
      else ended(name, { error: m.error });
    },
    activeRunId: (name) => active.get(name),
    forget: (name) => void active.delete(name),
    activeRuns: () => [...active.entries()],
    stop: () => clearInterval(heartbeat),
  };
}

/** Renews the leases (and heartbeats) of the runs the scheduler tracks every third of a lease (the daily pipeline renews its own). */
function renewLeases(deps: RunBookDeps, trackedRuns: ReadonlyMap<string, Promise<number | undefined>>): NodeJS.Timeout {
  const leaseMs = deps.config.stages.leaseMs;
  const heartbeat = setInterval(
    () => {
      for (const [name, p] of trackedRuns)
        void p
          .then(async (id) => {
            if (id !== undefined) await renewRunLease(deps.orm.em.fork(), id, new Date(deps.clock.now().getTime() + leaseMs));
          })
          .catch(() => {
            deps.logger.warn({ job: name }, 'run lease not renewed');
          });
    },
    Math.max(1000, Math.floor(leaseMs / 3)),
  );
  heartbeat.unref();
  return heartbeat;
}

/** A run's end on the main registry and log: the `job_runs_total` count, one line, the end tick. */
function reportEnd(deps: RunBookDeps, name: string, runId: number | string | undefined, heartbeatJob: boolean, outcome: { result?: unknown; error?: string }): void {
  const { logger, metrics } = deps;
  if (outcome.error === undefined) {
    const status = (outcome.result as { status?: string } | undefined)?.status ?? 'succeeded';
    metrics.jobRuns.inc({ job_name: name, status });
    // heartbeat jobs (every minute or more often) finish at debug: at info they were half the log
    logger[heartbeatJob ? 'debug' : 'info']({ job: name, runId, status }, 'job finished');
    void recordJobTick(deps.orm.em.fork(), name, 'end', deps.clock.now(), { status }).catch(() => undefined);
  } else {
    const firstLine = outcome.error.split('\n')[0];
    metrics.jobRuns.inc({ job_name: name, status: 'failed' });
    logger.error({ job: name, runId, error: firstLine }, 'job failed');
    void recordJobTick(deps.orm.em.fork(), name, 'end', deps.clock.now(), { error: firstLine }).catch(() => undefined);
  }
}
