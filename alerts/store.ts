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
import {
  annotateAlertRow,
  clearPendingAlert,
  fireAlertEpisode,
  getAlert,
  insertAlert,
  reopenAlert,
  resolveAlert,
  setAlertSourceStatus,
  upsertPendingAlert,
  type AlertRow,
} from '../domain/queries/alerts.js';

export { getAlert, groupAlerts, type AlertRow } from '../domain/queries/alerts.js';

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

/** Fingerprint of an internal alert: SHA-256 (16 hex) of the rule name and its sorted labels. */
export function internalFingerprint(name: string, labels: Record<string, string>): string {
  const canonical = JSON.stringify([name, Object.keys(labels).sort().map((k) => [k, labels[k]])]);
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
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
    const cur = await getAlert(tx, obs.fingerprint, true);
    const groupKey = obs.groupKey ?? obs.fingerprint;
    const sources = { ...(cur?.sourceStatus ?? {}), [obs.source]: obs.status };
    const write = { fingerprint: obs.fingerprint, groupKey, source: obs.source, name: obs.name, severity: obs.severity, labels: obs.labels, annotations: obs.annotations };
    if (!cur) {
      const status: AlertStatus = obs.status;
      await insertAlert(tx, { ...write, runbook: obs.runbook ?? null, status, sourceStatus: sources, startsAt: obs.startsAt, endsAt: obs.status === 'resolved' ? (obs.endsAt ?? now) : null }, now);
      return { transition: obs.status === 'firing' ? 'fired' : 'resolved_unseen', alert: (await getAlert(tx, obs.fingerprint))! };
    }
    await setAlertSourceStatus(tx, cur.id, sources);
    const transition = obs.status === 'firing' ? firingTransition(cur, obs, now, opts.flapWindowMs) : resolvedTransition(cur, obs, sources, opts.mergeSources !== false);
    if (transition === 'reopened') await reopenAlert(tx, cur.id, obs, now);
    else if (transition === 'fired') await fireAlertEpisode(tx, cur.id, { ...write, runbook: obs.runbook ?? cur.runbook, startsAt: obs.startsAt }, now);
    else if (transition === 'resolved') await resolveAlert(tx, cur.id, obs.endsAt ?? now, now);
    else if (transition === 'resolved_unseen') await clearPendingAlert(tx, cur.id, now); // a pending condition cleared: back to resolved, the last episode's times kept
    return { transition, alert: (await getAlert(tx, obs.fingerprint))! };
  });
}

/** The transition a firing observation makes on the stored alert `cur` (pure). */
function firingTransition(cur: AlertRow, obs: AlertObservation, now: Date, flapWindowMs: number): AlertTransition {
  const sameEpisode = cur.startsAt !== null && cur.startsAt.getTime() === obs.startsAt.getTime();
  if (cur.status === 'firing') return 'none'; // a resend, or a new startsAt while firing: same episode
  if (cur.status === 'resolved' && sameEpisode) return 'none'; // a late resend of an old firing
  if (cur.startsAt && cur.endsAt && now.getTime() - cur.endsAt.getTime() <= flapWindowMs) return 'reopened';
  return 'fired'; // pending → firing, or a new episode
}

/** The transition a resolved observation makes on `cur`; `sources`: the merged per-source statuses (pure). */
function resolvedTransition(cur: AlertRow, obs: AlertObservation, sources: Record<string, string>, mergeSources: boolean): AlertTransition {
  const otherFiring = mergeSources && Object.entries(sources).some(([src, st]) => src !== obs.source && st === 'firing');
  if (cur.status === 'firing') return otherFiring ? 'none' : 'resolved';
  if (cur.status === 'pending') return 'resolved_unseen';
  return 'none';
}

/** Records the automatic diagnosis and/or the incident of an alert. */
export async function annotateAlert(em: EntityManager, fingerprint: string, patch: { diagnosis?: Record<string, unknown>; incidentId?: number; messageRef?: string }): Promise<void> {
  await annotateAlertRow(em, fingerprint, patch);
}

/**
 * Internal rules' pending state: marks the instance pending (first time its condition holds) and returns the
 * row; `pendingSince` tells when the `for` clock started. Rows already firing are returned unchanged.
 */
export async function markPending(em: EntityManager, obs: Omit<AlertObservation, 'status' | 'startsAt'>, now: Date): Promise<AlertRow> {
  await upsertPendingAlert(em, { ...obs, groupKey: obs.groupKey ?? obs.fingerprint, runbook: obs.runbook ?? null }, now);
  return (await getAlert(em, obs.fingerprint))!;
}
