/**
 * An incident's timeline: its events merged with its alerts (fired, automatic diagnosis, resolved), the
 * remediations run and the assistant answers given while it was open, oldest first.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { isRecord } from '../../domain/providers/http-errors.js';
import { assistantAnswersBetween, incidentAlerts, remediationsBetween } from '../../domain/queries/incident-activity.js';
import { incidentEvents, type IncidentRow } from '../../domain/queries/incidents.js';
import { requireIncident } from './actions.js';

/** One line of an incident timeline. */
export interface TimelineEntry {
  at: Date;
  /** declared | paged | escalated | escalation_exhausted | acknowledged | resolved | note | duplicate | refused | alert_fired | alert_resolved | diagnosis | … */
  kind: string;
  /** Who: `slack:U123`, `cli:alice`, `alert:<name>`, `escalation`, `runbook:<id>`. */
  actor: string;
  detail: string;
  data: Record<string, unknown>;
}

/** A timeline entry with its tie-break rank among entries of the same time (alert fired < diagnosis < event < alert resolved). */
type RankedEntry = TimelineEntry & { order: number };

const records = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? v.filter(isRecord) : []);

/**
 * One line for a stored diagnosis. The alert stores `{ runbook, diagnosis: Diagnosis, nonce, issuedAt }`
 * (alerts/dispatch.ts storedDiagnosis): the findings are one level down (read at the wrong depth they looked
 * like "no root cause indicated (0 of 0 checks)"); a bare Diagnosis is accepted too.
 */
export function diagnosisLine(stored: Record<string, unknown>): string {
  const diag = isRecord(stored.diagnosis) ? stored.diagnosis : stored;
  const causes = records(diag.rootCauses);
  const results = records(diag.results);
  const problems = results.filter((r) => {
    const status = isRecord(r.finding) ? r.finding.status : undefined;
    return status === 'problem' || status === 'warn';
  }).length;
  const title = typeof diag.title === 'string' ? diag.title : String(diag.runbook ?? 'runbook');
  return `${title}: ${causes.length ? `root cause ${causes.map((c) => c.title).join('; ')}` : 'no root cause indicated'} (${problems} of ${results.length} checks warn or fail)`;
}

/** The entries of the incident's alerts: fired, its automatic diagnosis, resolved. */
async function alertEntries(em: EntityManager, incident: IncidentRow): Promise<RankedEntry[]> {
  const entries: RankedEntry[] = [];
  for (const a of await incidentAlerts(em, incident.id, incident.alertFingerprint)) {
    const actor = a.source === 'alertmanager' ? `alertmanager:${a.name}` : `alert:${a.name}`;
    const start = a.startsAt ?? incident.declaredAt;
    const summary = a.annotations?.summary ?? a.annotations?.description ?? '';
    entries.push({ at: start, kind: 'alert_fired', actor, detail: `${a.name} (${a.severity}) firing${summary ? `: ${summary}` : ''}`, data: { fingerprint: a.fingerprint }, order: 0 });
    if (a.diagnosis)
      entries.push({ at: start, kind: 'diagnosis', actor: `runbook:${String(a.diagnosis.runbook ?? a.runbook ?? '?')}`, detail: diagnosisLine(a.diagnosis), data: { fingerprint: a.fingerprint }, order: 0.5 });
    if (a.status === 'resolved' && a.endsAt) entries.push({ at: a.endsAt, kind: 'alert_resolved', actor, detail: `${a.name} resolved`, data: { fingerprint: a.fingerprint }, order: 2 });
  }
  return entries;
}

/** Remediations (who, what, outcome, the verification they report) and assistant answers while the incident was open. */
async function activityEntries(em: EntityManager, incident: IncidentRow): Promise<RankedEntry[]> {
  const entries: RankedEntry[] = [];
  const until = incident.resolvedAt ?? new Date('9999-12-31T00:00:00Z');
  for (const r of await remediationsBetween(em, incident.declaredAt, until))
    entries.push({ at: r.at, kind: 'remediation', actor: r.actor, detail: `${r.action.replace(/^remediation:/, '')}: ${r.outcome}${r.detail ? ` — ${r.detail}` : ''}`, data: { action: r.action, outcome: r.outcome }, order: 1 });
  for (const a of await assistantAnswersBetween(em, incident.declaredAt, until))
    entries.push({ at: a.at, kind: 'assistant_answer', actor: a.actor, detail: `asked "${a.question.slice(0, 160)}": ${a.status}${a.rootCause ? `, root cause ${a.rootCause}` : ''}`, data: {}, order: 1 });
  return entries;
}

/**
 * The incident's timeline, oldest first: its events (declared, pages, escalations, acknowledgements, button
 * presses including refused/duplicate ones, notes, resolution) merged with its alerts from the `alerts` table
 * (by `alert_fingerprint` or `incident_id`): fired, automatic diagnosis, resolved.
 * @throws NotFoundError for an unknown id.
 */
export async function incidentTimeline(em: EntityManager, id: number): Promise<{ incident: IncidentRow; entries: TimelineEntry[] }> {
  const incident = await requireIncident(em, id);
  const events = await incidentEvents(em, id);
  const entries: RankedEntry[] = events.map((e) => ({ at: e.at, kind: e.kind, actor: e.actor, detail: e.detail, data: e.data, order: 1 }));
  entries.push(...(await alertEntries(em, incident)), ...(await activityEntries(em, incident)));
  entries.sort((x, y) => x.at.getTime() - y.at.getTime() || x.order - y.order);
  return { incident, entries: entries.map(({ order: _o, ...e }) => e) };
}
