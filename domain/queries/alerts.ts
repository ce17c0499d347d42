/**
 * Named queries over `alerts` (one row per alert fingerprint; alerts/store.ts applies observations through them,
 * alerts/evaluate.ts and alerts/dispatch.ts read them). Times in UTC.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AlertSeverity, AlertStatus } from '../../db/entities/alerting.entity.js';

/** A stored alert row (table `alerts`). */
export interface AlertRow {
  id: number;
  fingerprint: string;
  groupKey: string;
  source: string;
  /** Last status per source that reported the alert (ALERT_SOURCE=both merges them; alerts/source.ts). */
  sourceStatus: Record<string, string>;
  name: string;
  severity: AlertSeverity;
  status: AlertStatus;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runbook: string | null;
  pendingSince: Date | null;
  startsAt: Date | null;
  endsAt: Date | null;
  flapCount: number;
  diagnosis: Record<string, unknown> | null;
  incidentId: number | null;
  messageRef: string | null;
}

/** The fields of an alert written when it is first stored or starts a new episode. */
export interface AlertWrite {
  fingerprint: string;
  groupKey: string;
  source: string;
  name: string;
  severity: AlertSeverity;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runbook: string | null;
}

const COLUMNS = `id, fingerprint, group_key, source, source_status, name, severity, status, labels, annotations, runbook, pending_since, starts_at,
  ends_at, flap_count, diagnosis, incident_id, message_ref`;

/** An `alerts` row as the driver returns it: snake_case columns, jsonb parsed, timestamps as Date (or text). */
interface AlertColumns {
  id: number;
  fingerprint: string;
  group_key: string;
  source: string;
  source_status: Record<string, string> | null;
  name: string;
  severity: AlertSeverity;
  status: AlertStatus;
  labels: Record<string, string> | null;
  annotations: Record<string, string> | null;
  runbook: string | null;
  pending_since: Date | string | null;
  starts_at: Date | string | null;
  ends_at: Date | string | null;
  flap_count: number;
  diagnosis: Record<string, unknown> | null;
  incident_id: number | null;
  message_ref: string | null;
}

function toRow(r: AlertColumns): AlertRow {
  const d = (v: unknown) => (v ? new Date(v as string) : null);
  return {
    id: r.id,
    fingerprint: r.fingerprint,
    groupKey: r.group_key,
    source: r.source,
    sourceStatus: r.source_status ?? {},
    name: r.name,
    severity: r.severity,
    status: r.status,
    labels: r.labels ?? {},
    annotations: r.annotations ?? {},
    runbook: r.runbook,
    pendingSince: d(r.pending_since),
    startsAt: d(r.starts_at),
    endsAt: d(r.ends_at),
    flapCount: r.flap_count,
    diagnosis: r.diagnosis,
    incidentId: r.incident_id,
    messageRef: r.message_ref,
  };
}

const json = (v: unknown) => JSON.stringify(v);

/** The alert with this fingerprint, or undefined. Pass `lock` inside a transaction to lock the row. */
export async function getAlert(em: EntityManager, fingerprint: string, lock = false): Promise<AlertRow | undefined> {
  const rows = await em.execute<AlertColumns[]>(`select ${COLUMNS} from alerts where fingerprint = ?${lock ? ' for update' : ''}`, [fingerprint]);
  return rows[0] ? toRow(rows[0]) : undefined;
}

/** Alerts by status (e.g. firing), newest first. */
export async function listAlerts(em: EntityManager, statuses: AlertStatus[] = ['firing']): Promise<AlertRow[]> {
  const rows = await em.execute<AlertColumns[]>(`select ${COLUMNS} from alerts where status in (${statuses.map(() => '?').join(',')}) order by updated_at desc, id desc`, statuses);
  return rows.map(toRow);
}

/** Alerts of one notification group, by id. */
export async function groupAlerts(em: EntityManager, groupKey: string): Promise<AlertRow[]> {
  const rows = await em.execute<AlertColumns[]>(`select ${COLUMNS} from alerts where group_key = ? order by id`, [groupKey]);
  return rows.map(toRow);
}

/**
 * Inserts a newly observed alert (flap count 0) with its `status`, per-source statuses and `startsAt`; `endsAt` is
 * set for an alert first seen resolved (null otherwise).
 */
export async function insertAlert(
  em: EntityManager,
  a: AlertWrite & { status: AlertStatus; sourceStatus: Record<string, string>; startsAt: Date; endsAt: Date | null },
  now: Date,
): Promise<void> {
  await em.execute(
    `insert into alerts (fingerprint, group_key, source, source_status, name, severity, status, labels, annotations, runbook, starts_at, ends_at, flap_count, updated_at)
     values (?, ?, ?, ?::jsonb, ?, ?, ?, ?::jsonb, ?::jsonb, ?, ?, ?, 0, ?)`,
    [a.fingerprint, a.groupKey, a.source, json(a.sourceStatus), a.name, a.severity, a.status, json(a.labels), json(a.annotations), a.runbook, a.startsAt, a.endsAt, now],
  );
}

/** Stores the last status per source of alert `id` (`source_status`). */
export async function setAlertSourceStatus(em: EntityManager, id: number, sourceStatus: Record<string, string>): Promise<void> {
  await em.execute('update alerts set source_status = ?::jsonb where id = ?', [json(sourceStatus), id]);
}

