/**
 * Incidents (tables `incidents`, `incident_events`; see db/entities/alerting.entity.ts): declared from a firing
 * alert by the severity policy ({@link incidentSeverityFor}, called by alerts/dispatch.ts) or by hand
 * (`/lf incident declare`), acknowledged, resolved and escalated, with every step recorded as an incident event
 * (who did what, when) and every human action also in the audit log (runbooks/actions.ts `audit`).
 *
 * Escalation ladder (troubleshooting guide): Level 1 self-service (on-call, `contacts.level1`) → Level 2 team
 * (`contacts.level2`) → Level 3 vendor (`contacts.level2` plus the failing provider's `vendorContacts` text) →
 * Level 4 emergency (`contacts.level4`). An `open` incident whose `ack_deadline` has passed goes up one level at
 * the next {@link escalationTick} and gets a new deadline (now + the severity's {@link ACK_DEADLINE_MS}); the
 * deadline lives in the database, so a restarted process (or another replica) carries the timer on.
 *
 * Slack: the incident is one message in `config.alerting.incidentsChannel` (outbox ref `incident:<id>`) with
 * Acknowledge / Resolve / Escalate buttons (`action_id` `incident:ack|resolve|escalate`, `value` the incident id,
 * `block_id` `incident:<id>:L<level>` so a stale Escalate click is recognised); each change edits it in place
 * (outbox `update`) and adds a thread reply; a page mentions the level's users (`<@U…>`) and user groups
 * (`<!subteam^S…>`) and DMs each user. An active silence matching the incident's alert mutes its pages (mentions
 * and DMs); the incident message itself is still posted and updated.
 *
 * Concurrency: every state change is one conditional `update … where <expected state> returning` in a
 * transaction together with its events and outbox entries, so a double click, two people, or two replicas
 * ticking at once change the state once; the loser gets `duplicate` (naming who acted) or nothing to do.
 */
import { assistantAnswersBetween, remediationsBetween } from '../domain/queries/incident-activity.js';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AlertSeverity, IncidentSeverity, IncidentStatus } from '../db/entities/alerting.entity.js';
import { INCIDENT_SEVERITIES } from '../db/entities/alerting.entity.js';
import type { AppConfig } from '../domain/config.js';
import { ACK_DEADLINE_MS } from '../domain/alerting/config.js';
import type { Clock } from '../domain/clock.js';
import { AppError, NotFoundError } from '../domain/errors.js';
import type { Logger } from '../domain/logger.js';
import { audit, type Actor } from '../runbooks/actions.js';
import { clampText, escapeMrkdwn } from '../domain/text/slack-text.js';
import { enqueueSlack, type OutboxMessage } from './slack-outbox.js';
import { silencedBy } from './silences.js';
import { enqueueExternalChange, enqueueExternalPages } from './paging/enqueue.js';
import { onCallLine, withOnCall } from './paging/plan.js';

/** Highest escalation level (emergency). */
export const MAX_LEVEL = 4;

/** Level names (troubleshooting guide's escalation procedures). */
export const LEVEL_NAMES: Readonly<Record<number, string>> = {
  1: 'Level 1 — self-service (on-call)',
  2: 'Level 2 — team',
  3: 'Level 3 — vendor',
  4: 'Level 4 — emergency',
};

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

function toIncident(r: IncidentColumns): IncidentRow {
  const d = (v: unknown) => (v ? new Date(v as string) : null);
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
    ackDeadline: d(r.ack_deadline),
    acknowledgedBy: r.acknowledged_by,
    acknowledgedAt: d(r.acknowledged_at),
    resolvedBy: r.resolved_by,
    resolvedAt: d(r.resolved_at),
    updatedAt: new Date(r.updated_at),
  };
}

/** The incident ref used by the outbox and slack_messages. */
export function incidentRef(id: number): string {
  return `incident:${id}`;
}

