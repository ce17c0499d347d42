/**
 * From alert observations to Slack and incidents — the same path for internal rules and Alertmanager:
 * 1. each observation is applied on its own (alerts/store.ts applyAlert);
 * 2. a newly firing alert gets its runbook's automatic diagnosis (read-only diagnostics, once per runbook per
 *    call), stored on the alert;
 * 3. per notification group, one message in the alerts channel: posted when the group starts firing, updated in
 *    place on every later change (another alert of the group, flaps folded into a counter, resolutions); each
 *    resolution also gets a thread reply. Silenced alerts are stored but change no message;
 * 4. incidents are declared by the severity policy (INCIDENT_FOR_CRITICAL / _WARNING) for newly firing alerts.
 * Everything Slack-bound goes through the outbox (alerts/slack-outbox.ts), routed as `alerts`: rate-limited and
 * never lost. The message is handed over structured (`alert_group` body); bot/render/alert-message.ts lays it out.
 */
import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AppConfig } from '../domain/config.js';
import type { Clock } from '../domain/clock.js';
import type { Logger } from '../domain/logger.js';
import type { RunbookContext } from '../runbooks/context.js';
import { diagnose, type DiagnosisResult } from '../runbooks/define.js';
import { findRunbook } from '../runbooks/index.js';
import { clampText } from '../domain/text/slack-text.js';
import { declareIncident, incidentSeverityFor } from './incidents.js';
import { silencedBy } from './silences.js';
import { annotateAlert, applyAlert, groupAlerts, type AlertObservation, type AlertRow, type AlertTransition } from './store.js';
import { enqueueSlack } from './slack-outbox.js';
import { groupKeyOfMessage } from '../domain/queries/alerts.js';
import { outboxPostCount } from '../domain/queries/slack-outbox.js';
import { routed } from './slack-routing.js';
import { recentChangeLines, recentChanges } from '../domain/changes.js';

/** What alert processing needs. `runbooks` absent: no automatic diagnosis (the post says so). */
export interface AlertDeps {
  em(): EntityManager;
  config: AppConfig;
  clock: Clock;
  logger: Logger;
  runbooks?: RunbookContext;
}

