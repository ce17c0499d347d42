/**
 * Where a job's context comes from (the {@link JobContext} of jobs/job-types.ts), and small helpers the jobs share.
 *
 * - In the service's main thread (catalog `inProcess`, or `JOBS_IN_PROCESS=true`): the {@link JobServices} the
 *   composition root built once (bot/main.ts, {@link mainJobServices}) and handed to the scheduler — the service's
 *   own pool, providers, runbook context and clock ({@link sharedJobContext}).
 * - In a worker thread (jobs/worker-entry.mjs) or the CLI: {@link buildWorkerJobContext} opens what the job module
 *   declares it needs (`needs`: a one-connection pool, or full services with two) from `data.env`, and closes it
 *   after the run.
 *
 * `data.now` (ISO string) overrides the clock (tests, manual back-dated runs) in either case.
 */
import { openDatabase } from '../db/orm.js';
import type { AlertDeps } from '../alerts/dispatch.js';
import { systemClock, type Clock } from '../domain/clock.js';
import { loadConfig } from '../domain/config.js';
import { withLogContext } from '../domain/log-context.js';
import { createLogger } from '../domain/logger.js';
import { buildServices, type Services } from '../domain/services.js';
import type { RunbookContext } from '../runbooks/context.js';
import type { JobContext, JobContextSource, JobData, JobModule, JobNeeds, JobReport, JobServices, OpenJobContext } from './job-types.js';

/** The run's instant: `data.now` when given as an ISO string, else the clock. */
export function jobNow(data: JobData, clock: Clock): Date {
  if (typeof data.now === 'string') {
    const d = new Date(data.now);
    if (Number.isFinite(d.getTime())) return d;
  }
  return clock.now();
}

/** The context of one run of `job` over `base`: the run's data, reporter and instant added. */
export function jobContext(base: JobServices, job: string, data: JobData, report: JobReport): JobContext {
  return { ...base, job, data, report, now: jobNow(data, base.clock) };
}

/**
 * The service's {@link JobServices}, built once by the composition root from its alert dependencies and runbook
 * context (the database and full services are the runbook context's).
 */
export function mainJobServices(deps: AlertDeps & { runbooks: RunbookContext; startedAt?: Date }): JobServices {
  const { services } = deps.runbooks;
  return {
    config: deps.config,
    logger: deps.logger,
    clock: deps.clock,
    em: deps.em,
    db: services.db,
    services,
    runbooks: deps.runbooks,
    ...(deps.startedAt ? { startedAt: deps.startedAt } : {}),
  };
}

/** A {@link JobContextSource} handing every run the shared `base` (nothing to close). */
export function sharedJobContext(base: JobServices): JobContextSource {
  return async (job, data, report) => ({ ctx: jobContext(base, job, data, report), close: async () => undefined });
}

/**
 * A context for one run of `job` in a process without the service's own (a worker thread, the CLI): the
 * configuration from `data.env` over the process environment, and a one-connection pool (`needs: 'database'`) or
 * full services with a two-connection pool whose gateway observations are reported to the main thread
 * (`needs: 'services'`). `close()` releases them. The embedded database's folder is held by the main process: a
 * worker must be handed its socket URL in `data.env`.
 */
export async function buildWorkerJobContext(job: string, data: JobData, report: JobReport, needs: JobNeeds = 'database'): Promise<OpenJobContext> {
  const config = loadConfig({ ...process.env, ...data.env });
  // job and runId come from the run's log context, never the base (a child binding them again wrote `job` twice)
  const logger = createLogger(config.logLevel, { thread: 'worker' });
  if (needs === 'services') {
    const services = await buildServices(config, { logger, poolMax: 2, observer: (observation) => report({ kind: 'gateway', observation }) });
    const base: JobServices = { config, logger, clock: services.clock, em: () => services.orm.em.fork(), db: services.db, services };
    return { ctx: jobContext(base, job, data, report), close: () => services.close() };
  }
  const db = await openDatabase({ url: config.db.url, dataDir: config.db.dataDir, poolMax: 1 });
  const base: JobServices = { config, logger, clock: systemClock, em: () => db.orm.em.fork(), db };
  return { ctx: jobContext(base, job, data, report), close: () => db.close() };
}

/**
 * One run of job module `mod` as `job`, the way every door runs it (a worker thread, the in-process runner, the
 * CLI): its context from `contexts` (opened for what the module `needs`, closed after), every log line of the run
 * carrying the job and `runId` (default `data.runId`). Returns the job's result; throws what it throws.
 */
export async function runJobModule(mod: JobModule, job: string, data: JobData, report: JobReport, contexts: JobContextSource, signal: AbortSignal, runId = data.runId): Promise<unknown> {
  return withLogContext({ job, runId }, async () => {
    const { ctx, close } = await contexts(job, data, report, mod.needs ?? 'database');
    try {
      return await mod.default(ctx, signal);
    } finally {
      await close();
    }
  });
}

/** Runs `fn` with a context of its own for `job` ({@link buildWorkerJobContext}), released after (the CLI, tests). */
export async function withOwnJobContext<T>(job: string, data: JobData, report: JobReport, needs: JobNeeds, fn: (ctx: JobContext) => Promise<T>): Promise<T> {
  const { ctx, close } = await buildWorkerJobContext(job, data, report, needs);
  try {
    return await fn(ctx);
  } finally {
    await close();
  }
}

/**
 * The full services of the run's process.
 * @throws Error when the context has none (a worker job whose module does not declare `needs = 'services'`).
 */
export function requireServices(ctx: JobContext): Services {
  if (!ctx.services) throw new Error(`job ${ctx.job} needs full services, absent from its context: declare \`export const needs = 'services'\` in its module`);
  return ctx.services;
}

/**
 * The service's runbook context.
 * @throws Error when the context has none: the job ran outside the service's main thread (a worker, the CLI).
 */
export function requireRunbooks(ctx: JobContext): RunbookContext {
  if (!ctx.runbooks) throw new Error(`job ${ctx.job} needs the service's runbook context: it runs on the service's main thread only (catalog inProcess)`);
  return ctx.runbooks;
}

/** `YYYY-MM-DDTHH:MM` (UTC) of `d`: the minute, for dedup keys. */
export function minuteStamp(d: Date): string {
  return d.toISOString().slice(0, 16);
}

/** `YYYY-MM-DD` (UTC) of `d`. */
export function dayStamp(d: Date): string {
  return d.toISOString().slice(0, 10);
}
