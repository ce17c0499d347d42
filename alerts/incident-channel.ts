/**
 * Incident channels (issue #19 point 3). A keeper loop, started by the service beside the outbox poster
 * (bot/main.ts), works from the database so that every way of declaring an incident (an alert's severity policy,
 * `/lf incident declare`, the CLI, another replica) gets the same treatment:
 * 1. every unresolved SEV1/SEV2 incident gets a room row, then a channel `inc-<id>-<slug>` (conversations.create,
 *    `-2`, `-3` … after `name_taken`); failures are retried with backoff, and after 5 attempts reported in the
 *    incident's thread in the incidents channel;
 * 2. the commander defaults to the declarer when a person declared it, else to the on-call (Level 1's first user);
 * 3. responders — role holders, the declarer, whoever acknowledged, everyone its pages DMed — are invited
 *    (conversations.invite) as they appear;
 * 4. the timeline (alerts/incidents.ts `incidentTimeline`: alerts, diagnosis, pages, buttons, notes, remediations,
 *    assistant answers, roles, drills) is posted to the channel through the Slack outbox as it happens, each entry
 *    once (keys kept in `incident_rooms.posted`, outbox dedup keys as a second guard); a resolved incident's room
 *    is closed after its last entries;
 * 5. postmortem drafts (alerts/postmortem.ts) are uploaded to the channel (files.uploadV2), or to the incident's
 *    thread in the incidents channel when it has no channel (SEV3/SEV4).
 * Work is claimed with 30-second leases (domain/queries/incident-rooms.ts), so replicas never do it twice at once.
 */
import { createHash } from 'node:crypto';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { AppConfig } from '../domain/config.js';
import type { Clock } from '../domain/clock.js';
import type { Logger } from '../domain/logger.js';
import {
  assignRoleIfUnset,
  claimPostmortems,
  claimRooms,
  firstPagedUser,
  getRoom,
  incidentRoles,
  markPostmortem,
  markRoomError,
  markRoomOpen,
  registerRooms,
  responderUserIds,
  updateRoomProgress,
  type PostmortemRow,
  type RoomRow,
} from '../domain/queries/incident-rooms.js';
import { clampText, escapeMrkdwn } from '../domain/text/slack-text.js';
import { addEvent, getIncident, incidentRef, incidentTimeline, who, type IncidentRow, type TimelineEntry } from './incidents.js';
import { channelName, type SlackChannelApi } from './slack-channels.js';
import { enqueueSlack, postedMessage } from './slack-outbox.js';
import { classifySlackError } from './slack-transport.js';
import { createTickLoop, type TickLoop } from './tick-loop.js';

/** Severities that get their own channel. */
export const ROOM_SEVERITIES = ['SEV1', 'SEV2'] as const;
/** Attempts at conversations.create before the room is given up (and the failure posted). */
export const ROOM_MAX_ATTEMPTS = 5;
const LEASE_MS = 30_000;
/** More new entries than this at once are posted as one message. */
const BATCH_OVER = 5;

/** What the keeper needs; `channels` makes the channel and file calls (alerts/slack-channels.ts). */
export interface IncidentChannelDeps {
  orm: MikroORM;
  config: AppConfig;
  clock: Clock;
  logger: Logger;
  channels: SlackChannelApi;
  /** How often the loop runs (ms, default 2000). */
  intervalMs?: number;
}

/** What one tick did. */
export interface KeeperTick {
  opened: number[];
  invited: number;
  posted: number;
  uploaded: number[];
}

/** A running keeper. */
export type IncidentChannelKeeper = TickLoop<KeeperTick>;

/** The ref of an incident channel's first post (outbox / slack_messages). */
export const roomRef = (id: number) => `incident-room:${id}`;

/** The stable key of a timeline entry (a diagnosis is keyed without its text, which is refreshed with the alert). */
export function entryKey(e: TimelineEntry): string {
  const detail = e.kind === 'diagnosis' ? '' : e.detail;
  return createHash('sha256').update(`${e.kind}|${e.actor}|${e.at.getTime()}|${detail}`).digest('hex').slice(0, 16);
}

const hhmm = (d: Date) => `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
const entryLine = (e: TimelineEntry) => `\`${hhmm(e.at)}\` *${e.kind}* — ${who(e.actor)}: ${escapeMrkdwn(clampText(e.detail, 600))}`;

/**
 * The commander when nobody was named: the declarer if a person declared it, else the on-call its Level 1 page
 * reached (the schedule's primary, domain/oncall), else Level 1's first configured user.
 */
export async function defaultCommander(em: EntityManager, inc: IncidentRow, config: AppConfig): Promise<string | undefined> {
  const m = /^slack:([UW][A-Z0-9]+)$/.exec(inc.declaredBy);
  if (m) return m[1];
  return (await firstPagedUser(em, inc.id)) ?? config.alerting.contacts.level1.find((id) => /^[UW]/.test(id));
}