/** An actor id as Slack shows it: `slack:U123` → `<@U123>`, anything else as is (escaped). */
export function who(actorId: string | null | undefined): string {
  if (!actorId) return 'someone';
  const m = /^(?:slack|assistant):([UW][A-Z0-9]+)$/.exec(actorId);
  return m ? `<@${m[1]}>` : escapeMrkdwn(actorId);
}

/** Incident severity the policy declares for a firing alert of `alertSeverity` (`config.alerting.incidentFor`); undefined = none. */
export function incidentSeverityFor(alertSeverity: AlertSeverity, config: AppConfig): IncidentSeverity | undefined {
  if (alertSeverity === 'critical') return config.alerting.incidentFor.critical;
  if (alertSeverity === 'warning') return config.alerting.incidentFor.warning;
  return undefined;
}

/** Who a level pages: formatted mentions, the user ids to DM, and (Level 3) the vendor contact text. */
export interface PagePlan {
  level: number;
  /** `<@U…>` / `<!subteam^S…>` strings. */
  mentions: string[];
  /** User ids (U…/W…) to DM. */
  dms: string[];
  vendor?: string;
  /** Who is on call on each layer when paged (alerts/paging/plan.ts); shown on the page. */
  oncall?: { primary: string | null; secondary: string | null };
}

/** The page plan of `level` for an incident of `provider` (see the module comment for the ladder). */
export function pagePlan(level: number, config: AppConfig, provider: string | null): PagePlan {
  const c = config.alerting.contacts;
  const ids = level <= 1 ? c.level1 : level === 4 ? c.level4 : c.level2;
  const mentions = ids.map((id) => (id.startsWith('S') ? `<!subteam^${id}>` : `<@${id}>`));
  const dms = ids.filter((id) => /^[UW]/.test(id));
  if (level !== 3) return { level, mentions, dms };
  const vendor = provider
    ? (config.alerting.vendorContacts[provider] ?? `no vendor contact configured for ${provider}`)
    : 'no failing provider recorded on this incident';
  return { level, mentions, dms, vendor };
}

function pageLine(plan: PagePlan): string {
  const who = plan.mentions.length ? plan.mentions.join(' ') : '_no contacts configured for this level_';
  return `Paging ${LEVEL_NAMES[plan.level]}: ${who}${plan.vendor ? `\nVendor contact: ${escapeMrkdwn(plan.vendor)}` : ''}${plan.oncall ? `\n${onCallLine(plan.oncall)}` : ''}`;
}

/**
 * The outbox body of an incident's message (rendered by bot/render/incident-message.ts): the incident with its times
 * as ISO strings, the names of its level and the next one (null at Level 4), and the page line when it pages.
 */
export interface IncidentBody {
  type: 'incident';
  incident: Omit<IncidentRow, 'declaredAt' | 'ackDeadline' | 'acknowledgedAt' | 'resolvedAt' | 'updatedAt'> & {
    declaredAt: string;
    ackDeadline: string | null;
    acknowledgedAt: string | null;
    resolvedAt: string | null;
  };
  levelName: string;
  nextLevelName: string | null;
  /** "Paging Level 1 — …: <@U1>\nOn call: …" (mentions formatted), or null when this message pages nobody. */
  page: string | null;
  [field: string]: unknown;
}

