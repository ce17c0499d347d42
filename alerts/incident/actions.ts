/**
 * The incident state machine: declare (→ open, Level 1), acknowledge (open → acknowledged), resolve (→ resolved),
 * escalate by hand (level + 1) and notes. Every change is one conditional update in a transaction together with
 * its events and outbox entries (alerts/incidents.ts's module comment); the loser of a race gets `duplicate`
 * (naming who acted) or `refused`, recorded as an event and audited like the winner.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { IncidentSeverity } from '../../db/entities/alerting.entity.js';
import { INCIDENT_SEVERITIES } from '../../db/entities/alerting.entity.js';
import { ACK_DEADLINE_MS } from '../../domain/alerting/config.js';
import type { AppConfig } from '../../domain/config.js';
import { AppError, NotFoundError } from '../../domain/errors.js';
import {
  getIncident,
  incidentLevel,
  insertIncident,
  insertIncidentEvent,
  lastEscalation,
  lockAlertIncidents,
  markIncidentAcknowledged,
  markIncidentResolved,
  openIncidentOfAlert,
  raiseIncidentLevel,
  type IncidentRow,
} from '../../domain/queries/incidents.js';
import { clampText, escapeMrkdwn } from '../../domain/text/slack-text.js';
import { audit, type Actor } from '../../runbooks/actions.js';
import { enqueueExternalChange } from '../paging/enqueue.js';
import { withOnCall } from '../paging/plan.js';
import { enqueueSlack } from '../slack-outbox.js';
import { annotateAlert, getAlert } from '../store.js';
import { announceEscalation, enqueueUpdate, incidentSilence, page } from './notify.js';
import { LEVEL_NAMES, MAX_LEVEL, pagePlan } from './policy.js';
import { incidentMessage, incidentRef } from './render.js';

/** {@link declareIncident}'s answer: the incident, and whether this call created it (false: the alert's open one). */
export type DeclaredIncident = IncidentRow & { created: boolean };

/** What to declare. */
export interface DeclareInput {
  title: string;
  severity: IncidentSeverity;
  /** Actor id recorded as the declarer: `slack:U123`, `cli:alice`, `alert:<AlertName>`. */
  declaredBy: string;
  runbook?: string;
  /** Failing provider (Level 3 names its vendor contact); default the alert's `provider` label. */
  provider?: string;
  /** The alert this incident is about: at most one open (unresolved) incident per fingerprint. */
  alertFingerprint?: string;
  /** The person declaring, for the audit log; default a `system` actor named `declaredBy`. */
  actor?: Actor;
}

/**
 * Outcome of acknowledge / resolve / escalate: `done` (this call changed the state), `duplicate` (someone already
 * did it: `detail` names who and when), `refused` (not possible: resolved, already at Level 4).
 */
export interface IncidentActionOutcome {
  status: 'done' | 'duplicate' | 'refused';
  incident: IncidentRow;
  detail: string;
}

/** Options of a human action: where it came from (recorded in the event's data). */
export interface ActionOptions {
  /** `button` (Slack button), `command` (`/lf` or CLI), or the paging provider it came from; default `command`. */
  via?: 'button' | 'command' | 'pagerduty' | 'opsgenie';
}

function systemActor(id: string): Actor {
  return { id, role: undefined, source: 'system', display: id };
}

function isIncidentSeverity(s: string): s is IncidentSeverity {
  return INCIDENT_SEVERITIES.some((known) => known === s);
}

/** The incident. @throws NotFoundError for an unknown id. */
export async function requireIncident(em: EntityManager, id: number): Promise<IncidentRow> {
  const inc = await getIncident(em, id);
  if (!inc) throw new NotFoundError(`incident #${id}`);
  return inc;
}