/** The channel's first message: what the incident is, who holds which role, how to work in it. */
async function introMessage(em: EntityManager, inc: IncidentRow): Promise<{ text: string; blocks: unknown[] }> {
  const roles = await incidentRoles(em, inc.id);
  const holder = (r: string) => {
    const h = roles.find((x) => x.role === r);
    return h ? `<@${h.userId}>` : '_unassigned_';
  };
  const text = `${inc.severity} incident #${inc.id}: ${escapeMrkdwn(inc.title)} — commander ${holder('commander')}`;
  const fields = [`*Commander*\n${holder('commander')}`, `*Communications*\n${holder('communications')}`, `*Declared*\n${who(inc.declaredBy)} · ${hhmm(inc.declaredAt)}`, `*Status*\n${inc.status}`];
  if (inc.runbook) fields.push(`*Runbook*\n\`${escapeMrkdwn(inc.runbook)}\``);
  if (inc.provider) fields.push(`*Provider*\n${escapeMrkdwn(inc.provider)}`);
  const help = `Roles: \`/lf incident role ${inc.id} commander|communications @user\` · the timeline follows here as it happens · \`/lf incident postmortem ${inc.id}\` drafts the postmortem into this channel.`;
  return {
    text,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: clampText(`${inc.severity} · Incident #${inc.id}`, 150) } },
      { type: 'section', text: { type: 'mrkdwn', text: clampText(`:rotating_light: *${escapeMrkdwn(inc.title)}*`, 3000) } },
      { type: 'section', fields: fields.map((f) => ({ type: 'mrkdwn', text: clampText(f, 2000) })) },
      { type: 'context', elements: [{ type: 'mrkdwn', text: help }] },
    ],
  };
}

/** The text of a thrown value, for logs. */
const errText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Backoff before the next conversations.create after `attempts` failures (ms, 5 s doubling, at most 5 min). */
const retryDelayMs = (attempts: number) => Math.min(300_000, 5000 * 2 ** attempts);

/**
 * Opens the room of a claimed `creating` row: creates the channel, names the default commander, records the
 * events, posts the intro and a pointer in the incidents channel. A failed create is retried with backoff and,
 * after {@link ROOM_MAX_ATTEMPTS}, reported in the incident's thread. Returns the opened room, else undefined.
 */
async function openRoom(deps: IncidentChannelDeps, em: EntityManager, room: RoomRow, out: KeeperTick): Promise<RoomRow | undefined> {
  const { config, clock, logger, channels } = deps;
  const inc = await getIncident(em, room.incidentId);
  if (!inc) return undefined;
  const now = clock.now();
  try {
    const ch = await channels.createChannel(channelName(`inc-${inc.id}`, inc.title));
    await markRoomOpen(em, inc.id, ch, now);
    const commander = await defaultCommander(em, inc, config);
    if (commander && (await assignRoleIfUnset(em, inc.id, 'commander', commander, 'system:default', now)))
      await addEvent(em, inc.id, now, 'role', 'system:default', `commander: <@${commander}> (default: ${inc.declaredBy.startsWith('slack:') ? 'the declarer' : 'the on-call'})`, { role: 'commander', user: commander });
    await addEvent(em, inc.id, now, 'channel_opened', 'system', `incident channel #${ch.name} opened`, { channel: ch.id, name: ch.name });
    await enqueueSlack(em, { dedupKey: `${roomRef(inc.id)}:intro`, kind: 'post', channel: ch.id, ref: roomRef(inc.id), ...(await introMessage(em, inc)) }, now);
    await enqueueSlack(em, { dedupKey: `${incidentRef(inc.id)}:room`, kind: 'reply', channel: config.alerting.incidentsChannel, ref: incidentRef(inc.id), text: `:loudspeaker: Incident channel: <#${ch.id}|${ch.name}> — the response happens there.` }, now);
    out.opened.push(inc.id);
    logger.info({ incident: inc.id, channel: ch.id, name: ch.name }, 'incident channel opened');
    return getRoom(em, inc.id);
  } catch (err) {
    const f = classifySlackError(err);
    const giveUp = room.attempts >= ROOM_MAX_ATTEMPTS;
    const retryAt = giveUp ? undefined : new Date(now.getTime() + retryDelayMs(room.attempts));
    await markRoomError(em, inc.id, `${f.kind}: ${f.error}`, retryAt);
    logger.warn({ incident: inc.id, error: f.error, attempts: room.attempts, giveUp }, 'incident channel: conversations.create failed');
    if (giveUp)
      await enqueueSlack(em, { dedupKey: `${incidentRef(inc.id)}:room-failed`, kind: 'reply', channel: config.alerting.incidentsChannel, ref: incidentRef(inc.id), text: `:warning: No incident channel could be opened (Slack answered \`${f.error}\` ${room.attempts} times); the response stays in this thread.` }, now);
    return undefined;
  }
}

