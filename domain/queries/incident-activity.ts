/**
 * What operators and the assistant did while an incident was open (issue #14 point 8), for its timeline
 * (alerts/incidents.ts incidentTimeline): remediations from `audit_log` (who, what, outcome, the verification in
 * `detail`) and assistant answers from `assistant_answers`, within [from, to].
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** One remediation press or command (`audit_log`, action `remediation:<runbook>/<remediation>`). */
export interface RemediationActivity {
  at: Date;
  actor: string;
  action: string;
  outcome: string;
  detail: string | null;
}

/** One assistant answer (`assistant_answers`). */
export interface AssistantActivity {
  at: Date;
  actor: string;
  question: string;
  rootCause: string | null;
  status: string;
}

/** Remediations audited in [from, to], oldest first. */
export async function remediationsBetween(em: EntityManager, from: Date, to: Date): Promise<RemediationActivity[]> {
  const rows = await em.execute<{ at: Date; actor: string; action: string; outcome: string; detail: string | null }[]>(
    `select at, actor, action, outcome, detail from audit_log where action like 'remediation:%' and at >= ? and at <= ? order by at, id`,
    [from, to],
  );
  return rows.map((r) => ({ ...r, at: new Date(r.at) }));
}

/** Assistant answers asked in [from, to], oldest first. */
export async function assistantAnswersBetween(em: EntityManager, from: Date, to: Date): Promise<AssistantActivity[]> {
  const rows = await em.execute<{ asked_at: Date; actor: string; question: string; root_cause: string | null; status: string }[]>(
    `select asked_at, actor, question, root_cause, status from assistant_answers where asked_at >= ? and asked_at <= ? order by asked_at, id`,
    [from, to],
  );
  return rows.map((r) => ({ at: new Date(r.asked_at), actor: r.actor, question: r.question, rootCause: r.root_cause, status: r.status }));
}

/** The automatic diagnosis stored on one of an incident's alerts (alerts.diagnosis, written by alerts/dispatch.ts). */
export interface IncidentDiagnosis {
  alert: string;
  startsAt: Date | null;
  /** `{ runbook, diagnosis: Diagnosis, … }` as stored, or a bare Diagnosis (runbooks/define.ts). */
  stored: Record<string, unknown>;
}

/** Diagnoses of the alerts linked to an incident (by `incident_id` or its `alert_fingerprint`), oldest alert first. */
export async function incidentDiagnoses(em: EntityManager, incidentId: number, fingerprint: string | null): Promise<IncidentDiagnosis[]> {
  const rows = await em.execute<{ name: string; starts_at: Date | null; diagnosis: Record<string, unknown> | null }[]>(
    `select name, starts_at, diagnosis from alerts where (incident_id = ? or (?::text is not null and fingerprint = ?)) and diagnosis is not null order by id`,
    [incidentId, fingerprint, fingerprint],
  );
  return rows.map((r) => ({ alert: r.name, startsAt: r.starts_at ? new Date(r.starts_at) : null, stored: r.diagnosis ?? {} }));
}

/** One alert linked to an incident, as its timeline shows it: times UTC (null when unknown). */
export interface IncidentAlert {
  fingerprint: string;
  name: string;
  /** `internal` | `alertmanager`. */
  source: string;
  status: string;
  startsAt: Date | null;
  endsAt: Date | null;
  /** As stored by alerts/dispatch.ts (`{ runbook, diagnosis, … }`), or null. */
  diagnosis: Record<string, unknown> | null;
  annotations: Record<string, string>;
  severity: string;
  runbook: string | null;
}

/** The alerts linked to an incident (by `incident_id` or its `alert_fingerprint`), in id order. */
export async function incidentAlerts(em: EntityManager, incidentId: number, fingerprint: string | null): Promise<IncidentAlert[]> {
  const rows = await em.execute<{ fingerprint: string; name: string; source: string; status: string; starts_at: Date | string | null; ends_at: Date | string | null; diagnosis: Record<string, unknown> | null; annotations: Record<string, string>; severity: string; runbook: string | null }[]>(
    'select fingerprint, name, source, status, starts_at, ends_at, diagnosis, annotations, severity, runbook from alerts where incident_id = ? or (?::text is not null and fingerprint = ?) order by id',
    [incidentId, fingerprint, fingerprint],
  );
  return rows.map((a) => ({
    fingerprint: a.fingerprint,
    name: a.name,
    source: a.source,
    status: a.status,
    startsAt: a.starts_at ? new Date(a.starts_at) : null,
    endsAt: a.ends_at ? new Date(a.ends_at) : null,
    diagnosis: a.diagnosis,
    annotations: a.annotations,
    severity: a.severity,
    runbook: a.runbook,
  }));
}
