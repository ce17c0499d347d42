/**
 * The job watchdog (in-process, every minute): from each job's own schedule, detects runs that were **missed** (the
 * schedule fired more than {@link GRACE_MS} ago and no run started), **late** (started more than {@link GRACE_MS}
 * after the fire time) and **stuck** (running, heartbeat older than {@link STUCK_MS}), and records each once as an
 * ops event (`job.missed`, `job.late`, `job.stuck`; dedup key per job and fire time or run), which the notifier posts.
 * Paused jobs are not watched. The frequent jobs that keep no job_runs row (alert evaluation, escalation ticker,
 * health check, this watchdog) are watched from `job_ticks` (domain/queries/jobs.ts jobsNotRunning): one
 * `job.missed` per stop (dedup key per job and last start). Fire times before the watchdog first ran on this database
 * (setting `jobs.watchdog.since`) are ignored, so a fresh install reports nothing it never promised.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AppConfig } from '../domain/config.js';
import { recordOpsEvent } from '../domain/events.js';
import { prevCronRun } from '../domain/schedule.js';
import { jobsNotRunning, type ExpectedJob } from '../domain/queries/jobs.js';
import { firstRunStartedSince, staleRunningRuns } from '../domain/queries/runs.js';
import { getSetting, setSetting } from '../domain/settings.js';
import { jobCatalog } from './catalog.js';
import { isJobPaused } from './control.js';
import type { JobContext } from './job-types.js';

/** A fire time this long ago with no run is missed; a run starting this long after it is late (ms). */
export const GRACE_MS = 10 * 60_000;
/** A running run whose heartbeat is older than this is stuck (ms). */
export const STUCK_MS = 15 * 60_000;
/** Setting holding when the watchdog first watched this database (ISO time). */
export const WATCHDOG_SINCE_SETTING = 'jobs.watchdog.since';

/** The catalog entry of the watchdog itself. */
export const WATCHDOG_JOB = {
  name: 'job-watchdog',
  file: 'watchdog',
  cron: '* * * * *',
  timeoutMs: 60_000,
  why: 'Detects missed, late and stuck job runs from each job’s own schedule and posts each once (prevention: job monitoring).',
  inProcess: true,
  tracking: 'none',
} as const;

/** What one pass found (each newly recorded event). */
export interface WatchdogFindings {
  missed: { job: string; dueAt: string }[];
  late: { job: string; dueAt: string; startedAt: string }[];
  stuck: { job: string; runId: number; heartbeatAt: string }[];
}

/** One pass at `now`. */
export async function watchJobs(em: EntityManager, config: AppConfig, now: Date): Promise<WatchdogFindings> {
  const out: WatchdogFindings = { missed: [], late: [], stuck: [] };
  let sinceIso = await getSetting<string>(em, WATCHDOG_SINCE_SETTING);
  if (!sinceIso) {
    sinceIso = now.toISOString();
    await setSetting(em, WATCHDOG_SINCE_SETTING, sinceIso, 'system:watchdog', now);
  }
  const since = new Date(sinceIso);
  const frequent: ExpectedJob[] = [];
  for (const job of jobCatalog(config)) {
    if ((job.tracking ?? 'scheduler') === 'none') {
      frequent.push({ name: job.name, cron: job.cron, paused: await isJobPaused(em, job.name) });
      continue;
    }
    const stuck = await staleRunningRuns(em, job.name, new Date(now.getTime() - STUCK_MS));
    for (const r of stuck) {
      const heartbeatAt = r.heartbeatAt.toISOString();
      const added = await recordOpsEvent(
        em,
        { type: 'job.stuck', severity: 'warning', dedupKey: `job.stuck:${job.name}:${r.id}`, payload: { job: job.name, runId: r.id, heartbeatAt } },
        now,
      );
      if (added) out.stuck.push({ job: job.name, runId: r.id, heartbeatAt });
    }
    if (await isJobPaused(em, job.name)) continue;
    const due = prevCronRun(job.cron, now);
    if (!due || due < since || now.getTime() - due.getTime() < GRACE_MS) continue;
    const startedAt = await firstRunStartedSince(em, job.name, new Date(due.getTime() - 60_000));
    const dueAt = due.toISOString();
    if (!startedAt) {
      const added = await recordOpsEvent(em, { type: 'job.missed', severity: 'warning', dedupKey: `job.missed:${job.name}:${dueAt}`, payload: { job: job.name, dueAt, cron: job.cron } }, now);
      if (added) out.missed.push({ job: job.name, dueAt });
    } else if (startedAt.getTime() - due.getTime() > GRACE_MS) {
      const startedIso = startedAt.toISOString();
      const added = await recordOpsEvent(em, { type: 'job.late', severity: 'info', dedupKey: `job.late:${job.name}:${dueAt}`, payload: { job: job.name, dueAt, startedAt: startedIso } }, now);
      if (added) out.late.push({ job: job.name, dueAt, startedAt: startedIso });
    }
  }
  for (const j of await jobsNotRunning(em, frequent, now, since)) {
    const dueAt = j.dueAt.toISOString();
    const last = j.lastStartedAt?.toISOString() ?? 'never';
    const cron = frequent.find((f) => f.name === j.job)?.cron;
    const added = await recordOpsEvent(em, { type: 'job.missed', severity: 'warning', dedupKey: `job.missed:${j.job}:since:${last}`, payload: { job: j.job, dueAt, cron, lastStartedAt: last } }, now);
    if (added) out.missed.push({ job: j.job, dueAt });
  }
  return out;
}

/** The job (in-process in the catalog): one pass on the context's database at its clock's now. */
export default async function watchdog(ctx: JobContext): Promise<{ status: string; missed: number; late: number; stuck: number }> {
  const f = await watchJobs(ctx.em(), ctx.config, ctx.clock.now());
  return { status: 'succeeded', missed: f.missed.length, late: f.late.length, stuck: f.stuck.length };
}
