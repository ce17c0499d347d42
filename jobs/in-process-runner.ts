/**
 * Runs job modules on the main thread (catalog `inProcess`, or every job with `JOBS_IN_PROCESS=true`): a job is its
 * module's default function, called with the run's context (from the runner's {@link JobContextSource}: the
 * service's shared services, or ones opened for the run and closed after) and an AbortSignal. At most one run per
 * job; a cancelled run (cancel, shutdown, its timeout) is aborted and forgotten — its late outcome is ignored, as a
 * terminated worker's would be.
 */
import { pathToFileURL } from 'node:url';
import { runJobModule } from './job-context.js';
import type { JobContextSource, JobData, JobMessage, JobModule, JobStatus } from './job-types.js';

/** Where an in-process run's status, result and failure go (the same handler as a worker's messages). */
type JobMessageHandler = (name: string, message: JobMessage) => void;

/** The in-process runs of one scheduler. */
export interface InProcessRunner {
  /** True while a run of `name` is going. */
  has(name: string): boolean;
  /** Names of the running jobs. */
  names(): string[];
  /** Starts `file`'s default export as a run of `name`; `timeoutMs` > 0 cancels it after that long. False when one is running. */
  start(name: string, file: string, data: JobData, timeoutMs?: number): boolean;
  /** Aborts the run of `name` and forgets it; false when none was running. */
  cancel(name: string): boolean;
}

/** Imports a job module: its default function and what it needs opened (`file`: an absolute path). */
export async function importJob(file: string): Promise<JobModule> {
  return (await import(pathToFileURL(file).href)) as JobModule;
}

/** Creates a runner reporting every run's messages to `onMessage`; each run's context comes from `contexts`. */
export function createInProcessRunner(onMessage: JobMessageHandler, contexts: JobContextSource): InProcessRunner {
  const running = new Map<string, AbortController>();
  const cancel = (name: string): boolean => {
    const ac = running.get(name);
    if (!ac) return false;
    running.delete(name);
    ac.abort(new Error(`${name} cancelled`));
    return true;
  };
  const execute = async (name: string, file: string, data: JobData, ac: AbortController) => {
    const live = () => running.get(name) === ac;
    const report = (s: JobStatus) => {
      if (live()) onMessage(name, { type: 'status', ...s });
    };
    try {
      const result = await runJobModule(await importJob(file), name, data, report, contexts, ac.signal);
      if (live()) onMessage(name, { type: 'result', result });
    } catch (err) {
      if (live()) onMessage(name, { type: 'failed', error: String((err as Error)?.stack ?? err) });
    } finally {
      if (live()) running.delete(name);
    }
  };
  return {
    has: (name) => running.has(name),
    names: () => [...running.keys()],
    start(name, file, data, timeoutMs = 0) {
      if (running.has(name)) return false;
      const ac = new AbortController();
      running.set(name, ac);
      const timer = timeoutMs > 0 ? setTimeout(() => running.get(name) === ac && cancel(name), timeoutMs) : undefined;
      timer?.unref();
      queueMicrotask(() => void execute(name, file, data, ac).finally(() => clearTimeout(timer)));
      return true;
    },
    cancel,
  };
}
