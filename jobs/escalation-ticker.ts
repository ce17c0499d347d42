/**
 * Bree job: one escalation pass (alerts/incidents.ts `escalationTick`) — every open incident past its
 * acknowledgement deadline goes up one level and pages it. Deadlines live in the database, so this job can run in
 * a worker thread, in-process, on any replica, after any restart; two passes at once escalate an incident once.
 * Each pass also posts on-call hand-offs (alerts/paging/handoff.ts). Schedule it every minute (the lead wires it into jobs/catalog.ts); a page is then at most a minute late.
 *
 * `runEscalationTick(deps)` is the in-process entry (the service's own ticker, tests); the default export is the
 * worker entry (opens a small database pool from the job's env, runs one pass, closes).
 */
import { escalationTick, type EscalationDeps, type EscalationTickResult } from '../alerts/incidents.js';
import { postHandoffs } from '../alerts/paging/handoff.js';
import { openDatabase } from '../db/orm.js';
import { systemClock } from '../domain/clock.js';
import { loadConfig } from '../domain/config.js';
import { createLogger } from '../domain/logger.js';
import type { JobData, JobReport } from './job-types.js';
import { hasInProcessContext, inProcessContext } from './in-process.js';

/** One escalation pass with the given dependencies at the clock's now, then the on-call hand-off posts. */
export async function runEscalationTick(deps: EscalationDeps): Promise<EscalationTickResult> {
  const now = deps.clock.now();
  const result = await escalationTick(deps, now);
  try {
    await postHandoffs(deps.em(), deps.config, now);
  } catch (err) {
    deps.logger.error({ err: (err as Error).message }, 'on-call hand-off posts failed; retried next pass');
  }
  return result;
}

/** Worker entry: one pass on the database named by the job's env; reports `progress` with the count escalated. */
export default async function escalationTicker(data: JobData, report: JobReport): Promise<EscalationTickResult> {
  // in the service (catalog `inProcess`), the main process's services
  if (hasInProcessContext()) {
    const ctx = inProcessContext();
    const result = await runEscalationTick({ em: ctx.em, config: ctx.config, clock: ctx.clock, logger: ctx.logger });
    if (result.escalated.length || result.exhausted.length) ctx.logger.info({ escalated: result.escalated, exhausted: result.exhausted }, 'escalation pass done');
    return result;
  }
  const config = loadConfig({ ...process.env, ...data.env });
  const logger = createLogger(config.logLevel, { thread: 'worker' }); // job and runId come from the run's log context
  const db = await openDatabase({ url: config.db.url, dataDir: config.db.dataDir, poolMax: 2 });
  try {
    const result = await runEscalationTick({ em: () => db.orm.em.fork(), config, clock: systemClock, logger });
    report({ kind: 'progress', stage: 'escalated', n: result.escalated.length });
    if (result.escalated.length || result.exhausted.length) logger.info({ escalated: result.escalated, exhausted: result.exhausted }, 'escalation pass done');
    return result;
  } finally {
    await db.close();
  }
}
