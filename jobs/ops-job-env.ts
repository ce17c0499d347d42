/**
 * Shared plumbing of the scheduled operations jobs (health check, quota reset, reconciliation, maintenance,
 * optimisation and review reports): where their database (and, for reconciliation, providers) come from, and the
 * clock they read.
 *
 * - In the service's main thread (catalog `inProcess`, or `JOBS_IN_PROCESS=true`), the registered in-process
 *   context (jobs/in-process.ts): the service's own pool, providers and clock.
 * - In a worker thread, a small pool of its own from `data.env` (like jobs/backup.ts), closed afterwards.
 *
 * `data.now` (ISO string) overrides the clock (tests, manual back-dated runs).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { withLogContext } from '../domain/log-context.js';
import { openDatabase } from '../db/orm.js';
import { systemClock, type Clock } from '../domain/clock.js';
import { loadConfig, type AppConfig } from '../domain/config.js';
import { createLogger, type Logger } from '../domain/logger.js';
import { buildServices, type Services } from '../domain/services.js';
import type { JobData, JobReport } from './job-types.js';
import { hasInProcessContext, inProcessContext } from './in-process.js';

/** What a database-only ops job gets. */
export interface OpsJobEnv {
  em(): EntityManager;
  config: AppConfig;
  logger: Logger;
  /** When this run happens (the clock, or `data.now`). */
  now: Date;
}

/** The run's instant: `data.now` when given as an ISO string, else the clock. */
export function jobNow(data: JobData, clock: Clock): Date {
  if (typeof data.now === 'string') {
    const d = new Date(data.now);
    if (Number.isFinite(d.getTime())) return d;
  }
  return clock.now();
}

/** Runs `fn` with a database: the in-process context's, or a one-connection pool opened from `data.env` and closed after. */
export async function withJobDatabase<T>(data: JobData, job: string, fn: (env: OpsJobEnv) => Promise<T>): Promise<T> {
  if (hasInProcessContext()) {
    const ctx = inProcessContext();
    return fn({ em: ctx.em, config: ctx.config, logger: ctx.logger, now: jobNow(data, ctx.clock) });
  }
  const config = loadConfig({ ...process.env, ...data.env });
  const logger = createLogger(config.logLevel, { thread: 'worker' }); // job and runId come from the log context, never the base (a child binding them again wrote `job` twice)
  // the embedded folder is held by the main process: a worker must be handed its socket URL in data.env
  const db = await openDatabase({ url: config.db.url, dataDir: config.db.dataDir, poolMax: 1 });
  try {
    return await withLogContext({ job }, () => fn({ em: () => db.orm.em.fork(), config, logger, now: jobNow(data, systemClock) }));
  } finally {
    await db.close();
  }
}

/**
 * Runs `fn` with full services (providers behind the gateway): the in-process context's, or services built with a
 * two-connection pool from `data.env` (gateway observations forwarded to the main thread's metrics), closed after.
 */
export async function withJobServices<T>(data: JobData, report: JobReport, job: string, fn: (services: Services, now: Date) => Promise<T>): Promise<T> {
  if (hasInProcessContext()) {
    const services = inProcessContext().runbooks.services;
    return fn(services, jobNow(data, services.clock));
  }
  const config = loadConfig({ ...process.env, ...data.env });
  const logger = createLogger(config.logLevel, { thread: 'worker' }); // job and runId come from the log context, never the base (a child binding them again wrote `job` twice)
  const services = await buildServices(config, { logger, poolMax: 2, observer: (observation) => report({ kind: 'gateway', observation }) });
  try {
    return await withLogContext({ job }, () => fn(services, jobNow(data, services.clock)));
  } finally {
    await services.close();
  }
}

/** `YYYY-MM-DDTHH:MM` (UTC) of `d`: the minute, for dedup keys. */
export function minuteStamp(d: Date): string {
  return d.toISOString().slice(0, 16);
}

/** `YYYY-MM-DD` (UTC) of `d`. */
export function dayStamp(d: Date): string {
  return d.toISOString().slice(0, 10);
}