/** The incident's message, structured (pure): notification text plus the `incident` body. */
export function incidentMessage(inc: IncidentRow, page?: PagePlan): { text: string; body: IncidentBody } {
  const emoji = inc.status === 'resolved' ? ':white_check_mark:' : inc.status === 'acknowledged' ? ':large_orange_circle:' : ':rotating_light:';
  const head = `${inc.severity} incident #${inc.id}: ${inc.title}`;
  const text = `${emoji} ${escapeMrkdwn(head)} — ${inc.status}, ${LEVEL_NAMES[inc.level]}${page?.mentions.length ? ` ${page.mentions.join(' ')}` : ''}`;
  const iso = (d: Date | null) => d?.toISOString() ?? null;
  const { declaredAt, ackDeadline, acknowledgedAt, resolvedAt, updatedAt: _u, ...rest } = inc;
  return {
    text: clampText(text, 3000),
    body: {
      type: 'incident',
      incident: { ...rest, declaredAt: declaredAt.toISOString(), ackDeadline: iso(ackDeadline), acknowledgedAt: iso(acknowledgedAt), resolvedAt: iso(resolvedAt) },
      levelName: LEVEL_NAMES[inc.level] ?? `Level ${inc.level}`,
      nextLevelName: inc.level < MAX_LEVEL ? (LEVEL_NAMES[inc.level + 1] ?? `Level ${inc.level + 1}`) : null,
      page: page ? pageLine(page) : null,
    },
  };
}