/** Inside `tx`: the new incident, its `declared` event, the alert's link, the incidents-channel post and the Level 1 page. */
async function insertDeclared(tx: EntityManager, input: DeclareInput, title: string, now: Date, config: AppConfig): Promise<IncidentRow> {
  const fp = input.alertFingerprint ?? null;
  const alert = fp ? await getAlert(tx, fp) : undefined;
  const provider = input.provider ?? alert?.labels.provider ?? null;
  const runbook = input.runbook ?? alert?.runbook ?? null;
  const deadline = new Date(now.getTime() + ACK_DEADLINE_MS[input.severity]);
  const inc = await insertIncident(tx, { title, severity: input.severity, provider, runbook, alertFingerprint: fp, declaredBy: input.declaredBy, declaredAt: now, ackDeadline: deadline });
  await insertIncidentEvent(tx, inc.id, now, 'declared', input.declaredBy, `${inc.severity} declared by ${input.declaredBy}: ${title}`, {
    severity: inc.severity,
    ackDeadline: deadline.toISOString(),
    ...(fp ? { alertFingerprint: fp } : {}),
    ...(runbook ? { runbook } : {}),
    ...(provider ? { provider } : {}),
  });
  if (fp) await annotateAlert(tx, fp, { incidentId: inc.id });
  const plan = await withOnCall(tx, pagePlan(1, config, provider), now);
  const silenced = alert ? await incidentSilence(tx, inc, now) : undefined;
  const ref = incidentRef(inc.id);
  await enqueueSlack(tx, { dedupKey: `${ref}:post`, kind: 'post', route: 'incidents', channel: config.alerting.incidentsChannel, ref, ...incidentMessage(inc, silenced ? undefined : plan) }, now);
  await page(tx, inc, plan, now, config, true);
  return inc;
}

/**
 * Declares an incident at Level 1 with `ackDeadline = now + ACK_DEADLINE_MS[severity]`, records `declared` and
 * `paged` events, links the alert (`alerts.incident_id`), and enqueues the incident post to the incidents channel
 * (mentioning Level 1) plus a DM to each Level 1 user. Idempotent per alert: while an unresolved incident exists
 * for `alertFingerprint` it is returned (`created: false`) and nothing new is posted.
 * @throws AppError bad_request for an unknown severity or an empty title.
 */
export async function declareIncident(em: EntityManager, input: DeclareInput, now: Date, config: AppConfig): Promise<DeclaredIncident> {
  if (!isIncidentSeverity(input.severity)) throw new AppError('bad_request', `severity must be one of ${INCIDENT_SEVERITIES.join(', ')}, got "${input.severity}"`);
  const title = clampText(input.title.replace(/\s+/g, ' ').trim(), 255);
  if (!title) throw new AppError('bad_request', 'an incident needs a title');
  const result = await em.transactional(async (tx): Promise<DeclaredIncident> => {
    const fp = input.alertFingerprint ?? null;
    if (fp) {
      await lockAlertIncidents(tx, fp);
      const open = await openIncidentOfAlert(tx, fp);
      if (open) return { ...open, created: false };
    }
    return { ...(await insertDeclared(tx, input, title, now, config)), created: true };
  });
  if (result.created) {
    await audit(em, {
      at: now,
      actor: input.actor ?? systemActor(input.declaredBy),
      action: 'incident:declare',
      input: { incident: result.id, severity: result.severity, title, ...(input.alertFingerprint ? { alertFingerprint: input.alertFingerprint } : {}) },
      outcome: 'succeeded',
      detail: `${result.severity} incident #${result.id} declared; Level 1 paged; ack deadline ${result.ackDeadline?.toISOString()}`,
    });
  }
  return result;
}

/**
 * Records an attempt refused before reaching the incident (e.g. a viewer pressing a button): an incident event
 * `refused` (so the timeline shows the press) and an audit row. `action` is `ack` | `resolve` | `escalate` | ….
 * @throws NotFoundError for an unknown id.
 */
export async function recordRefusedAction(em: EntityManager, id: number, actor: Actor, action: string, detail: string, now: Date, opts: ActionOptions = {}): Promise<IncidentActionOutcome> {
  return notDone(em, await requireIncident(em, id), actor, now, action, 'refused', detail, opts.via ?? 'command');
}

