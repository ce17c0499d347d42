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

/** A job module's default export. */
export type JobFn = (data: JobData, report: JobReport) => Promise<unknown>;
