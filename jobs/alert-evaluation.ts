/**
 * Bree job (in-process, every ALERT_EVAL_INTERVAL_SECONDS): evaluates the alert rules once (alerts/evaluate.ts)
 * with the main process's services. Thin: the work and its rules live in alerts/.
 */
import { evaluateAlerts } from '../alerts/evaluate.js';
import { evaluatesInProcess } from '../alerts/source.js';
import { inProcessContext } from './in-process.js';
import type { JobData, JobReport } from './job-types.js';

/** Runs one evaluation; returns counts for the job log. */
export default async function alertEvaluation(_data: JobData, _report: JobReport): Promise<{ status: string; fired: number; resolved: number; failedRules: number }> {
  const ctx = inProcessContext();
  if (!evaluatesInProcess(ctx.config.alerting.source)) return { status: 'skipped', fired: 0, resolved: 0, failedRules: 0 };
  const r = await evaluateAlerts(ctx);
  return {
    status: r.failed.length > 0 ? 'failed' : 'succeeded',
    fired: r.transitions.filter((t) => t.transition === 'fired' || t.transition === 'reopened').length,
    resolved: r.transitions.filter((t) => t.transition === 'resolved').length,
    failedRules: r.failed.length,
  };
}
