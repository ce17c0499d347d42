/**
 * The escalation ticker: an `open` incident whose ack deadline has passed goes up one level and pages it (the
 * deadline lives in the database, so a restarted process or another replica carries the timer on).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { ACK_DEADLINE_MS } from '../../domain/alerting/config.js';
import type { Clock } from '../../domain/clock.js';
import type { AppConfig } from '../../domain/config.js';
import { toAppError } from '../../domain/errors.js';
import type { Logger } from '../../domain/logger.js';
import { escalateOverdueIncident, incidentsPastDeadline, insertIncidentEvent } from '../../domain/queries/incidents.js';
import type { IncidentSeverity } from '../../db/entities/alerting.entity.js';
import { announceEscalation, enqueueUpdate } from './notify.js';
import { LEVEL_NAMES, MAX_LEVEL } from './policy.js';

/** Dependencies of {@link escalationTick}: a fresh EntityManager per call of `em()`. */
export interface EscalationDeps {
  em(): EntityManager;
  config: AppConfig;
  clock: Clock;
  logger: Logger;
}

/** What one {@link escalationTick} did. */
export interface EscalationTickResult {
  escalated: { id: number; from: number; to: number }[];
  /** Incidents past their Level 4 deadline: no further level; the deadline is cleared. */
  exhausted: number[];
}

/** Claims and escalates one overdue incident in its own transaction; undefined when another replica got it first. */
async function escalateOne(deps: EscalationDeps, em: EntityManager, d: { id: number; level: number; severity: IncidentSeverity }, now: Date): Promise<{ level: number; exhausted: boolean } | undefined> {
  const deadline = new Date(now.getTime() + ACK_DEADLINE_MS[d.severity]);
  return em.transactional(async (tx) => {
    const inc = await escalateOverdueIncident(tx, d.id, d.level, MAX_LEVEL, deadline, now);
    if (!inc) return undefined;
    if (d.level >= MAX_LEVEL) {
      const ev = await insertIncidentEvent(tx, inc.id, now, 'escalation_exhausted', 'escalation', `not acknowledged at ${LEVEL_NAMES[MAX_LEVEL]}; no higher level to page`, { level: MAX_LEVEL });
      await enqueueUpdate(tx, inc, deps.config, now, `ev${ev}`, `:sos: ${inc.severity} incident #${inc.id} is still not acknowledged at ${LEVEL_NAMES[MAX_LEVEL]}; there is no higher level.`);
      return { level: inc.level, exhausted: true };
    }
    await announceEscalation(tx, inc, d.level, 'escalation', `not acknowledged by its deadline`, now, deps.config);
    return { level: inc.level, exhausted: false };
  });
}

/**
 * One escalation pass at `now` (default the clock's): every `open` incident with `ack_deadline <= now` goes up
 * one level and pages it with a fresh deadline; one already at Level 4 gets its deadline cleared and a thread
 * note (`escalation_exhausted`). Each incident is claimed by `update … where level = <seen> and status = 'open'
 * and ack_deadline <= now returning`, so replicas ticking together escalate it once. Errors on one incident are
 * logged and the pass goes on.
 */
export async function escalationTick(deps: EscalationDeps, now: Date = deps.clock.now()): Promise<EscalationTickResult> {
  const em = deps.em();
  const out: EscalationTickResult = { escalated: [], exhausted: [] };
  for (const d of await incidentsPastDeadline(em, now, 200)) {
    try {
      const r = await escalateOne(deps, em, d, now);
      if (!r) continue;
      if (r.exhausted) out.exhausted.push(d.id);
      else out.escalated.push({ id: d.id, from: d.level, to: r.level });
      deps.logger.info({ incident: d.id, from: d.level, to: r.level, exhausted: r.exhausted }, 'incident escalated: not acknowledged by its deadline');
    } catch (err) {
      deps.logger.error({ incident: d.id, err: toAppError(err).message }, 'incident escalation failed; retried next tick');
    }
  }
  return out;
}
