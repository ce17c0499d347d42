/**
 * Named queries over `incidents` and `incident_events` (db/entities/alerting.entity.ts). Rows come back camelCase
 * with UTC `Date`s; the state changes are conditional `update … where <expected state> returning`, so a caller
 * that gets `undefined` lost the race (or the incident is not in that state) and changed nothing.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { IncidentSeverity, IncidentStatus } from '../../db/entities/alerting.entity.js';

/** A stored incident (table `incidents`). Times are UTC `Date`s; actors are ids like `slack:U123` or `alert:PipelineDown`. */
export interface IncidentRow {
  id: number;
  title: string;
  severity: IncidentSeverity;
  status: IncidentStatus;
  /** Escalation level 1–4. */
  level: number;
  provider: string | null;
  runbook: string | null;
  alertFingerprint: string | null;
  declaredBy: string;
  declaredAt: Date;
  /** When the current level must have acknowledged; null once acknowledged/resolved or past Level 4. */
  ackDeadline: Date | null;
  acknowledgedBy: string | null;
  acknowledgedAt: Date | null;
  resolvedBy: string | null;
  resolvedAt: Date | null;
  updatedAt: Date;
}

/** One stored `incident_events` row: `data` is the event's JSON (an empty object when none was stored). */
export interface IncidentEventRow {
  id: number;
  at: Date;
  kind: string;
  actor: string;
  detail: string;
  data: Record<string, unknown>;
}

const COLS = `id, title, severity, status, level, provider, runbook, alert_fingerprint, declared_by, declared_at, ack_deadline,
  acknowledged_by, acknowledged_at, resolved_by, resolved_at, updated_at`;

/** An `incidents` row as the driver returns it: snake_case columns, timestamps as Date (or text). */
interface IncidentColumns {
  id: number;
  title: string;
  severity: IncidentSeverity;
  status: IncidentStatus;
  level: number;
  provider: string | null;
  runbook: string | null;
  alert_fingerprint: string | null;
  declared_by: string;
  declared_at: Date | string;
  ack_deadline: Date | string | null;
  acknowledged_by: string | null;
  acknowledged_at: Date | string | null;
  resolved_by: string | null;
  resolved_at: Date | string | null;
  updated_at: Date | string;
}

const dateOrNull = (v: Date | string | null) => (v ? new Date(v) : null);

function toIncident(r: IncidentColumns): IncidentRow {
  return {
    id: r.id,
    title: r.title,
    severity: r.severity,
    status: r.status,
    level: r.level,
    provider: r.provider,
    runbook: r.runbook,
    alertFingerprint: r.alert_fingerprint,
    declaredBy: r.declared_by,
    declaredAt: new Date(r.declared_at),
    ackDeadline: dateOrNull(r.ack_deadline),
    acknowledgedBy: r.acknowledged_by,
    acknowledgedAt: dateOrNull(r.acknowledged_at),
    resolvedBy: r.resolved_by,
    resolvedAt: dateOrNull(r.resolved_at),
    updatedAt: new Date(r.updated_at),
  };
}

const first = (rows: IncidentColumns[]): IncidentRow | undefined => (rows[0] ? toIncident(rows[0]) : undefined);

/** The incident, or undefined. */
export async function getIncident(em: EntityManager, id: number): Promise<IncidentRow | undefined> {
  return first(await em.execute<IncidentColumns[]>(`select ${COLS} from incidents where id = ?`, [id]));
}

/** Incidents by status (default: open and acknowledged), most severe then oldest first. */
export async function listIncidents(em: EntityManager, statuses: IncidentStatus[] = ['open', 'acknowledged']): Promise<IncidentRow[]> {
  const rows = await em.execute<IncidentColumns[]>(
    `select ${COLS} from incidents where status in (${statuses.map(() => '?').join(',')}) order by severity, declared_at, id`,
    statuses,
  );
  return rows.map(toIncident);
}

/** Appends an event to an incident's timeline (`incident_events`) inside `tx` (or on any EntityManager); returns its id. */
export async function insertIncidentEvent(tx: EntityManager, incidentId: number, at: Date, kind: string, actor: string, detail: string, data: Record<string, unknown> = {}): Promise<number> {
  const rows = await tx.execute<{ id: number }[]>(
    'insert into incident_events (incident_id, at, kind, actor, detail, data) values (?, ?, ?, ?, ?, ?::jsonb) returning id',
    [incidentId, at, kind, actor, detail, JSON.stringify(data)],
  );
  return rows[0]!.id;
}

/** Takes the transaction-scoped advisory lock that serialises declarations for one alert fingerprint (held until commit). */
export async function lockAlertIncidents(tx: EntityManager, fingerprint: string): Promise<void> {
  await tx.execute('select pg_advisory_xact_lock(hashtext(?))', [`incident:${fingerprint}`]);
}

/** The newest unresolved incident declared for an alert fingerprint, or undefined. */
export async function openIncidentOfAlert(tx: EntityManager, fingerprint: string): Promise<IncidentRow | undefined> {
  return first(await tx.execute<IncidentColumns[]>(`select ${COLS} from incidents where alert_fingerprint = ? and status <> 'resolved' order by id desc limit 1`, [fingerprint]));
}

/** A new incident's fields: it starts `open` at Level 1, `updatedAt` = `declaredAt`. */
export interface NewIncident {
  title: string;
  severity: IncidentSeverity;
  provider: string | null;
  runbook: string | null;
  alertFingerprint: string | null;
  declaredBy: string;
  declaredAt: Date;
  ackDeadline: Date;
}

