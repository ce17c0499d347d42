/**
 * The one path every alert takes, internal (alerts/evaluate.ts) or external (Alertmanager, bot/webhooks):
 * {@link applyAlert} upserts the alert by fingerprint and says what changed. Alertmanager semantics: each alert is
 * handled on its own (fingerprint + startsAt), never by the payload's top-level status; a delivery that changes
 * nothing (a resend) is `none`; a resolved alert never seen firing is `resolved_unseen` (recorded, not posted);
 * a firing within the flap window of the last resolution reopens the same episode (`reopened`, one message).
 */
import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AlertSeverity, AlertStatus } from '../db/entities/alerting.entity.js';

/** An alert as observed now. Times in UTC. */
export interface AlertObservation {
  fingerprint: string;
  /** Notification group (Alertmanager `groupKey`); default the fingerprint. */
  groupKey?: string;
  source: 'internal' | 'alertmanager';
  name: string;
  severity: AlertSeverity;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runbook?: string;
  status: 'firing' | 'resolved';
  startsAt: Date;
  endsAt?: Date;
}

/** What {@link applyAlert} did. */
export type AlertTransition = 'fired' | 'reopened' | 'resolved' | 'resolved_unseen' | 'none';

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

/** Fingerprint of an internal alert: SHA-256 (16 hex) of the rule name and its sorted labels. */
export function internalFingerprint(name: string, labels: Record<string, string>): string {
  const canonical = JSON.stringify([name, Object.keys(labels).sort().map((k) => [k, labels[k]])]);
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

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

/** Alerts of one notification group. */
export async function groupAlerts(em: EntityManager, groupKey: string): Promise<AlertRow[]> {
  const rows = await em.execute<AlertColumns[]>(`select ${COLUMNS} from alerts where group_key = ? order by id`, [groupKey]);
  return rows.map(toRow);
}

/**
 * Applies an observation in one transaction (row locked) and returns the transition with the row after it.
 * `flapWindowMs`: a firing within this long after the last resolution reopens the episode. Sources are merged
 * (issue #14, ALERT_SOURCE=both): the observation's source status is recorded in `source_status`; a firing alert
 * resolves only when no other source still reports it firing (until then a resolution changes nothing).
 */
export async function applyAlert(
  em: EntityManager,
  obs: AlertObservation,
  now: Date,
  opts: { flapWindowMs: number; /** Merge sources (ALERT_SOURCE=both); default true. */ mergeSources?: boolean },
): Promise<{ transition: AlertTransition; alert: AlertRow }> {
  return em.transactional(async (tx) => {
    const conn = tx;
    const cur = await getAlert(tx, obs.fingerprint, true);
    const groupKey = obs.groupKey ?? obs.fingerprint;
    const json = (v: unknown) => JSON.stringify(v);
    const sources = { ...(cur?.sourceStatus ?? {}), [obs.source]: obs.status };
    if (!cur) {
      const status: AlertStatus = obs.status;
      await conn.execute(
        `insert into alerts (fingerprint, group_key, source, source_status, name, severity, status, labels, annotations, runbook, starts_at, ends_at, flap_count, updated_at)
         values (?, ?, ?, ?::jsonb, ?, ?, ?, ?::jsonb, ?::jsonb, ?, ?, ?, 0, ?)`,
        [obs.fingerprint, groupKey, obs.source, json(sources), obs.name, obs.severity, status, json(obs.labels), json(obs.annotations), obs.runbook ?? null, obs.startsAt, obs.status === 'resolved' ? (obs.endsAt ?? now) : null, now],
      );
      return { transition: obs.status === 'firing' ? 'fired' : 'resolved_unseen', alert: (await getAlert(tx, obs.fingerprint))! };
    }
    await conn.execute('update alerts set source_status = ?::jsonb where id = ?', [json(sources), cur.id]);
    const sameEpisode = cur.startsAt !== null && cur.startsAt.getTime() === obs.startsAt.getTime();
    const otherFiring = opts.mergeSources !== false && Object.entries(sources).some(([src, st]) => src !== obs.source && st === 'firing');
    let transition: AlertTransition = 'none';
    if (obs.status === 'firing') {
      if (cur.status === 'firing') transition = 'none'; // a resend, or a new startsAt while firing: same episode
      else if (cur.status === 'resolved' && sameEpisode) transition = 'none'; // a late resend of an old firing
      else if (cur.startsAt && cur.endsAt && now.getTime() - cur.endsAt.getTime() <= opts.flapWindowMs) transition = 'reopened';
      else transition = 'fired'; // pending → firing, or a new episode
      if (transition === 'reopened') {
        await conn.execute(`update alerts set status = 'firing', ends_at = null, flap_count = flap_count + 1, severity = ?, labels = ?::jsonb, annotations = ?::jsonb, updated_at = ? where id = ?`, [obs.severity, json(obs.labels), json(obs.annotations), now, cur.id]);
      } else if (transition === 'fired') {
        await conn.execute(
          `update alerts set status = 'firing', source = ?, group_key = ?, starts_at = ?, ends_at = null, pending_since = null, flap_count = 0, diagnosis = null, incident_id = null, message_ref = null,
             severity = ?, labels = ?::jsonb, annotations = ?::jsonb, runbook = ?, updated_at = ? where id = ?`,
          [obs.source, groupKey, obs.startsAt, obs.severity, json(obs.labels), json(obs.annotations), obs.runbook ?? cur.runbook, now, cur.id],
        );
      }
    } else {
      if (cur.status === 'firing') transition = otherFiring ? 'none' : 'resolved';
      else if (cur.status === 'pending') transition = 'resolved_unseen';
      else transition = 'none';
      if (transition === 'resolved')
        await conn.execute(`update alerts set status = 'resolved', ends_at = ?, pending_since = null, updated_at = ? where id = ?`, [obs.endsAt ?? now, now, cur.id]);
      else if (transition === 'resolved_unseen') // a pending condition cleared: back to resolved, the last episode's times kept
        await conn.execute(`update alerts set status = 'resolved', pending_since = null, updated_at = ? where id = ?`, [now, cur.id]);
    }
    return { transition, alert: (await getAlert(tx, obs.fingerprint))! };
  });
}

/** Records the automatic diagnosis and/or the incident of an alert. */
export async function annotateAlert(em: EntityManager, fingerprint: string, patch: { diagnosis?: Record<string, unknown>; incidentId?: number; messageRef?: string }): Promise<void> {
  if (patch.messageRef !== undefined) await em.execute('update alerts set message_ref = ? where fingerprint = ?', [patch.messageRef, fingerprint]);
  if (patch.diagnosis !== undefined) await em.execute('update alerts set diagnosis = ?::jsonb where fingerprint = ?', [JSON.stringify(patch.diagnosis), fingerprint]);
  if (patch.incidentId !== undefined) await em.execute('update alerts set incident_id = ? where fingerprint = ?', [patch.incidentId, fingerprint]);
}

/**
 * Internal rules' pending state: marks the instance pending (first time its condition holds) and returns the
 * row; `pendingSince` tells when the `for` clock started. Rows already firing are returned unchanged.
 */
export async function markPending(em: EntityManager, obs: Omit<AlertObservation, 'status' | 'startsAt'>, now: Date): Promise<AlertRow> {
  const conn = em.getConnection();
  await conn.execute(
    `insert into alerts (fingerprint, group_key, source, name, severity, status, labels, annotations, runbook, pending_since, flap_count, updated_at, last_evaluated_at)
     values (?, ?, ?, ?, ?, 'pending', ?::jsonb, ?::jsonb, ?, ?, 0, ?, ?)
     on conflict (fingerprint) do update set
       pending_since = case when alerts.status = 'resolved' then excluded.pending_since else coalesce(alerts.pending_since, excluded.pending_since) end,
       status = case when alerts.status = 'resolved' then 'pending' else alerts.status end,
       annotations = excluded.annotations, last_evaluated_at = excluded.last_evaluated_at`,
    [obs.fingerprint, obs.groupKey ?? obs.fingerprint, obs.source, obs.name, obs.severity, JSON.stringify(obs.labels), JSON.stringify(obs.annotations), obs.runbook ?? null, now, now, now],
  );
  return (await getAlert(em, obs.fingerprint))!;
}
