/**
 * Job (in-process, every ALERT_EVAL_INTERVAL_SECONDS): evaluates the alert rules once (alerts/evaluate.ts) with the
 * main process's services (its context's runbook context). Thin: the work and its rules live in alerts/.
 */
import { evaluateAlerts, type EvaluationResult } from '../alerts/evaluate.js';
import type { AlertDeps } from '../alerts/dispatch.js';
import { evaluatesInProcess } from '../alerts/source.js';
import type { RunbookContext } from '../runbooks/context.js';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AppConfig } from '../domain/config.js';
import type { ExpectedJob } from '../domain/queries/jobs.js';
import { jobCatalog } from './catalog.js';
import { isJobPaused } from './control.js';
import { requireRunbooks } from './job-context.js';
import type { JobContext } from './job-types.js';

/** The evaluation in progress (the timer's or an event's): evaluations never overlap in this process. */
let tail: Promise<unknown> = Promise.resolve();

/**
 * One evaluation with the main process's alert dependencies (`startedAt`: when the service started), after any
 * evaluation still running here (the 30 s job and the event trigger, jobs/event-trigger.ts, share it). Undefined
 * when ALERT_SOURCE=alertmanager.
 */
export async function evaluateNow(ctx: AlertDeps & { runbooks: RunbookContext; startedAt?: Date }): Promise<EvaluationResult | undefined> {
  if (!evaluatesInProcess(ctx.config.alerting.source)) return undefined;
  const next = tail.then(
    () => evaluateAlerts({ ...ctx, expectedJobs: () => expectedJobs(ctx.em(), ctx.config) }),
    () => evaluateAlerts({ ...ctx, expectedJobs: () => expectedJobs(ctx.em(), ctx.config) }),
  );
  tail = next.catch(() => undefined);
  return next;
}

/**
 * Runs one evaluation; returns counts for the job log.
 * @throws Error when the context has no runbook context (run outside the service's main thread).
 */
export default async function alertEvaluation(ctx: JobContext): Promise<{ status: string; fired: number; resolved: number; failedRules: number }> {
  const runbooks = requireRunbooks(ctx);
  const r = await evaluateNow({ em: ctx.em, config: ctx.config, clock: ctx.clock, logger: ctx.logger, runbooks, ...(ctx.startedAt ? { startedAt: ctx.startedAt } : {}) });
  if (!r) return { status: 'skipped', fired: 0, resolved: 0, failedRules: 0 };
  return {
    status: r.failed.length > 0 ? 'failed' : 'succeeded',
    fired: r.transitions.filter((t) => t.transition === 'fired' || t.transition === 'reopened').length,
    resolved: r.transitions.filter((t) => t.transition === 'resolved').length,
    failedRules: r.failed.length,
  };
}

/** Every catalog job with its cron and whether it is paused: what JobNotRunning and the gauge expect to run. */
export async function expectedJobs(em: EntityManager, config: AppConfig): Promise<ExpectedJob[]> {
  const out: ExpectedJob[] = [];
  for (const j of jobCatalog(config)) out.push({ name: j.name, cron: j.cron, paused: await isJobPaused(em, j.name) });
  return out;
}
