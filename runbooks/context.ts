/**
 * What every runbook diagnostic and remediation receives. Built by the service (bot/main.ts, with the live
 * scheduler), by the CLI (bot/cli.ts, jobs run in-process) and by tests (test/helpers/runbooks.ts).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Replayer } from '../domain/intake/replay.js';
import type { Services } from '../domain/services.js';

/** A job's state as operators see it (`/lf jobs`). Times in UTC. */
export interface JobInfo {
  name: string;
  /** Cron expression (UTC) from the job catalog. */
  cron: string;
  why: string;
  /** Paused jobs are skipped by the scheduler until resumed (setting `jobs.paused.<name>`, persisted). */
  paused: boolean;
  /** A run of this job is `running` in job_runs. */
  running: boolean;
  /** Next time the schedule fires (cron-parser), undefined for an invalid expression. */
  nextRunAt?: Date;
  /** The last run: `id` is its job_runs id, 0 for the frequent jobs recorded only in job_ticks. */
  lastRun?: { id: number; status: string; trigger: string | null; startedAt: Date; finishedAt: Date | null };
}

/** Job control for runbooks and `/lf run|pause|resume|jobs`. `actor` is audited (e.g. `slack:U123`). */
export interface JobControl {
  list(): Promise<JobInfo[]>;
  /**
   * Starts a run now unless one is running. `detail` says what happened in one sentence; `failed` is true when
   * the run was done here (the CLI, in-process) and ended failed.
   */
  runNow(name: string, actor: string): Promise<{ started: boolean; detail: string; failed?: boolean }>;
  pause(name: string, actor: string): Promise<void>;
  resume(name: string, actor: string): Promise<void>;
  /** Cancels a job's running worker (its run is marked interrupted and resumed on the next run). */
  restartWorker(name: string, actor: string): Promise<{ restarted: boolean; detail: string }>;
}

/** Process probes, injectable so tests can pose as a process under pressure. */
export interface ProcessProbes {
  memoryUsage(): NodeJS.MemoryUsage;
  /** Event-loop delay (ms): p99 over the last sampling window. */
  eventLoopLagMs(): number;
  freeMemBytes(): number;
  totalMemBytes(): number;
}

/** The runbook context. Diagnostics must only read; remediations may write and are audited by the caller. */
export interface RunbookContext {
  services: Services;
  /** A fresh EntityManager fork: take one per diagnostic (forks are not shared across concurrent work). */
  em(): EntityManager;
  jobs: JobControl;
  probes: ProcessProbes;
  /**
   * Dead-letter replayers for sources processed above the runbook layer (e.g. `alertmanager` → alerts/dispatch), set
   * by the service's composition root; absent in the CLI (those dead letters are replayed from Slack).
   */
  replayers?: Partial<Record<string, Replayer>>;
}
