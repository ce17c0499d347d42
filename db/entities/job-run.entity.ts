import { defineEntity, type InferEntity } from '@mikro-orm/core';

/** Job run status; `interrupted` = the process stopped while it ran. */
export const JOB_RUN_STATUSES = ['running', 'succeeded', 'failed', 'stalled', 'interrupted'] as const;
export type JobRunStatus = (typeof JOB_RUN_STATUSES)[number];

/**
 * One run of a scheduled job. `counts` maps a stage or counter name to a count (e.g. `{ sourced: 20,
 * assessed: 18 }`); `heartbeatAt` is touched while it runs; `error` holds the failure message.
 */
export const JobRun = defineEntity({
  name: 'JobRun',
  tableName: 'job_runs',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    job: p.string().index(),
    status: p.enum([...JOB_RUN_STATUSES]).default('running'),
    trigger: p.string().default('schedule'),
    startedAt: p.datetime().columnType('timestamptz').onCreate(() => new Date()).index(),
    heartbeatAt: p.datetime().columnType('timestamptz').onCreate(() => new Date()),
    finishedAt: p.datetime().columnType('timestamptz').nullable(),
    counts: p.json<Record<string, number>>().default('{}'),
    error: p.text().nullable(),
    /** Who holds the run (domain/leases.ts `host:pid:boot`); renewed by the holder while it runs. */
    leaseHolder: p.string().nullable(),
    /** When the holder's lease runs out; past it the scheduler leader's reaper marks the run `interrupted`. */
    leaseExpiresAt: p.datetime().columnType('timestamptz').nullable(),
  }),
  // At most one running run per job, across threads, processes and replicas (no overlapping runs).
  indexes: [
    {
      name: 'job_runs_one_running_per_job',
      expression: `create unique index "job_runs_one_running_per_job" on "job_runs" ("job") where "status" = 'running'`,
    },
  ],
});
/** Inferred entity type of {@link JobRun}. */
export type IJobRun = InferEntity<typeof JobRun>;

/**
 * Every job's last start and end (one row per job, upserted by the scheduler for every run, tracked in job_runs
 * or not), so the frequent in-process jobs (every 30–60 s) are watched and shown like the others (issue #14).
 */
export const JobTick = defineEntity({
  name: 'JobTick',
  tableName: 'job_ticks',
  properties: (p) => ({
    job: p.string().primary(),
    lastStartedAt: p.datetime().columnType('timestamptz').nullable(),
    lastFinishedAt: p.datetime().columnType('timestamptz').nullable(),
    /** The job's reported status of its last finished run (`succeeded`, `failed`, `skipped`, …). */
    lastStatus: p.string().nullable(),
    lastError: p.text().nullable(),
    runs: p.integer().default(0),
    failures: p.integer().default(0),
  }),
});
/** Inferred entity type of {@link JobTick}. */
export type IJobTick = InferEntity<typeof JobTick>;
