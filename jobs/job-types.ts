/** The contract between the scheduler and a job module. */
import type { GatewayObservation } from '../domain/gateway/observer.js';

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
 * A job module's default export: the run's data, a status reporter and a signal aborted when the run is cancelled
 * (shutdown, `restartWorker`, its timeout). The same function runs on the main thread or in a worker thread.
 */
export type JobFn = (data: JobData, report: JobReport, signal?: AbortSignal) => Promise<unknown>;

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
