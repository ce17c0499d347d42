/**
 * Rules that see the truth about runs, sends and jobs (issue #14 point 3), appended to ALERT_RULES
 * (alerts/rules.ts): a failed daily run, a run that finished with item failures above the threshold, send
 * failures, and jobs not running (every job, the frequent in-process ones included). Each reads the one named
 * query of its figure (domain/queries/*), the same the gauges on /metrics export for the Prometheus form.
 * Also {@link pipelineDueAt}: when a pipeline run was last due, giving the first due run since the service started
 * its chance (a fresh start opens no PipelineDown before its own run could progress).
 */
import type { AppConfig } from '../domain/config.js';
import { jobsNotRunning } from '../domain/queries/jobs.js';
import { sendFailures } from '../domain/queries/email-figures.js';
import { RUN_FAILURES_MIN, RUN_FAILURES_RATIO, isFailedRun, lastFinishedPipelineRun, runFailures, runHasFailures } from '../domain/queries/runs.js';
import { prevCronRun } from '../domain/schedule.js';
import type { AlertRule } from './rule-types.js';

/** Send failures in the last hour at or above which EmailSendFailures fires. */
export const SEND_FAILURES_THRESHOLD = 5;

/**
 * When a pipeline run was last due at `now`: the previous fire of PIPELINE_CRON, unless that was before the
 * service started (`startedAt`): then the start-up run (RUN_ON_START) is the due run, at `startedAt`; without a
 * start-up run, nothing is due until the schedule's first fire after the start. Undefined: nothing due (or an
 * invalid cron).
 */
export function pipelineDueAt(config: Pick<AppConfig, 'pipeline'>, now: Date, startedAt?: Date): Date | undefined {
  const due = prevCronRun(config.pipeline.cron, now);
  if (!startedAt || (due && due >= startedAt)) return due;
  return config.pipeline.runOnStart && now >= startedAt ? startedAt : undefined;
}

const when = (d: Date) => `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;

/** The rules of this module. */
export const RUN_RULES: readonly AlertRule[] = [
  {
    name: 'PipelineRunFailed',
    severity: 'critical',
    forMs: 0,
    runbook: 'pipeline-not-processing',
    summary: 'The last daily pipeline run failed',
    description: 'The most recent finished daily-pipeline run ended failed or stalled (value: its run id); it resolves when a later run finishes without failing.',
    promql: 'max without (instance) (leadfactory_pipeline_last_failed_run_id) > 0',
    async evaluate({ em, now }) {
      const run = await lastFinishedPipelineRun(em(), now);
      if (!run || !isFailedRun(run)) return [];
      return [{ labels: {}, value: run.id, summary: `Daily run #${run.id} ${run.status} at ${when(run.finishedAt)}: ${(run.error ?? 'no error recorded').slice(0, 200)}` }];
    },
  },
  {
    name: 'PipelineRunFailures',
    severity: 'warning',
    forMs: 0,
    runbook: 'email-delivery',
    summary: 'The last daily run finished with failures above the threshold',
    description: `The most recent daily run finished, but more than ${RUN_FAILURES_RATIO * 100}% of its items (at least ${RUN_FAILURES_MIN}) failed to send or to be assessed.`,
    promql: `max without (instance) (leadfactory_pipeline_last_run_failed_items) >= ${RUN_FAILURES_MIN} and on () max without (instance) (leadfactory_pipeline_last_run_failed_ratio) > ${RUN_FAILURES_RATIO}`,
    async evaluate({ em, now }) {
      const run = await lastFinishedPipelineRun(em(), now);
      if (!run || isFailedRun(run) || !runHasFailures(run.counts)) return [];
      const f = runFailures(run.counts);
      const c = run.counts;
      return [
        {
          labels: {},
          value: f.failed,
          summary: `Daily run #${run.id} ${run.status} at ${when(run.finishedAt)} with ${f.failed} of ${f.attempted} items failed (emailed ${c.emailed ?? 0} · send_failed ${c.send_failed ?? 0} · assessment_failed ${c.assessment_failed ?? 0}).`,
        },
      ];
    },
  },
  {
    name: 'EmailSendFailures',
    severity: 'warning',
    forMs: 0,
    runbook: 'email-delivery',
    summary: 'Emails failing to send',
    description: `At least ${SEND_FAILURES_THRESHOLD} emails failed to send in the last hour (SendGrid refused them, and retries did not help).`,
    promql: `max without (instance) (leadfactory_emails_send_failed_1h) >= ${SEND_FAILURES_THRESHOLD}`,
    async evaluate({ em, now }) {
      const f = await sendFailures(em(), now);
      if (f.recent < SEND_FAILURES_THRESHOLD) return [];
      return [{ labels: {}, value: f.recent, summary: `${f.recent} emails failed to send in the last hour (${f.total} failed in all)${f.topError ? `; most often: ${f.topError.slice(0, 160)}` : ''}.` }];
    },
  },
  {
    name: 'JobNotRunning',
    severity: 'warning',
    forMs: 0,
    runbook: 'quick-diagnostics',
    summary: 'A scheduled job has not run when its schedule said',
    description: 'A job (any in the catalog, the frequent in-process ones included) has not started for longer than its schedule allows (10 min, or 3 periods for jobs firing more often).',
    promql: 'max without (instance) (leadfactory_job_not_running) == 1',
    labels: ['job_name'],
    async evaluate({ em, now, startedAt, expectedJobs }) {
      if (!expectedJobs) return [];
      // a job is only blamed for fires after this process started its scheduler (a fresh start promised nothing before)
      const since = startedAt ?? new Date(0);
      const missing = await jobsNotRunning(em(), await expectedJobs(), now, since);
      return missing.map((j) => ({
        labels: { job_name: j.job },
        value: (now.getTime() - (j.lastStartedAt ?? j.dueAt).getTime()) / 1000,
        summary: `${j.job} was due at ${when(j.dueAt)} and has not started; last start ${j.lastStartedAt ? when(j.lastStartedAt) : 'never'}.`,
      }));
    },
  },
];
