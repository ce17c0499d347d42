/**
 * Context for jobs that run on the main thread (catalog `inProcess: true`: the 30-second alert evaluation and the
 * escalation ticker), which need the main process's services and runbook context rather than their own: the
 * service registers it once at start; the job modules read it. A worker thread never sees it (undefined there).
 */
import type { AlertDeps } from '../alerts/dispatch.js';
import type { RunbookContext } from '../runbooks/context.js';

/** What in-process jobs get. `startedAt`: when the service started (PipelineDown's start-up grace). */
export type InProcessContext = AlertDeps & { runbooks: RunbookContext; startedAt?: Date };

let current: InProcessContext | undefined;

/** Registers (or with undefined, clears) the context. */
export function setInProcessContext(ctx: InProcessContext | undefined): void {
  current = ctx;
}

/**
 * The registered context.
 * @throws Error when none is registered (the job was started outside the service, e.g. in a worker thread).
 */
export function inProcessContext(): InProcessContext {
  if (!current) throw new Error('in-process job started without a registered context (jobs/in-process.ts)');
  return current;
}

/** True when a context is registered (this is the service's main thread). */
export function hasInProcessContext(): boolean {
  return current !== undefined;
}