/** The incident, or undefined. */
export async function getIncident(em: EntityManager, id: number): Promise<IncidentRow | undefined> {
  const rows = await em.execute<IncidentColumns[]>(`select ${COLS} from incidents where id = ?`, [id]);
  return rows[0] ? toIncident(rows[0]) : undefined;
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
export async function addEvent(tx: EntityManager, incidentId: number, at: Date, kind: string, actor: string, detail: string, data: Record<string, unknown> = {}): Promise<number> {
  const rows = await tx.execute<{ id: number }[]>(
    'insert into incident_events (incident_id, at, kind, actor, detail, data) values (?, ?, ?, ?, ?, ?::jsonb) returning id',
    [incidentId, at, kind, actor, detail, JSON.stringify(data)],
  );
  return rows[0]!.id;
}

async function alertOf(tx: EntityManager, fingerprint: string | null): Promise<{ name: string; labels: Record<string, string>; runbook: string | null } | undefined> {
  if (!fingerprint) return undefined;
  const rows = await tx.execute<{ name: string; labels: Record<string, string>; runbook: string | null }[]>('select name, labels, runbook from alerts where fingerprint = ?', [fingerprint]);
  return rows[0];
}

/**
 * Pages `plan` for the incident inside `tx`: mentions as a thread reply (or, for the declaration, in the post
 * itself: `inPost`), a DM per user, and a `paged` event. Muted (event only, detail says so) while a silence
 * matches the incident's alert. Outbox dedup keys name the incident and level, so a page is sent once.
 */
async function page(tx: EntityManager, inc: IncidentRow, plan: PagePlan, now: Date, config: AppConfig, inPost: boolean): Promise<void> {
  const alert = await alertOf(tx, inc.alertFingerprint);
  const silence = alert ? await silencedBy(tx, alert.name, alert.labels, now) : undefined;
  const data = { level: plan.level, mentions: plan.mentions, dms: plan.dms, ...(plan.vendor ? { vendor: plan.vendor } : {}), ...(silence ? { silencedBy: silence.id } : {}) };
  if (silence) {
    await addEvent(tx, inc.id, now, 'paged', 'escalation', `${LEVEL_NAMES[plan.level]} page muted by silence #${silence.id}`, data);
    return;
  }
  const channel = config.alerting.incidentsChannel;
  const ref = incidentRef(inc.id);
  const line = pageLine(plan);
  if (!inPost)
    await enqueueSlack(tx, { dedupKey: `${ref}:page:L${plan.level}:thread`, kind: 'reply', route: 'pages', channel, ref, text: clampText(`:mega: ${inc.severity} incident #${inc.id} — ${line}`, 3000) }, now);
  const dmText = clampText(
    `:rotating_light: You are paged (${LEVEL_NAMES[plan.level]}) for ${inc.severity} incident #${inc.id}: ${escapeMrkdwn(inc.title)}. Acknowledge it in ${channel}.${plan.vendor ? `\nVendor contact: ${escapeMrkdwn(plan.vendor)}` : ''}${plan.oncall ? `\n${onCallLine(plan.oncall)}` : ''}`,
    3000,
  );
  for (const user of plan.dms) await enqueueSlack(tx, { dedupKey: `${ref}:page:L${plan.level}:dm:${user}`, kind: 'dm', route: 'pages', channel: user, text: dmText }, now);
  // email, PagerDuty, Opsgenie (alerts/paging/): one trigger per incident, one email per person and level
  await enqueueExternalPages(tx, inc, { ...plan, levelName: LEVEL_NAMES[plan.level] }, now, config);
  const names = plan.mentions.length ? plan.mentions.join(' ') : 'nobody (no contacts configured)';
  await addEvent(tx, inc.id, now, 'paged', 'escalation', `paged ${LEVEL_NAMES[plan.level]}: ${names}${plan.vendor ? `; vendor: ${plan.vendor}` : ''}`, data);
}

async function enqueueUpdate(tx: EntityManager, inc: IncidentRow, config: AppConfig, now: Date, key: string, reply?: string, plan?: PagePlan): Promise<void> {
  const ref = incidentRef(inc.id);
  const channel = config.alerting.incidentsChannel;
  const msg: OutboxMessage = { dedupKey: `${ref}:update:${key}`, kind: 'update', route: 'incidents', channel, ref, ...incidentMessage(inc, plan) };
  await enqueueSlack(tx, msg, now);
  if (reply) await enqueueSlack(tx, { dedupKey: `${ref}:reply:${key}`, kind: 'reply', route: 'incidents', channel, ref, text: clampText(reply, 3000) }, now);
}

function systemActor(id: string): Actor {
  return { id, role: undefined, source: 'system', display: id };
}

/**
 * Declares an incident at Level 1 with `ackDeadline = now + ACK_DEADLINE_MS[severity]`, records `declared` and
 * `paged` events, links the alert (`alerts.incident_id`), and enqueues the incident post to the incidents channel
 * (mentioning Level 1) plus a DM to each Level 1 user. Idempotent per alert: while an unresolved incident exists
 * for `alertFingerprint` it is returned (`created: false`) and nothing new is posted.
 * @throws AppError bad_request for an unknown severity or an empty title.
 */
export async function declareIncident(em: EntityManager, input: DeclareInput, now: Date, config: AppConfig): Promise<DeclaredIncident> {
  if (!(INCIDENT_SEVERITIES as readonly string[]).includes(input.severity)) throw new AppError('bad_request', `severity must be one of ${INCIDENT_SEVERITIES.join(', ')}, got "${input.severity}"`);
  const title = clampText(input.title.replace(/\s+/g, ' ').trim(), 255);
  if (!title) throw new AppError('bad_request', 'an incident needs a title');
  const result = await em.transactional(async (tx): Promise<DeclaredIncident> => {
    const fp = input.alertFingerprint ?? null;
    if (fp) {
      await tx.execute('select pg_advisory_xact_lock(hashtext(?))', [`incident:${fp}`]);
      const open = await tx.execute<IncidentColumns[]>(`select ${COLS} from incidents where alert_fingerprint = ? and status <> 'resolved' order by id desc limit 1`, [fp]);
      if (open[0]) return { ...toIncident(open[0]), created: false };
    }
    const alert = await alertOf(tx, fp);
    const provider = input.provider ?? alert?.labels.provider ?? null;
    const runbook = input.runbook ?? alert?.runbook ?? null;
    const deadline = new Date(now.getTime() + ACK_DEADLINE_MS[input.severity]);
    const rows = await tx.execute<IncidentColumns[]>(
      `insert into incidents (title, severity, status, level, provider, runbook, alert_fingerprint, declared_by, declared_at, ack_deadline, updated_at)
       values (?, ?, 'open', 1, ?, ?, ?, ?, ?, ?, ?) returning ${COLS}`,
      [title, input.severity, provider, runbook, fp, input.declaredBy, now, deadline, now],
    );
    const inc = toIncident(rows[0]!);
    await addEvent(tx, inc.id, now, 'declared', input.declaredBy, `${inc.severity} declared by ${input.declaredBy}: ${title}`, {
      severity: inc.severity,
      ackDeadline: deadline.toISOString(),
      ...(fp ? { alertFingerprint: fp } : {}),
      ...(runbook ? { runbook } : {}),
      ...(provider ? { provider } : {}),
    });
    if (fp) await tx.execute('update alerts set incident_id = ? where fingerprint = ?', [inc.id, fp]);
    const plan = await withOnCall(tx, pagePlan(1, config, provider), now);
    const silenced = alert ? await silencedBy(tx, alert.name, alert.labels, now) : undefined;
    const ref = incidentRef(inc.id);
    await enqueueSlack(tx, { dedupKey: `${ref}:post`, kind: 'post', route: 'incidents', channel: config.alerting.incidentsChannel, ref, ...incidentMessage(inc, silenced ? undefined : plan) }, now);
    await page(tx, inc, plan, now, config, true);
    return { ...inc, created: true };
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

async function mustGet(em: EntityManager, id: number): Promise<IncidentRow> {
  const inc = await getIncident(em, id);
  if (!inc) throw new NotFoundError(`incident #${id}`);
  return inc;
}

/**
 * Records an attempt refused before reaching the incident (e.g. a viewer pressing a button): an incident event
 * `refused` (so the timeline shows the press) and an audit row. `action` is `ack` | `resolve` | `escalate` | ….
 * @throws NotFoundError for an unknown id.
 */
export async function recordRefusedAction(em: EntityManager, id: number, actor: Actor, action: string, detail: string, now: Date, opts: ActionOptions = {}): Promise<IncidentActionOutcome> {
  return notDone(em, await mustGet(em, id), actor, now, action, 'refused', detail, opts.via ?? 'command');
}

/** Records a refused/duplicate attempt (event + audit) and returns the outcome. */
async function notDone(em: EntityManager, inc: IncidentRow, actor: Actor, now: Date, action: string, status: 'duplicate' | 'refused', detail: string, via: string): Promise<IncidentActionOutcome> {
  await em.transactional((tx) => addEvent(tx, inc.id, now, status, actor.id, `${action} by ${actor.id}: ${detail}`, { action, via }));
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
    const rows = await tx.execute<IncidentColumns[]>(
      `update incidents set status = 'acknowledged', acknowledged_by = ?, acknowledged_at = ?, ack_deadline = null, updated_at = ?
        where id = ? and status = 'open' returning ${COLS}`,
      [actor.id, now, now, id],
    );
    if (!rows[0]) return undefined;
    const inc = toIncident(rows[0]);
    const ev = await addEvent(tx, id, now, 'acknowledged', actor.id, `acknowledged by ${actor.id} at ${LEVEL_NAMES[inc.level]}; escalation stopped`, { via, level: inc.level });
    await enqueueUpdate(tx, inc, config, now, `ev${ev}`, `:large_orange_circle: Acknowledged by ${actor.display} (${via}) — escalation stopped at ${LEVEL_NAMES[inc.level]}.`);
    await enqueueExternalChange(tx, id, 'acknowledge', now, actor.id, via); // PagerDuty/Opsgenie, not back to where it came from
    return inc;
  });
  if (!done) {
    const cur = await mustGet(em, id);
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
    const rows = await tx.execute<IncidentColumns[]>(
      `update incidents set status = 'resolved', resolved_by = ?, resolved_at = ?, ack_deadline = null, updated_at = ?
        where id = ? and status <> 'resolved' returning ${COLS}`,
      [actor.id, now, now, id],
    );
    if (!rows[0]) return undefined;
    const inc = toIncident(rows[0]);
    const ev = await addEvent(tx, id, now, 'resolved', actor.id, `resolved by ${actor.id}`, { via, level: inc.level });
    await enqueueUpdate(tx, inc, config, now, `ev${ev}`, `:white_check_mark: Resolved by ${actor.display} (${via}).`);
    await enqueueExternalChange(tx, id, 'resolve', now, actor.id, via);
    return inc;
  });
  if (!done) {
    const cur = await mustGet(em, id);
    return notDone(em, cur, actor, now, 'resolve', 'duplicate', `incident #${id} is already resolved by ${cur.resolvedBy} at ${cur.resolvedAt?.toISOString()}`, via);
  }
  const detail = `incident #${id} resolved by ${actor.id}`;
  await audit(em, { at: now, actor, action: 'incident:resolve', input: { incident: id, via }, outcome: 'succeeded', detail });
  return { status: 'done', incident: done, detail };
}

/**
 * Inside `tx`, after the level went up: records `escalated`, pages the new level, edits the message.
 */
async function afterEscalation(tx: EntityManager, inc: IncidentRow, from: number, actorId: string, reason: string, now: Date, config: AppConfig): Promise<void> {
  const plan = await withOnCall(tx, pagePlan(inc.level, config, inc.provider), now);
  await addEvent(tx, inc.id, now, 'escalated', actorId, `escalated from Level ${from} to ${LEVEL_NAMES[inc.level]}: ${reason}`, {
    from,
    to: inc.level,
    ...(inc.ackDeadline ? { ackDeadline: inc.ackDeadline.toISOString() } : {}),
  });
  await page(tx, inc, plan, now, config, false);
  await enqueueUpdate(tx, inc, config, now, `L${inc.level}`, undefined, plan);
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
    const cur = await tx.execute<{ level: number; severity: IncidentSeverity }[]>('select level, severity from incidents where id = ?', [id]);
    if (!cur[0]) return undefined;
    const from = opts.fromLevel ?? cur[0].level;
    const deadline = new Date(now.getTime() + ACK_DEADLINE_MS[cur[0].severity]);
    const rows = await tx.execute<IncidentColumns[]>(
      `update incidents set level = level + 1, ack_deadline = case when status = 'open' then ?::timestamptz else null end, updated_at = ?
        where id = ? and status <> 'resolved' and level = ? and level < ? returning ${COLS}`,
      [deadline, now, id, from, MAX_LEVEL],
    );
    if (!rows[0]) return undefined;
    const inc = toIncident(rows[0]);
    await afterEscalation(tx, inc, from, actor.id, `escalated by ${actor.id} (${via})`, now, config);
    return inc;
  });
  if (!done) {
    const cur = await mustGet(em, id);
    if (cur.status === 'resolved') return notDone(em, cur, actor, now, 'escalate', 'refused', `incident #${id} is resolved (by ${cur.resolvedBy})`, via);
    if (opts.fromLevel !== undefined && cur.level !== opts.fromLevel) {
      const [last] = await em.execute<{ actor: string; at: Date }[]>(`select actor, at from incident_events where incident_id = ? and kind = 'escalated' order by id desc limit 1`, [id]);
      return notDone(em, cur, actor, now, 'escalate', 'duplicate', `incident #${id} is already at ${LEVEL_NAMES[cur.level]} (escalated by ${last?.actor ?? 'someone'} at ${last ? new Date(last.at).toISOString() : '?'})`, via);
    }
    return notDone(em, cur, actor, now, 'escalate', 'refused', `incident #${id} is already at ${LEVEL_NAMES[MAX_LEVEL]}; there is no higher level`, via);
  }
  const detail = `incident #${id} escalated to ${LEVEL_NAMES[done.level]} by ${actor.id}`;
  await audit(em, { at: now, actor, action: 'incident:escalate', input: { incident: id, via, level: done.level }, outcome: 'succeeded', detail });
  return { status: 'done', incident: done, detail };
}

