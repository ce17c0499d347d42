/**
 * What an incident change tells people, written inside the change's transaction: the page of a level (thread
 * reply, DMs, email/PagerDuty/Opsgenie through alerts/paging/enqueue.ts, a `paged` event; muted by a matching
 * silence) and the in-place update of the incident's message with an optional thread reply. Outbox dedup keys
 * name the incident and level or event, so each is sent once.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AppConfig } from '../../domain/config.js';
import { insertIncidentEvent, type IncidentRow } from '../../domain/queries/incidents.js';
import { clampText, escapeMrkdwn } from '../../domain/text/slack-text.js';
import { enqueueExternalPages } from '../paging/enqueue.js';
import { onCallLine, withOnCall } from '../paging/plan.js';
import { silencedBy, type SilenceRow } from '../silences.js';
import { enqueueSlack, type OutboxMessage } from '../slack-outbox.js';
import { getAlert } from '../store.js';
import { LEVEL_NAMES, pagePlan, type PagePlan } from './policy.js';
import { incidentMessage, incidentRef, pageLine } from './render.js';

/** The silence in force at `now` that mutes the incident's alert (by `alertFingerprint`), or undefined. */
export async function incidentSilence(tx: EntityManager, inc: IncidentRow, now: Date): Promise<SilenceRow | undefined> {
  const alert = inc.alertFingerprint ? await getAlert(tx, inc.alertFingerprint) : undefined;
  return alert ? silencedBy(tx, alert.name, alert.labels, now) : undefined;
}

/**
 * Pages `plan` for the incident inside `tx`: mentions as a thread reply (or, for the declaration, in the post
 * itself: `inPost`), a DM per user, and a `paged` event. Muted (event only, detail says so) while a silence
 * matches the incident's alert. Outbox dedup keys name the incident and level, so a page is sent once.
 */
export async function page(tx: EntityManager, inc: IncidentRow, plan: PagePlan, now: Date, config: AppConfig, inPost: boolean): Promise<void> {
  const silence = await incidentSilence(tx, inc, now);
  const data = { level: plan.level, mentions: plan.mentions, dms: plan.dms, ...(plan.vendor ? { vendor: plan.vendor } : {}), ...(silence ? { silencedBy: silence.id } : {}) };
  if (silence) {
    await insertIncidentEvent(tx, inc.id, now, 'paged', 'escalation', `${LEVEL_NAMES[plan.level]} page muted by silence #${silence.id}`, data);
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
  await insertIncidentEvent(tx, inc.id, now, 'paged', 'escalation', `paged ${LEVEL_NAMES[plan.level]}: ${names}${plan.vendor ? `; vendor: ${plan.vendor}` : ''}`, data);
}

/**
 * Edits the incident's message in place (outbox `update`, dedup key `…:update:<key>`) and, with `reply`, adds a
 * thread reply; `plan` shows the level's page on the message.
 */
export async function enqueueUpdate(tx: EntityManager, inc: IncidentRow, config: AppConfig, now: Date, key: string, reply?: string, plan?: PagePlan): Promise<void> {
  const ref = incidentRef(inc.id);
  const channel = config.alerting.incidentsChannel;
  const msg: OutboxMessage = { dedupKey: `${ref}:update:${key}`, kind: 'update', route: 'incidents', channel, ref, ...incidentMessage(inc, plan) };
  await enqueueSlack(tx, msg, now);
  if (reply) await enqueueSlack(tx, { dedupKey: `${ref}:reply:${key}`, kind: 'reply', route: 'incidents', channel, ref, text: clampText(reply, 3000) }, now);
}

/** Inside `tx`, after the level went up from `from`: records `escalated`, pages the new level, edits the message. */
export async function announceEscalation(tx: EntityManager, inc: IncidentRow, from: number, actorId: string, reason: string, now: Date, config: AppConfig): Promise<void> {
  const plan = await withOnCall(tx, pagePlan(inc.level, config, inc.provider), now);
  await insertIncidentEvent(tx, inc.id, now, 'escalated', actorId, `escalated from Level ${from} to ${LEVEL_NAMES[inc.level]}: ${reason}`, {
    from,
    to: inc.level,
    ...(inc.ackDeadline ? { ackDeadline: inc.ackDeadline.toISOString() } : {}),
  });
  await page(tx, inc, plan, now, config, false);
  await enqueueUpdate(tx, inc, config, now, `L${inc.level}`, undefined, plan);
}