/** Inserts an `open` Level 1 incident and returns it. */
export async function insertIncident(tx: EntityManager, n: NewIncident): Promise<IncidentRow> {
  const rows = await tx.execute<IncidentColumns[]>(
    `insert into incidents (title, severity, status, level, provider, runbook, alert_fingerprint, declared_by, declared_at, ack_deadline, updated_at)
     values (?, ?, 'open', 1, ?, ?, ?, ?, ?, ?, ?) returning ${COLS}`,
    [n.title, n.severity, n.provider, n.runbook, n.alertFingerprint, n.declaredBy, n.declaredAt, n.ackDeadline, n.declaredAt],
  );
  return toIncident(rows[0]!);
}

/** Marks an `open` incident acknowledged by `by` at `at` (deadline cleared); undefined when it was not open. */
export async function markIncidentAcknowledged(tx: EntityManager, id: number, by: string, at: Date): Promise<IncidentRow | undefined> {
  const rows = await tx.execute<IncidentColumns[]>(
    `update incidents set status = 'acknowledged', acknowledged_by = ?, acknowledged_at = ?, ack_deadline = null, updated_at = ?
      where id = ? and status = 'open' returning ${COLS}`,
    [by, at, at, id],
  );
  return first(rows);
}

/** Marks an unresolved incident resolved by `by` at `at` (deadline cleared); undefined when it was already resolved. */
export async function markIncidentResolved(tx: EntityManager, id: number, by: string, at: Date): Promise<IncidentRow | undefined> {
  const rows = await tx.execute<IncidentColumns[]>(
    `update incidents set status = 'resolved', resolved_by = ?, resolved_at = ?, ack_deadline = null, updated_at = ?
      where id = ? and status <> 'resolved' returning ${COLS}`,
    [by, at, at, id],
  );
  return first(rows);
}

/** An incident's current level (1–4) and severity, or undefined for an unknown id. */
export async function incidentLevel(tx: EntityManager, id: number): Promise<{ level: number; severity: IncidentSeverity } | undefined> {
  const rows = await tx.execute<{ level: number; severity: IncidentSeverity }[]>('select level, severity from incidents where id = ?', [id]);
  return rows[0];
}

/**
 * Raises an unresolved incident from `fromLevel` to the next level (below `maxLevel` only); an `open` one gets
 * `deadline` as its new ack deadline, an acknowledged one none. Undefined when it was not at `fromLevel`, resolved,
 * or already at `maxLevel`.
 */
export async function raiseIncidentLevel(tx: EntityManager, id: number, fromLevel: number, maxLevel: number, deadline: Date, at: Date): Promise<IncidentRow | undefined> {
  const rows = await tx.execute<IncidentColumns[]>(
    `update incidents set level = level + 1, ack_deadline = case when status = 'open' then ?::timestamptz else null end, updated_at = ?
      where id = ? and status <> 'resolved' and level = ? and level < ? returning ${COLS}`,
    [deadline, at, id, fromLevel, maxLevel],
  );
  return first(rows);
}

/** Who last escalated the incident and when (its newest `escalated` event), or undefined. */
export async function lastEscalation(em: EntityManager, id: number): Promise<{ actor: string; at: Date } | undefined> {
  const [last] = await em.execute<{ actor: string; at: Date | string }[]>(`select actor, at from incident_events where incident_id = ? and kind = 'escalated' order by id desc limit 1`, [id]);
  return last ? { actor: last.actor, at: new Date(last.at) } : undefined;
}

/** `open` incidents whose ack deadline is at or before `now`, oldest deadline first (at most `limit`). */
export async function incidentsPastDeadline(em: EntityManager, now: Date, limit = 200): Promise<{ id: number; level: number; severity: IncidentSeverity }[]> {
  return em.execute<{ id: number; level: number; severity: IncidentSeverity }[]>(
    `select id, level, severity from incidents where status = 'open' and ack_deadline is not null and ack_deadline <= ? order by ack_deadline, id limit ?`,
    [now, limit],
  );
}

/**
 * Claims one overdue escalation: an `open` incident still at `level` whose deadline is at or before `now` goes up
 * one level (capped at `maxLevel`) with `deadline` as its new ack deadline (cleared once at `maxLevel`).
 * Undefined when someone else claimed it or it changed meanwhile.
 */
export async function escalateOverdueIncident(tx: EntityManager, id: number, level: number, maxLevel: number, deadline: Date, now: Date): Promise<IncidentRow | undefined> {
  const rows = await tx.execute<IncidentColumns[]>(
    `update incidents set level = least(level + 1, ?), ack_deadline = case when level < ? then ?::timestamptz else null end, updated_at = ?
      where id = ? and level = ? and status = 'open' and ack_deadline <= ? returning ${COLS}`,
    [maxLevel, maxLevel, deadline, now, id, level, now],
  );
  return first(rows);
}

/** The incident's events, oldest first (by time, then id). */
export async function incidentEvents(em: EntityManager, incidentId: number): Promise<IncidentEventRow[]> {
  const rows = await em.execute<{ id: number; at: Date | string; kind: string; actor: string; detail: string; data: Record<string, unknown> | null }[]>(
    'select id, at, kind, actor, detail, data from incident_events where incident_id = ? order by at, id',
    [incidentId],
  );
  return rows.map((e) => ({ id: e.id, at: new Date(e.at), kind: e.kind, actor: e.actor, detail: e.detail, data: e.data ?? {} }));
}