/** Adds a note to the timeline (and the thread). @throws NotFoundError, AppError bad_request for empty text. */
export async function addIncidentNote(em: EntityManager, id: number, actor: Actor, text: string, now: Date, config: AppConfig): Promise<IncidentRow> {
  const note = clampText(text.trim(), 2000);
  if (!note) throw new AppError('bad_request', 'a note needs text');
  const inc = await mustGet(em, id);
  await em.transactional(async (tx) => {
    const ev = await addEvent(tx, id, now, 'note', actor.id, note);
    await enqueueSlack(tx, { dedupKey: `${incidentRef(id)}:note:ev${ev}`, kind: 'reply', route: 'incidents', channel: config.alerting.incidentsChannel, ref: incidentRef(id), text: `:memo: ${actor.display}: ${escapeMrkdwn(note)}` }, now);
  });
  await audit(em, { at: now, actor, action: 'incident:note', input: { incident: id }, outcome: 'succeeded', detail: clampText(note, 200) });
  return inc;
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
  const due = await em.execute<{ id: number; level: number; severity: IncidentSeverity }[]>(
    `select id, level, severity from incidents where status = 'open' and ack_deadline is not null and ack_deadline <= ? order by ack_deadline, id limit 200`,
    [now],
  );
  for (const d of due) {
    try {
      const deadline = new Date(now.getTime() + ACK_DEADLINE_MS[d.severity]);
      const r = await em.transactional(async (tx) => {
        const rows = await tx.execute<IncidentColumns[]>(
          `update incidents set level = least(level + 1, ?), ack_deadline = case when level < ? then ?::timestamptz else null end, updated_at = ?
            where id = ? and level = ? and status = 'open' and ack_deadline <= ? returning ${COLS}`,
          [MAX_LEVEL, MAX_LEVEL, deadline, now, d.id, d.level, now],
        );
        if (!rows[0]) return undefined;
        const inc = toIncident(rows[0]);
        if (d.level >= MAX_LEVEL) {
          const ev = await addEvent(tx, inc.id, now, 'escalation_exhausted', 'escalation', `not acknowledged at ${LEVEL_NAMES[MAX_LEVEL]}; no higher level to page`, { level: MAX_LEVEL });
          await enqueueUpdate(tx, inc, deps.config, now, `ev${ev}`, `:sos: ${inc.severity} incident #${inc.id} is still not acknowledged at ${LEVEL_NAMES[MAX_LEVEL]}; there is no higher level.`);
          return { inc, exhausted: true };
        }
        await afterEscalation(tx, inc, d.level, 'escalation', `not acknowledged by its deadline`, now, deps.config);
        return { inc, exhausted: false };
      });
      if (!r) continue;
      if (r.exhausted) out.exhausted.push(d.id);
      else out.escalated.push({ id: d.id, from: d.level, to: r.inc.level });
      deps.logger.info({ incident: d.id, from: d.level, to: r.inc.level, exhausted: r.exhausted }, 'incident escalated: not acknowledged by its deadline');
    } catch (err) {
      deps.logger.error({ incident: d.id, err: (err as Error)?.message }, 'incident escalation failed; retried next tick');
    }
  }
  return out;
}

