/**
 * Named queries over job activity (issue #14 point 3): every job's last start and end, including the frequent
 * in-process jobs that keep no `job_runs` row per tick (alert evaluation, escalation ticker, health check, the
 * watchdog). The scheduler records each start and end in `job_ticks` ({@link recordJobTick}); `/lf jobs`, the
 * watchdog, the JobNotRunning rule and the gauge read {@link jobActivity} / {@link jobsNotRunning}.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { nextCronRun, prevCronRun } from '../schedule.js';

/** A job's last activity. Times in UTC. */
export interface JobActivity {
  job: string;
  lastStartedAt?: Date;
  lastFinishedAt?: Date;
  /** Outcome of the last finished run: the job's reported status (`succeeded`, `failed`, `skipped`, …). */
  lastStatus?: string;
  lastError?: string;
  runs: number;
  failures: number;
}

/** Records a start (`phase` start) or an end (with `status`, `error`) of a job run. Never throws on a race. */
export async function recordJobTick(em: EntityManager, job: string, phase: 'start' | 'end', now: Date, outcome: { status?: string; error?: string } = {}): Promise<void> {
  if (phase === 'start') {
    await em.execute(
      `insert into job_ticks (job, last_started_at, runs, failures) values (?, ?, 1, 0)
       on conflict (job) do update set last_started_at = excluded.last_started_at, runs = job_ticks.runs + 1`,
      [job, now],
    );
    return;
  }
  const failed = outcome.error !== undefined || outcome.status === 'failed';
  await em.execute(
    `insert into job_ticks (job, last_finished_at, last_status, last_error, runs, failures) values (?, ?, ?, ?, 0, ?)
     on conflict (job) do update set last_finished_at = excluded.last_finished_at, last_status = excluded.last_status,
       last_error = excluded.last_error, failures = job_ticks.failures + excluded.failures`,
    [job, now, outcome.status ?? (failed ? 'failed' : 'succeeded'), outcome.error?.slice(0, 2000) ?? null, failed ? 1 : 0],
  );
}

/**
 * Every job's last activity: `job_ticks` merged with `job_runs` (the later of both per field), so jobs started
 * outside the scheduler (the CLI) count too.
 */
export async function jobActivity(em: EntityManager): Promise<Map<string, JobActivity>> {
  const conn = em.getConnection();
  const ticks = await conn.execute<{ job: string; last_started_at: Date | null; last_finished_at: Date | null; last_status: string | null; last_error: string | null; runs: number; failures: number }[]>(
    'select job, last_started_at, last_finished_at, last_status, last_error, runs, failures from job_ticks',
  );
  const runs = await conn.execute<{ job: string; started_at: Date; finished_at: Date | null; status: string; error: string | null }[]>(
    `select distinct on (job) job, started_at, finished_at, status, error from job_runs order by job, started_at desc, id desc`,
  );
  const out = new Map<string, JobActivity>();
  const d = (v: Date | null | undefined) => (v ? new Date(v) : undefined);
  for (const t of ticks)
    out.set(t.job, { job: t.job, lastStartedAt: d(t.last_started_at), lastFinishedAt: d(t.last_finished_at), lastStatus: t.last_status ?? undefined, lastError: t.last_error ?? undefined, runs: t.runs, failures: t.failures });
  for (const r of runs) {
    const cur = out.get(r.job) ?? { job: r.job, runs: 0, failures: 0 };
    const started = new Date(r.started_at);
    if (!cur.lastStartedAt || started > cur.lastStartedAt) cur.lastStartedAt = started;
    const finished = d(r.finished_at);
    if (finished && (!cur.lastFinishedAt || finished >= cur.lastFinishedAt)) {
      cur.lastFinishedAt = finished;
      cur.lastStatus = r.status;
      cur.lastError = r.error ?? undefined;
    }
    out.set(r.job, cur);
  }
  return out;
}

/** A job the watchdog and the rule expect to run: its name and cron (UTC; 5 or 6 fields). */
export interface ExpectedJob {
  name: string;
  cron: string;
  paused?: boolean;
}

/** A job that has not started when its schedule said it should. */
export interface NotRunningJob {
  job: string;
  /** The fire time it missed (UTC). */
  dueAt: Date;
  lastStartedAt?: Date;
  /** The schedule's period around `dueAt` (ms). */
  periodMs: number;
}

/** How late a start may be before a job counts as not running (ms); jobs firing more often: see {@link lateAfterMs}. */
export const NOT_RUNNING_GRACE_MS = 10 * 60_000;

/** Lateness allowed for a job of period `periodMs`: 10 min, or for jobs firing more often 3 periods (at least 2 min). */
export function lateAfterMs(periodMs: number): number {
  return periodMs < NOT_RUNNING_GRACE_MS ? Math.min(NOT_RUNNING_GRACE_MS, Math.max(3 * periodMs, 2 * 60_000)) : NOT_RUNNING_GRACE_MS;
}

/**
 * Jobs not running at `now`: a fire time `dueAt` passed more than {@link lateAfterMs} ago, after `since` (when watching began: a fresh install is not blamed for fires before it existed), and the
 * job has not started since one period before it. Paused jobs are left out. Frequent jobs (every 30 s) count
 * like the others, from `job_ticks`.
 */
export async function jobsNotRunning(em: EntityManager, jobs: readonly ExpectedJob[], now: Date, since: Date): Promise<NotRunningJob[]> {
  const activity = await jobActivity(em);
  const out: NotRunningJob[] = [];
  for (const j of jobs) {
    if (j.paused) continue;
    const last = activity.get(j.name)?.lastStartedAt;
    const latest = prevCronRun(j.cron, now);
    if (!latest) continue;
    const next = nextCronRun(j.cron, latest);
    const periodMs = next ? Math.max(1000, next.getTime() - latest.getTime()) : 24 * 3600 * 1000;
    const lateAfter = lateAfterMs(periodMs);
    // the latest fire time that is already overdue
    const due = prevCronRun(j.cron, new Date(now.getTime() - lateAfter));
    if (!due || due < since) continue;
    if (last && last.getTime() >= due.getTime() - Math.min(periodMs, 60_000)) continue;
    out.push({ job: j.name, dueAt: due, ...(last ? { lastStartedAt: last } : {}), periodMs });
  }
  return out;
}
