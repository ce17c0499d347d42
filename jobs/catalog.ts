/**
 * The job catalog: every scheduled job with its schedule, timeout and why it exists. Schedules are cron
 * expressions evaluated in UTC.
 */
import { fileURLToPath } from 'node:url';
import type { AppConfig } from '../domain/config.js';
import { BACKUP_JOB } from './backup.js';
import { WATCHDOG_JOB } from './watchdog.js';
import { HEALTH_CHECK_JOB } from './health-check.js';
import { QUOTA_RESET_JOB } from './quota-reset.js';
import { RECONCILIATION_JOB } from './reconciliation.js';
import { MAINTENANCE_WEEKLY_JOB } from './maintenance-weekly.js';
import { OPTIMIZATION_MONTHLY_JOB } from './optimization-monthly.js';
import { REVIEW_QUARTERLY_JOB } from './review-quarterly.js';
import { ASSESSMENT_BATCH_JOB, EMAIL_BATCH_JOB } from './pipeline-batches.js';

/** One scheduled job. `file` is the module in jobs/ (without extension) exporting `default (ctx, signal)` (jobs/job-types.ts JobFn). */
export interface JobDefinition {
  name: string;
  file: string;
  cron: string;
  /** The worker is terminated after this long (ms). */
  timeoutMs: number;
  why: string;
  /**
   * Run on the main thread with the service's own services (`SchedulerDeps.jobs`, jobs/job-context.ts) instead of a
   * worker thread: for frequent, light ticks where starting a worker would cost more than the work, and for jobs that
   * need what only the main thread has (the runbook context, the embedded database).
   */
  inProcess?: boolean;
  /**
   * How its runs are recorded in `job_runs` (heartbeat, duration, counts, outcome): `scheduler` (default) by the
   * scheduler; `self` by the job itself (the daily pipeline, whose runs resume after a crash); `none` for frequent
   * ticks (a row every 30 s would drown the history) — the watchdog then cannot report them missed.
   */
  tracking?: 'scheduler' | 'self' | 'none';
  /**
   * Jobs this one must not do its work beside: when one of them is running in this scheduler as this one starts,
   * the job is still started (its run is recorded) but gets their names in `data.busy` and skips its work.
   */
  skipWhileRunning?: string[];
  /** Jobs this one waits for (up to {@link WAIT_FOR_MAX_MS}) before it starts, when they are running. */
  waitFor?: string[];
}

/** Longest a job waits for the jobs in its `waitFor` (ms); then it starts anyway. */
export const WAIT_FOR_MAX_MS = 15 * 60_000;

/** A cron expression firing every `ms` (6 fields with seconds below a minute), e.g. 30 s → `*\/30 * * * * *`. */
export function everyCron(ms: number): string {
  const s = Math.max(1, Math.round(ms / 1000));
  if (s < 60 && 60 % s === 0) return `*/${s} * * * * *`;
  const m = Math.max(1, Math.round(s / 60));
  return m < 60 && 60 % m === 0 ? `*/${m} * * * *` : `0 */${Math.max(1, Math.round(m / 60))} * * *`;
}

/** The catalog for a configuration. */
export function jobCatalog(config: AppConfig): JobDefinition[] {
  return [
    {
      name: 'daily-pipeline',
      file: 'daily-pipeline',
      cron: config.pipeline.cron,
      timeoutMs: 2 * 60 * 60 * 1000,
      why: 'Sources, assesses, scores, personalises and emails the day’s leads (troubleshooting guide: pipeline).',
      tracking: 'self',
      // the :00 assessment batch fires with it at 02:00: the run waits for a batch already under way
      waitFor: [ASSESSMENT_BATCH_JOB.name, EMAIL_BATCH_JOB.name],
    },
    { ...ASSESSMENT_BATCH_JOB, skipWhileRunning: ['daily-pipeline'] },
    { ...EMAIL_BATCH_JOB, skipWhileRunning: ['daily-pipeline'] },
    {
      name: 'alert-evaluation',
      file: 'alert-evaluation',
      cron: everyCron(config.alerting.evalIntervalMs),
      timeoutMs: 60_000,
      why: 'Evaluates the alert rules; firing alerts are posted with their runbook diagnosis (monitoring section).',
      inProcess: true,
      tracking: 'none',
    },
    {
      name: 'escalation-ticker',
      file: 'escalation-ticker',
      cron: everyCron(30_000),
      timeoutMs: 60_000,
      why: 'Escalates unacknowledged incidents at their deadline: Level 1 on-call → 2 team → 3 vendor → 4 emergency (escalation procedures).',
      inProcess: true,
      tracking: 'none',
    },
    { ...WATCHDOG_JOB },
    { ...HEALTH_CHECK_JOB, tracking: 'none' as const }, // every minute: stored as `health.last`, posted only on change
    { ...QUOTA_RESET_JOB },
    { ...RECONCILIATION_JOB },
    { ...MAINTENANCE_WEEKLY_JOB },
    { ...OPTIMIZATION_MONTHLY_JOB },
    { ...REVIEW_QUARTERLY_JOB },
    // with DATABASE_URL pg_dump runs in a worker; the embedded PGlite can only be dumped by the process holding it
    // (its data directory, domain/recovery/embedded-backup.ts), so there the backup runs on the main thread
    { ...BACKUP_JOB, ...(config.db.url ? {} : { inProcess: true }) },
  ];
}

/** The absolute path of `job`'s module, beside this one (`.ts` when run through tsx, `.js` when built). */
export function jobModulePath(job: JobDefinition): string {
  return fileURLToPath(new URL(`./${job.file}.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url));
}