/** Records a refused/duplicate attempt (event + audit) and returns the outcome. */
async function notDone(em: EntityManager, inc: IncidentRow, actor: Actor, now: Date, action: string, status: 'duplicate' | 'refused', detail: string, via: string): Promise<IncidentActionOutcome> {
  await em.transactional((tx) => insertIncidentEvent(tx, inc.id, now, status, actor.id, `${action} by ${actor.id}: ${detail}`, { action, via }));
  await audit(em, { at: now, actor, action: `incident:${action}`, input: { incident: inc.id, via }, outcome: status, detail });
  return { status, incident: inc, detail };
}

/**
 * Acknowledges an `open` incident: stops its escalation (deadline cleared), records `acknowledged`, edits the
 * message in place and replies in its thread. Acknowledging again (or a resolved incident) changes nothing and
 * says who acknowledged/resolved it (`duplicate`). Audited either way.
 * @throws NotFoundError for an unknown id.
 */
export async function acknowledgeIncident(em: EntityManager, id: number, actor: Actor, now: Date, config: AppConfig, opts: ActionOptions = {}): Promise<IncidentActionOutcome> {
  const via = opts.via ?? 'command';
  const done = await em.transactional(async (tx) => {
    const inc = await markIncidentAcknowledged(tx, id, actor.id, now);
    if (!inc) return undefined;
    const ev = await insertIncidentEvent(tx, id, now, 'acknowledged', actor.id, `acknowledged by ${actor.id} at ${LEVEL_NAMES[inc.level]}; escalation stopped`, { via, level: inc.level });
    await enqueueUpdate(tx, inc, config, now, `ev${ev}`, `:large_orange_circle: Acknowledged by ${actor.display} (${via}) — escalation stopped at ${LEVEL_NAMES[inc.level]}.`);
    await enqueueExternalChange(tx, id, 'acknowledge', now, actor.id, via); // PagerDuty/Opsgenie, not back to where it came from
    return inc;
  });
  if (!done) {
    const cur = await requireIncident(em, id);
    const detail =
      cur.status === 'resolved'
        ? `incident #${id} is already resolved by ${cur.resolvedBy} at ${cur.resolvedAt?.toISOString()}`
        : `incident #${id} is already acknowledged by ${cur.acknowledgedBy} at ${cur.acknowledgedAt?.toISOString()}`;
    return notDone(em, cur, actor, now, 'ack', 'duplicate', detail, via);
  }
  const detail = `incident #${id} acknowledged by ${actor.id}; escalation stopped`;
  await audit(em, { at: now, actor, action: 'incident:ack', input: { incident: id, via }, outcome: 'succeeded', detail });
  return { status: 'done', incident: done, detail };
}

/**
 * Resolves an open or acknowledged incident (deadline cleared, buttons removed from the message, thread reply).
 * A resolved incident stays resolved (`duplicate`, naming who resolved it). Audited.
 * @throws NotFoundError for an unknown id.
 */
export async function resolveIncident(em: EntityManager, id: number, actor: Actor, now: Date, config: AppConfig, opts: ActionOptions = {}): Promise<IncidentActionOutcome> {
  const via = opts.via ?? 'command';
  const done = await em.transactional(async (tx) => {
    const inc = await markIncidentResolved(tx, id, actor.id, now);
    if (!inc) return undefined;
    const ev = await insertIncidentEvent(tx, id, now, 'resolved', actor.id, `resolved by ${actor.id}`, { via, level: inc.level });
    await enqueueUpdate(tx, inc, config, now, `ev${ev}`, `:white_check_mark: Resolved by ${actor.display} (${via}).`);
    await enqueueExternalChange(tx, id, 'resolve', now, actor.id, via);
    return inc;
  });
  if (!done) {
    const cur = await requireIncident(em, id);
    return notDone(em, cur, actor, now, 'resolve', 'duplicate', `incident #${id} is already resolved by ${cur.resolvedBy} at ${cur.resolvedAt?.toISOString()}`, via);
  }
  const detail = `incident #${id} resolved by ${actor.id}`;
  await audit(em, { at: now, actor, action: 'incident:resolve', input: { incident: id, via }, outcome: 'succeeded', detail });
  return { status: 'done', incident: done, detail };
}

