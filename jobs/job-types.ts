/** The contract between the scheduler and a job module. */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Database } from '../db/orm.js';
import type { Clock } from '../domain/clock.js';
import type { AppConfig } from '../domain/config.js';
import type { GatewayObservation } from '../domain/gateway/observer.js';
import type { Logger } from '../domain/logger.js';
import type { Services } from '../domain/services.js';
import type { RunbookContext } from '../runbooks/context.js';

/** What a job receives: environment overrides from the main process (database URL, sandbox URL) and the trigger. */
export interface JobData {
  env: Record<string, string>;
  trigger?: string;
  /** Jobs of the catalog's `skipWhileRunning` that were running in the scheduler when this run started. */
  busy?: string[];
  /**
   * The id every log line of this run carries (domain/log-context.ts): a short random id given when the worker is
   * created (a pipeline run narrows it to its job_runs id once that row exists).
   */
  runId?: number | string;
  [key: string]: unknown;
}

/** A status message from a job to the main thread. */
export type JobStatus =
  | { kind: 'progress'; stage: string; n: number }
  | { kind: 'run_started'; runId: number }
  | { kind: 'gateway'; observation: GatewayObservation };

/** Sends a status message to the main thread. */
export type JobReport = (status: JobStatus) => void;

/**
 * What the process running a job provides. The service builds it once (bot/main.ts, the composition root:
 * jobs/job-context.ts `mainJobServices`) for its in-process runs; a worker thread (and the CLI) builds one per run
 * from `data.env` (jobs/job-context.ts `buildWorkerJobContext`), closed after the run.
 */
export interface JobServices {
  config: AppConfig;
  logger: Logger;
  clock: Clock;
  /** A fresh EntityManager fork per call (take one per unit of work). */
  em(): EntityManager;
  /** The open database (the backup dumps it). */
  db: Database;
  /**
   * Full services (providers behind the gateway): the service's own in-process; in a worker only for jobs whose
   * module declares `needs = 'services'`. Read it with `requireServices` (jobs/job-context.ts).
   */
  services?: Services;
  /**
   * The service's runbook context (providers, breaker state, process probes): in-process runs of the service only.
   * Read it with `requireRunbooks` (jobs/job-context.ts).
   */
  runbooks?: RunbookContext;
  /** When the service started (PipelineDown's start-up grace): in-process runs of the service only. */
  startedAt?: Date;
}

/** What a job receives: its process's {@link JobServices} and this run's name, data, reporter and instant. */
export interface JobContext extends JobServices {
  /** The job's catalog name (for messages and log lines). */
  job: string;
  /** The run's data: trigger, `busy` jobs, log run id, env overrides, optional `now` (ISO) override. */
  data: JobData;
  /** Sends a status message to the scheduler (progress, run started, gateway observations). */
  report: JobReport;
  /** When this run happens: `data.now` when it is a valid ISO string, else the clock. */
  now: Date;
}

/**
 * A job module's default export: the run's context and a signal aborted when the run is cancelled (shutdown,
 * `restartWorker`, its timeout). The same function runs on the main thread or in a worker thread; what differs is
 * the context it is handed.
 */
export type JobFn = (ctx: JobContext, signal: AbortSignal) => Promise<unknown>;

/**
 * What a job needs opened when its process has no services of its own (a worker thread, the CLI): `database` (the
 * default) a one-connection pool; `services` full services (gateway, providers) with a two-connection pool.
 */
export type JobNeeds = 'database' | 'services';

/** A job module: the job function, and optionally what it needs opened in a worker (default `database`). */
export interface JobModule {
  default: JobFn;
  needs?: JobNeeds;
}

/** A context ready for one run, and how to release what was opened for it (a no-op for shared services). */
export interface OpenJobContext {
  ctx: JobContext;
  close(): Promise<void>;
}

/** Gives a run of `job` its context (the service's shared services, or ones opened for the run). */
export type JobContextSource = (job: string, data: JobData, report: JobReport, needs: JobNeeds) => Promise<OpenJobContext>;

/**
 * A message from a job run to the scheduler: a {@link JobStatus} (`type: 'status'`), the run's result, or its
 * failure (the error's stack). Worker threads post these (jobs/worker-entry.mjs); in-process runs report the same.
 */
export type JobMessage =
  | ({ type: 'status' } & JobStatus)
  | { type: 'result'; result: unknown }
  | { type: 'failed'; error: string };

/** The per-run data the scheduler posts to a worker thread right after Bree created it (jobs/worker-entry.mjs waits for it). */
export interface JobStartMessage {
  type: 'start';
  data: JobData;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

/** The {@link JobMessage} in a worker's raw message, or undefined for anything else (Bree's `done`, `cancelled`, junk). */
export function parseJobMessage(message: unknown): JobMessage | undefined {
  if (!isRecord(message)) return undefined;
  if (message.type === 'result') return { type: 'result', result: message.result };
  if (message.type === 'failed') return { type: 'failed', error: String(message.error) };
  if (message.type !== 'status') return undefined;
  if (message.kind === 'progress' && typeof message.stage === 'string' && typeof message.n === 'number')
    return { type: 'status', kind: 'progress', stage: message.stage, n: message.n };
  if (message.kind === 'run_started' && typeof message.runId === 'number') return { type: 'status', kind: 'run_started', runId: message.runId };
  if (message.kind === 'gateway') {
    const observation = parseObservation(message.observation);
    if (observation) return { type: 'status', kind: 'gateway', observation };
  }
  return undefined;
}

/** The {@link GatewayObservation} in a posted value, or undefined when it is not one. */
function parseObservation(o: unknown): GatewayObservation | undefined {
  if (!isRecord(o) || typeof o.provider !== 'string') return undefined;
  if (o.kind === 'cache' && (o.result === 'hit' || o.result === 'miss')) return { kind: 'cache', provider: o.provider, result: o.result };
  if (o.kind === 'call' && typeof o.operation === 'string' && typeof o.status === 'string' && typeof o.durationSeconds === 'number' && typeof o.costUsd === 'number')
    return { kind: 'call', provider: o.provider, operation: o.operation, status: o.status, durationSeconds: o.durationSeconds, costUsd: o.costUsd };
  return undefined;
}