/** What happened to each observation. */
export interface ProcessResult {
  transitions: { fingerprint: string; name: string; transition: AlertTransition; silenced: boolean }[];
  /** Outbox entries enqueued. */
  enqueued: number;
  incidents: number[];
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** An alert as the group message shows it (JSON: kept in the outbox until sent); times ISO 8601 UTC. */
export interface AlertView {
  name: string;
  severity: string;
  status: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runbook: string | null;
  startsAt: string | null;
  endsAt: string | null;
  flapCount: number;
  incidentId: number | null;
}

/**
 * The outbox body of an alert group's message (rendered by bot/render/alert-message.ts): its alerts and the stored
 * automatic diagnosis (`{ runbook, diagnosis, nonce, issuedAt }`, see {@link storedDiagnosis}) or null.
 */
export interface AlertGroupBody {
  type: 'alert_group';
  alerts: AlertView[];
  diagnosis: Record<string, unknown> | null;
  /**
   * While the group fires: what was deployed or changed in the 24 h before (domain/changes.ts recentChangeLines),
   * the troubleshooting guide's "what changed?"; empty when nothing did; absent on older rows.
   */
  changes?: string[];
  [field: string]: unknown;
}

/** The notification text of a group's message: `[FIRING:n] Name +k — summaries` or `[RESOLVED] Name — …` (pure). */
export function alertGroupText(alerts: AlertRow[]): string {
  const firing = alerts.filter((a) => a.status === 'firing');
  const headline = firing.length > 0 ? `[FIRING:${firing.length}] ${firing[0]!.name}${firing.length > 1 ? ` +${firing.length - 1}` : ''}` : `[RESOLVED] ${alerts[0]?.name ?? 'alert'}`;
  return clampText(`${headline} — ${alerts.map((a) => a.annotations.summary ?? a.name).slice(0, 3).join('; ')}`, 3000);
}

/** The structured message for a group (pure): text plus the `alert_group` body. */
export function alertGroupBody(alerts: AlertRow[], diagnosis: Record<string, unknown> | null, changes?: string[]): { text: string; body: AlertGroupBody } {
  const view = (a: AlertRow): AlertView => ({
    name: a.name,
    severity: a.severity,
    status: a.status,
    labels: a.labels,
    annotations: a.annotations,
    runbook: a.runbook,
    startsAt: a.startsAt?.toISOString() ?? null,
    endsAt: a.endsAt?.toISOString() ?? null,
    flapCount: a.flapCount,
    incidentId: a.incidentId,
  });
  return { text: alertGroupText(alerts), body: { type: 'alert_group', alerts: alerts.map(view), diagnosis, ...(changes ? { changes } : {}) } };
}

/** The one thread reply for alerts of a message that resolved together: what resolved, after how long (pure). */
export function resolutionReplyText(resolved: AlertRow[]): string {
  const line = (a: AlertRow) => {
    const took = a.startsAt && a.endsAt ? Math.round((a.endsAt.getTime() - a.startsAt.getTime()) / 60_000) : undefined;
    const labels = Object.entries(a.labels).filter(([k]) => k !== 'alertname').map(([k, v]) => `${k}=${v}`).join(' ');
    return `*${a.name}* resolved${took !== undefined ? ` after ${took} min` : ''}${labels ? ` (${labels})` : ''}`;
  };
  if (resolved.length === 1) return `:white_check_mark: ${line(resolved[0]!)}.`;
  const shown = resolved.slice(0, 20).map((a) => `• ${line(a)}`);
  if (resolved.length > 20) shown.push(`• +${resolved.length - 20} more`);
  return `:white_check_mark: ${resolved.length} alerts resolved:\n${shown.join('\n')}`;
}

/** Serialisable diagnosis kept on the alert (so updates can re-render it without re-running diagnostics). */
function storedDiagnosis(r: DiagnosisResult): Record<string, unknown> {
  return { runbook: r.runbook.id, diagnosis: r.diagnosis, nonce: r.nonce, issuedAt: r.issuedAt.toISOString() };
}

/** Runs each runbook's automatic diagnosis at most once per {@link processAlertObservations} call (undefined: none). */
type DiagnoseOnce = (runbookId: string | null) => Promise<DiagnosisResult | undefined>;

function diagnoser(deps: AlertDeps, now: Date): DiagnoseOnce {
  const diagnoses = new Map<string, Promise<DiagnosisResult | undefined>>();
  return (runbookId) => {
    if (!runbookId || !deps.runbooks) return Promise.resolve(undefined);
    const rb = findRunbook(runbookId);
    if (!rb) return Promise.resolve(undefined);
    if (!diagnoses.has(rb.id))
      diagnoses.set(
        rb.id,
        diagnose(rb, deps.runbooks).then(
          (diagnosis) => ({ kind: 'diagnosis' as const, diagnosis, runbook: rb, nonce: `alert:${hash(`${rb.id}:${now.toISOString()}`)}`, issuedAt: now, full: true }),
          (err: unknown) => {
            deps.logger.error({ runbook: rb.id, err: (err as Error).message }, 'automatic diagnosis failed');
            return undefined;
          },
        ),
      );
    return diagnoses.get(rb.id)!;
  };
}

/** Declares the policy's incident for a newly firing alert, if any, and records it on the alert and in `result`. */
async function declareForAlert(em: EntityManager, deps: AlertDeps, alert: AlertRow, now: Date, result: ProcessResult): Promise<void> {
  // a DatabaseUnavailable that could be stored at all is over (the database answered): no incident for it; the
  // outage itself was posted from memory by the database watch (alerts/db-watch.ts)
  const sev = alert.name === 'DatabaseUnavailable' ? undefined : incidentSeverityFor(alert.severity, deps.config);
  if (!sev) return;
  try {
    const incident = await declareIncident(
      em,
      {
        title: `${alert.name}: ${alert.annotations.summary ?? ''}`.slice(0, 250),
        severity: sev,
        declaredBy: 'system:alert-policy',
        runbook: alert.runbook ?? undefined,
        provider: alert.labels.provider,
        alertFingerprint: alert.fingerprint,
      },
      now,
      deps.config,
    );
    await annotateAlert(em, alert.fingerprint, { incidentId: incident.id });
    result.incidents.push(incident.id);
  } catch (err) {
    deps.logger.error({ alert: alert.name, err: (err as Error).message }, 'incident declaration failed');
  }
}

/**
 * A newly firing alert: joins its group's current message (or starts one), gets its diagnosis and its incident.
 * Returns the message ref.
 */
async function onFired(em: EntityManager, deps: AlertDeps, alert: AlertRow, now: Date, diagnoseOnce: DiagnoseOnce, result: ProcessResult): Promise<string> {
  // one message per group episode: join the group's current message when another alert of it is firing
  const peers = (await groupAlerts(em, alert.groupKey)).filter((a) => a.fingerprint !== alert.fingerprint && a.status === 'firing' && a.messageRef);
  const ref = peers[0]?.messageRef ?? `alert:${hash(alert.groupKey)}:${(alert.startsAt ?? now).getTime()}`;
  await annotateAlert(em, alert.fingerprint, { messageRef: ref });
  const diag = await diagnoseOnce(alert.runbook);
  if (diag) await annotateAlert(em, alert.fingerprint, { diagnosis: storedDiagnosis(diag) });
  await declareForAlert(em, deps, alert, now, result);
  return ref;
}

/** Enqueues one post or update of the message `ref`, rendered from its group's current state. */
async function postGroupMessage(em: EntityManager, deps: AlertDeps, ref: string, now: Date, diagnoseOnce: DiagnoseOnce, changesOnce: () => Promise<string[] | undefined>): Promise<boolean> {
  const groupKey = await groupKeyOfMessage(em, ref);
  const group = groupKey !== undefined ? (await groupAlerts(em, groupKey)).filter((a) => a.messageRef === ref) : [];
  if (group.length === 0) return false;
  const kind = (await outboxPostCount(em, ref)) > 0 ? 'update' : 'post';
  // an edit shows current findings: the diagnosis is run again (not the one stored when the group first fired)
  const firing = group.find((a) => a.status === 'firing');
  const fresh = kind === 'update' && firing ? await diagnoseOnce(firing.runbook) : undefined;
  if (fresh && firing) await annotateAlert(em, firing.fingerprint, { diagnosis: storedDiagnosis(fresh) });
  const message = alertGroupBody(group, fresh ? storedDiagnosis(fresh) : (group.find((a) => a.diagnosis)?.diagnosis ?? null), firing ? await changesOnce() : undefined);
  const stateKey = hash(JSON.stringify(group.map((a) => [a.fingerprint, a.status, a.flapCount, a.incidentId])));
  return enqueueSlack(
    em,
    { dedupKey: kind === 'post' ? `alert-post:${ref}` : `alert-update:${ref}:${stateKey}`, kind, ...routed(deps.config, 'alerts'), ref, text: message.text, body: message.body },
    now,
  );
}

/**
 * Applies `observations` and does the notifications, diagnoses and incidents described in the module comment.
 * Diagnostics failing or timing out never stop the post (their findings say `error`).
 */
export async function processAlertObservations(deps: AlertDeps, observations: AlertObservation[]): Promise<ProcessResult> {
  const now = deps.clock.now();
  const em = deps.em();
  const result: ProcessResult = { transitions: [], enqueued: 0, incidents: [] };
  const changedRefs = new Set<string>();
  const resolvedByRef = new Map<string, AlertRow[]>();
  const diagnoseOnce = diagnoser(deps, now);

  for (const obs of observations) {
    const { transition, alert } = await applyAlert(em, obs, now, { flapWindowMs: deps.config.alerting.flapWindowMs, mergeSources: deps.config.alerting.source === 'both' });
    const silence = transition === 'none' || transition === 'resolved_unseen' ? undefined : await silencedBy(em, alert.name, alert.labels, now);
    result.transitions.push({ fingerprint: alert.fingerprint, name: alert.name, transition, silenced: silence !== undefined });
    if (transition === 'none') continue;
    if (transition === 'resolved_unseen') {
      deps.logger.info({ alert: alert.name, fingerprint: alert.fingerprint }, 'resolved alert never seen firing: recorded, not posted');
      continue;
    }
    if (silence) {
      deps.logger.info({ alert: alert.name, silence: silence.id, transition }, 'alert silenced: no notification');
      continue;
    }
    if (transition === 'fired') changedRefs.add(await onFired(em, deps, alert, now, diagnoseOnce, result));
    else if (alert.messageRef) {
      changedRefs.add(alert.messageRef);
      if (transition === 'resolved') resolvedByRef.set(alert.messageRef, [...(resolvedByRef.get(alert.messageRef) ?? []), alert]);
    }
  }

  // one thread reply per message listing what resolved in this call (a 12-alert group resolving is one reply)
  for (const [ref, resolved] of resolvedByRef) {
    const key = hash(JSON.stringify(resolved.map((a) => [a.fingerprint, a.endsAt?.getTime() ?? now.getTime()])));
    const added = await enqueueSlack(em, { dedupKey: `alert-resolved:${ref}:${key}`, kind: 'reply', ...routed(deps.config, 'alerts'), ref, text: resolutionReplyText(resolved) }, now);
    if (added) result.enqueued++;
  }

  // what changed in the 24 h before, read once per call and only when a firing group is posted
  let changeLines: Promise<string[] | undefined> | undefined;
  const changesOnce = () =>
    (changeLines ??= recentChanges(em, now).then(
      (rc) => recentChangeLines(rc, now),
      () => undefined, // a failed read never stops the post
    ));
  // one post or update per changed message, rendered from the state after all observations
  for (const ref of changedRefs) if (await postGroupMessage(em, deps, ref, now, diagnoseOnce, changesOnce)) result.enqueued++;
  return result;
}