/** Reopens a resolved alert within its flap window: firing again, `ends_at` cleared, flap count + 1, severity and texts refreshed. */
export async function reopenAlert(
  em: EntityManager,
  id: number,
  a: Pick<AlertWrite, 'severity' | 'labels' | 'annotations'>,
  now: Date,
): Promise<void> {
  await em.execute(`update alerts set status = 'firing', ends_at = null, flap_count = flap_count + 1, severity = ?, labels = ?::jsonb, annotations = ?::jsonb, updated_at = ? where id = ?`, [
    a.severity,
    json(a.labels),
    json(a.annotations),
    now,
    id,
  ]);
}

/**
 * Starts a new firing episode of alert `id` (from pending, or after the flap window): `startsAt`, counters, diagnosis,
 * incident and message cleared.
 */
export async function fireAlertEpisode(em: EntityManager, id: number, a: Omit<AlertWrite, 'fingerprint' | 'name'> & { startsAt: Date }, now: Date): Promise<void> {
  await em.execute(
    `update alerts set status = 'firing', source = ?, group_key = ?, starts_at = ?, ends_at = null, pending_since = null, flap_count = 0, diagnosis = null, incident_id = null, message_ref = null,
       severity = ?, labels = ?::jsonb, annotations = ?::jsonb, runbook = ?, updated_at = ? where id = ?`,
    [a.source, a.groupKey, a.startsAt, a.severity, json(a.labels), json(a.annotations), a.runbook, now, id],
  );
}

/** Resolves firing alert `id` at `endsAt` (pending clock cleared). */
export async function resolveAlert(em: EntityManager, id: number, endsAt: Date, now: Date): Promise<void> {
  await em.execute(`update alerts set status = 'resolved', ends_at = ?, pending_since = null, updated_at = ? where id = ?`, [endsAt, now, id]);
}

/** A pending condition of alert `id` cleared: back to resolved, the last episode's times kept. */
export async function clearPendingAlert(em: EntityManager, id: number, now: Date): Promise<void> {
  await em.execute(`update alerts set status = 'resolved', pending_since = null, updated_at = ? where id = ?`, [now, id]);
}

/** Records the message ref, automatic diagnosis and/or incident of an alert (each only when given). */
export async function annotateAlertRow(em: EntityManager, fingerprint: string, patch: { diagnosis?: Record<string, unknown>; incidentId?: number; messageRef?: string }): Promise<void> {
  if (patch.messageRef !== undefined) await em.execute('update alerts set message_ref = ? where fingerprint = ?', [patch.messageRef, fingerprint]);
  if (patch.diagnosis !== undefined) await em.execute('update alerts set diagnosis = ?::jsonb where fingerprint = ?', [JSON.stringify(patch.diagnosis), fingerprint]);
  if (patch.incidentId !== undefined) await em.execute('update alerts set incident_id = ? where fingerprint = ?', [patch.incidentId, fingerprint]);
}

/**
 * Marks an internal rule's instance pending (inserted pending when new; a resolved row becomes pending with a new
 * `pending_since`; a pending or firing row keeps its status and clock); annotations and `last_evaluated_at` refreshed.
 */
export async function upsertPendingAlert(em: EntityManager, a: AlertWrite, now: Date): Promise<void> {
  await em.execute(
    `insert into alerts (fingerprint, group_key, source, name, severity, status, labels, annotations, runbook, pending_since, flap_count, updated_at, last_evaluated_at)
     values (?, ?, ?, ?, ?, 'pending', ?::jsonb, ?::jsonb, ?, ?, 0, ?, ?)
     on conflict (fingerprint) do update set
       pending_since = case when alerts.status = 'resolved' then excluded.pending_since else coalesce(alerts.pending_since, excluded.pending_since) end,
       status = case when alerts.status = 'resolved' then 'pending' else alerts.status end,
       annotations = excluded.annotations, last_evaluated_at = excluded.last_evaluated_at`,
    [a.fingerprint, a.groupKey, a.source, a.name, a.severity, json(a.labels), json(a.annotations), a.runbook, now, now, now],
  );
}

/** An alert of one rule that is still active as the in-process evaluation sees it (see {@link activeRuleAlerts}). */
export interface ActiveRuleAlert {
  fingerprint: string;
  severity: AlertSeverity;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: Date | null;
}

/** Alerts named `name` that are pending, or firing and not reported resolved by the internal source. */
export async function activeRuleAlerts(em: EntityManager, name: string): Promise<ActiveRuleAlert[]> {
  const rows = await em.execute<{ fingerprint: string; severity: AlertSeverity; labels: Record<string, string>; annotations: Record<string, string>; starts_at: Date | string | null }[]>(
    `select fingerprint, severity, labels, annotations, starts_at from alerts
      where name = ? and (status = 'pending' or (status = 'firing' and coalesce(source_status->>'internal', '') <> 'resolved'))`,
    [name],
  );
  return rows.map((r) => ({ fingerprint: r.fingerprint, severity: r.severity, labels: r.labels, annotations: r.annotations, startsAt: r.starts_at ? new Date(r.starts_at) : null }));
}

/** The notification group of the alerts posted under message `ref` (the first by id), or undefined when none is. */
export async function groupKeyOfMessage(em: EntityManager, ref: string): Promise<string | undefined> {
  const rows = await em.execute<{ fingerprint: string; group_key: string }[]>('select fingerprint, group_key from alerts where message_ref = ? order by id', [ref]);
  return rows[0]?.group_key;
}