/** Invites the responders not yet in `channel`; returns the users handled (invited, or refused and logged). */
async function inviteResponders(deps: IncidentChannelDeps, em: EntityManager, room: RoomRow, channel: string, out: KeeperTick): Promise<string[]> {
  const missing = (await responderUserIds(em, room.incidentId)).filter((u) => !room.invited.includes(u));
  if (!missing.length) return [];
  const res = await deps.channels.invite(channel, missing);
  const handled: string[] = [];
  for (const [user, r] of Object.entries(res)) {
    handled.push(user);
    if (r.startsWith('error:')) deps.logger.warn({ incident: room.incidentId, user, error: r }, 'incident channel: invite refused');
  }
  out.invited += Object.values(res).filter((r) => r === 'invited').length;
  return handled;
}

/** Brings an open room up to date: invites new responders, posts new timeline entries, closes it once resolved. */
async function syncRoom(deps: IncidentChannelDeps, em: EntityManager, room: RoomRow, out: KeeperTick): Promise<void> {
  const channel = room.channelId;
  if (!channel) return;
  const now = deps.clock.now();
  const invitedNow = await inviteResponders(deps, em, room, channel, out);
  const { incident, entries } = await incidentTimeline(em, room.incidentId);
  const fresh = entries.filter((e) => !room.posted.includes(entryKey(e)));
  const [firstFresh] = fresh;
  if (fresh.length > BATCH_OVER && firstFresh) {
    const first = room.posted.length === 0;
    const text = `${first ? `:scroll: *Timeline so far* (${fresh.length} entries)` : `:scroll: ${fresh.length} new timeline entries`}\n${fresh.map(entryLine).join('\n')}`;
    await enqueueSlack(em, { dedupKey: `${roomRef(room.incidentId)}:batch:${entryKey(firstFresh)}:${fresh.length}`, kind: 'post', channel, text }, now);
  } else {
    for (const e of fresh) await enqueueSlack(em, { dedupKey: `${roomRef(room.incidentId)}:tl:${entryKey(e)}`, kind: 'post', channel, text: entryLine(e) }, now);
  }
  out.posted += fresh.length;
  await updateRoomProgress(em, room.incidentId, { invited: invitedNow, posted: fresh.map(entryKey), close: incident.status === 'resolved' });
}

/** Hands a draft to the outbox as a file (files.uploadV2) with a line saying what it is; the outbox retries it. */
async function uploadPostmortem(deps: IncidentChannelDeps, em: EntityManager, pm: PostmortemRow, out: KeeperTick): Promise<void> {
  const room = await getRoom(em, pm.incidentId);
  const parent = room?.channelId ? undefined : await postedMessage(em, incidentRef(pm.incidentId));
  const target = room?.channelId ?? parent?.channel;
  if (!target) {
    await markPostmortem(em, pm.id, { error: 'the incident has no channel and its incidents-channel post is not out yet; retried' });
    return;
  }
  const now = deps.clock.now();
  const where = { channel: target, ...(parent ? { threadTs: parent.ts } : {}) };
  const comment = `:memo: Postmortem draft #${pm.id} for incident #${pm.incidentId} (by ${who(pm.createdBy)}): summary, impact, timeline, root cause, actions, follow-ups. Edit before sharing.`;
  await enqueueSlack(em, { dedupKey: `postmortem:${pm.id}:comment`, kind: parent ? 'reply' : 'post', route: 'incidents', ...where, text: comment }, now);
  await enqueueSlack(em, { dedupKey: `postmortem:${pm.id}:file`, kind: 'file', route: 'incidents', ...where, text: pm.markdown, body: { type: 'file', filename: pm.filename, title: `Postmortem — incident #${pm.incidentId}` } }, now);
  await markPostmortem(em, pm.id, { channelId: target, uploadedAt: now });
  out.uploaded.push(pm.id);
}

/** One keeper pass: registers new rooms, opens claimed ones, syncs open ones, uploads claimed postmortem drafts. */
async function keeperTick(deps: IncidentChannelDeps): Promise<KeeperTick> {
  const out: KeeperTick = { opened: [], invited: 0, posted: 0, uploaded: [] };
  const em = deps.orm.em.fork();
  const now = deps.clock.now();
  const lease = new Date(now.getTime() + LEASE_MS);
  await registerRooms(em, ROOM_SEVERITIES, now);
  for (const room of await claimRooms(em, 'creating', now, lease)) await openRoom(deps, em, room, out);
  for (const room of await claimRooms(em, 'open', now, lease)) {
    try {
      await syncRoom(deps, em, room, out);
    } catch (err) {
      await markRoomError(em, room.incidentId, `sync: ${classifySlackError(err).error}`, new Date(now.getTime() + 5000));
      deps.logger.warn({ incident: room.incidentId, err: errText(err) }, 'incident channel sync failed; retried');
    }
  }
  for (const pm of await claimPostmortems(em, now, lease)) await uploadPostmortem(deps, em, pm, out);
  return out;
}

/** Creates the keeper (see the module comment): a tick every `intervalMs` (default 2 s). */
export function createIncidentChannelKeeper(deps: IncidentChannelDeps): IncidentChannelKeeper {
  return createTickLoop(() => keeperTick(deps), deps.intervalMs ?? 2000, (err) => deps.logger.error({ err: errText(err) }, 'incident channel keeper tick failed'));
}
