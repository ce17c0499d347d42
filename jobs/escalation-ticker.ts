/**
 * Job: one escalation pass (alerts/incidents.ts `escalationTick`) — every open incident past its
 * acknowledgement deadline goes up one level and pages it. Deadlines live in the database, so this job can run in
 * a worker thread, in-process, on any replica, after any restart; two passes at once escalate an incident once.
 * Each pass also posts on-call hand-offs (alerts/paging/handoff.ts). The catalog runs it every 30 s, in-process; a
 * page is then at most 30 s late.
 *
 * `runEscalationTick(deps)` is one pass with explicit dependencies (tests); the default export is the job (one pass
 * on its context's database and clock).
 */
import { escalationTick, type EscalationDeps, type EscalationTickResult } from '../alerts/incidents.js';
import { postHandoffs } from '../alerts/paging/handoff.js';
import type { JobContext } from './job-types.js';

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

/** The job: one pass on the context's database and clock; reports `progress` with the count escalated. */
export default async function escalationTicker(ctx: JobContext): Promise<EscalationTickResult> {
  const { logger } = ctx;
  const result = await runEscalationTick({ em: ctx.em, config: ctx.config, clock: ctx.clock, logger });
  ctx.report({ kind: 'progress', stage: 'escalated', n: result.escalated.length });
  if (result.escalated.length || result.exhausted.length) logger.info({ escalated: result.escalated, exhausted: result.exhausted }, 'escalation pass done');
  return result;
}