/** Why a hand escalation changed nothing: resolved (`refused`), a stale click (`duplicate`), or already at Level 4 (`refused`). */
async function escalationNotDone(em: EntityManager, id: number, actor: Actor, now: Date, fromLevel: number | undefined, via: string): Promise<IncidentActionOutcome> {
  const cur = await requireIncident(em, id);
  if (cur.status === 'resolved') return notDone(em, cur, actor, now, 'escalate', 'refused', `incident #${id} is resolved (by ${cur.resolvedBy})`, via);
  if (fromLevel !== undefined && cur.level !== fromLevel) {
    const last = await lastEscalation(em, id);
    return notDone(em, cur, actor, now, 'escalate', 'duplicate', `incident #${id} is already at ${LEVEL_NAMES[cur.level]} (escalated by ${last?.actor ?? 'someone'} at ${last ? last.at.toISOString() : '?'})`, via);
  }
  return notDone(em, cur, actor, now, 'escalate', 'refused', `incident #${id} is already at ${LEVEL_NAMES[MAX_LEVEL]}; there is no higher level`, via);
}

/**
 * Escalates by hand: the next level is paged now; an `open` incident gets a new deadline (now + the severity's),
 * an acknowledged one keeps none. `fromLevel` (the level shown on the clicked message) makes a repeated click a
 * `duplicate` instead of a second escalation. Resolved or Level 4 incidents are `refused`. Audited.
 * @throws NotFoundError for an unknown id.
 */
export async function escalateIncident(
  em: EntityManager,
  id: number,
  actor: Actor,
  now: Date,
  config: AppConfig,
  opts: ActionOptions & { fromLevel?: number } = {},
): Promise<IncidentActionOutcome> {
  const via = opts.via ?? 'command';
  const done = await em.transactional(async (tx) => {
    const cur = await incidentLevel(tx, id);
    if (!cur) return undefined;
    const from = opts.fromLevel ?? cur.level;
    const deadline = new Date(now.getTime() + ACK_DEADLINE_MS[cur.severity]);
    const inc = await raiseIncidentLevel(tx, id, from, MAX_LEVEL, deadline, now);
    if (!inc) return undefined;
    await announceEscalation(tx, inc, from, actor.id, `escalated by ${actor.id} (${via})`, now, config);
    return inc;
  });
  if (!done) return escalationNotDone(em, id, actor, now, opts.fromLevel, via);
  const detail = `incident #${id} escalated to ${LEVEL_NAMES[done.level]} by ${actor.id}`;
  await audit(em, { at: now, actor, action: 'incident:escalate', input: { incident: id, via, level: done.level }, outcome: 'succeeded', detail });
  return { status: 'done', incident: done, detail };
}

/** Adds a note to the timeline (and the thread). @throws NotFoundError, AppError bad_request for empty text. */
export async function addIncidentNote(em: EntityManager, id: number, actor: Actor, text: string, now: Date, config: AppConfig): Promise<IncidentRow> {
  const note = clampText(text.trim(), 2000);
  if (!note) throw new AppError('bad_request', 'a note needs text');
  const inc = await requireIncident(em, id);
  await em.transactional(async (tx) => {
    const ev = await insertIncidentEvent(tx, id, now, 'note', actor.id, note);
    await enqueueSlack(tx, { dedupKey: `${incidentRef(id)}:note:ev${ev}`, kind: 'reply', route: 'incidents', channel: config.alerting.incidentsChannel, ref: incidentRef(id), text: `:memo: ${actor.display}: ${escapeMrkdwn(note)}` }, now);
  });
  await audit(em, { at: now, actor, action: 'incident:note', input: { incident: id }, outcome: 'succeeded', detail: clampText(note, 200) });
  return inc;
}