/**
 * One line for a stored diagnosis. The alert stores `{ runbook, diagnosis: Diagnosis, nonce, issuedAt }`
 * (alerts/dispatch.ts storedDiagnosis): the findings are one level down (read at the wrong depth they looked
 * like "no root cause indicated (0 of 0 checks)"); a bare Diagnosis is accepted too.
 */
export function diagnosisLine(stored: Record<string, unknown>): string {
  const inner = stored.diagnosis;
  const diag = inner && typeof inner === 'object' ? (inner as Record<string, unknown>) : stored;
  const causes = (diag.rootCauses as { title?: string }[] | undefined) ?? [];
  const results = (diag.results as { finding?: { status?: string } }[] | undefined) ?? [];
  const problems = results.filter((r) => r.finding?.status === 'problem' || r.finding?.status === 'warn').length;
  const title = typeof diag.title === 'string' ? diag.title : String(diag.runbook ?? 'runbook');
  return `${title}: ${causes.length ? `root cause ${causes.map((c) => c.title).join('; ')}` : 'no root cause indicated'} (${problems} of ${results.length} checks warn or fail)`;
}

/**
 * The incident's timeline, oldest first: its events (declared, pages, escalations, acknowledgements, button
 * presses including refused/duplicate ones, notes, resolution) merged with its alerts from the `alerts` table
 * (by `alert_fingerprint` or `incident_id`): fired, automatic diagnosis, resolved.
 * @throws NotFoundError for an unknown id.
 */
