/**
 * Bree job (in-process, every ALERT_EVAL_INTERVAL_SECONDS): evaluates the alert rules once (alerts/evaluate.ts)
 * with the main process's services. Thin: the work and its rules live in alerts/.
 */
import { evaluateAlerts, type EvaluationResult } from '../alerts/evaluate.js';
import { evaluatesInProcess } from '../alerts/source.js';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AppConfig } from '../domain/config.js';
import type { ExpectedJob } from '../domain/queries/jobs.js';
import { jobCatalog } from './catalog.js';
import { isJobPaused } from './control.js';
import { inProcessContext } from './in-process.js';
import type { JobData, JobReport } from './job-types.js';

/** The evaluation in progress (the timer's or an event's): evaluations never overlap in this process. */
let tail: Promise<unknown> = Promise.resolve();

/**
 * One evaluation with the registered in-process context, after any evaluation still running here (the 30 s job
 * and the event trigger, jobs/event-trigger.ts, share it). Undefined when ALERT_SOURCE=alertmanager.
 */
export async function evaluateNow(): Promise<EvaluationResult | undefined> {
  const ctx = inProcessContext();
  if (!evaluatesInProcess(ctx.config.alerting.source)) return undefined;
  const next = tail.then(
    () => evaluateAlerts({ ...ctx, expectedJobs: () => expectedJobs(ctx.em(), ctx.config) }),
    () => evaluateAlerts({ ...ctx, expectedJobs: () => expectedJobs(ctx.em(), ctx.config) }),
  );
  tail = next.catch(() => undefined);
  return next;
}

/** Runs one evaluation; returns counts for the job log. */
export default async function alertEvaluation(_data: JobData, _report: JobReport): Promise<{ status: string; fired: number; resolved: number; failedRules: number }> {
  const r = await evaluateNow();
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