export async function incidentTimeline(em: EntityManager, id: number): Promise<{ incident: IncidentRow; entries: TimelineEntry[] }> {
  const incident = await mustGet(em, id);
  const events = await em.execute<{ id: number; at: Date; kind: string; actor: string; detail: string; data: Record<string, unknown> }[]>(
    'select id, at, kind, actor, detail, data from incident_events where incident_id = ? order by at, id',
    [id],
  );
  const entries: (TimelineEntry & { order: number })[] = events.map((e) => ({ at: new Date(e.at), kind: e.kind, actor: e.actor, detail: e.detail, data: e.data ?? {}, order: 1 }));
  const alerts = await em.execute<{ fingerprint: string; name: string; source: string; status: string; starts_at: Date | null; ends_at: Date | null; diagnosis: Record<string, unknown> | null; annotations: Record<string, string>; severity: string; runbook: string | null }[]>(
    'select fingerprint, name, source, status, starts_at, ends_at, diagnosis, annotations, severity, runbook from alerts where incident_id = ? or (?::text is not null and fingerprint = ?) order by id',
    [id, incident.alertFingerprint, incident.alertFingerprint],
  );
  for (const a of alerts) {
    const actor = a.source === 'alertmanager' ? `alertmanager:${a.name}` : `alert:${a.name}`;
    const start = a.starts_at ? new Date(a.starts_at) : incident.declaredAt;
    const summary = a.annotations?.summary ?? a.annotations?.description ?? '';
    entries.push({ at: start, kind: 'alert_fired', actor, detail: `${a.name} (${a.severity}) firing${summary ? `: ${summary}` : ''}`, data: { fingerprint: a.fingerprint }, order: 0 });
    if (a.diagnosis)
      entries.push({ at: start, kind: 'diagnosis', actor: `runbook:${String(a.diagnosis.runbook ?? a.runbook ?? '?')}`, detail: diagnosisLine(a.diagnosis), data: { fingerprint: a.fingerprint }, order: 0.5 });
    if (a.status === 'resolved' && a.ends_at) entries.push({ at: new Date(a.ends_at), kind: 'alert_resolved', actor, detail: `${a.name} resolved`, data: { fingerprint: a.fingerprint }, order: 2 });
  }
  // remediations (who, what, outcome, the verification they report) and assistant answers while it was open
  const until = incident.resolvedAt ?? new Date('9999-12-31T00:00:00Z');
  for (const r of await remediationsBetween(em, incident.declaredAt, until))
    entries.push({ at: r.at, kind: 'remediation', actor: r.actor, detail: `${r.action.replace(/^remediation:/, '')}: ${r.outcome}${r.detail ? ` — ${r.detail}` : ''}`, data: { action: r.action, outcome: r.outcome }, order: 1 });
  for (const a of await assistantAnswersBetween(em, incident.declaredAt, until))
    entries.push({ at: a.at, kind: 'assistant_answer', actor: a.actor, detail: `asked "${a.question.slice(0, 160)}": ${a.status}${a.rootCause ? `, root cause ${a.rootCause}` : ''}`, data: {}, order: 1 });
  entries.sort((x, y) => x.at.getTime() - y.at.getTime() || x.order - y.order);
  return { incident, entries: entries.map(({ order: _o, ...e }) => e) };
}
