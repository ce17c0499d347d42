/**
 * `incident role <id> commander|communications @user` and `incident postmortem <id>` (operator; bot/commands/
 * incident-commands.ts dispatches here after the role check). Roles are recorded on the incident (timeline event
 * `role`, audit row) and their holders invited to the incident channel by the keeper (alerts/incident-channel.ts);
 * the postmortem draft is stored and uploaded to the incident channel by the same keeper (alerts/postmortem.ts).
 */
import { addEvent, getIncident } from '../../alerts/incidents.js';
import { requestPostmortem } from '../../alerts/postmortem.js';
import { INCIDENT_ROLES, type IncidentRole } from '../../db/entities/incident-response.entity.js';
import { AppError, NotFoundError } from '../../domain/errors.js';
import { assignRole, getRoom } from '../../domain/queries/incident-rooms.js';
import { audit, type Actor } from '../../runbooks/actions.js';
import type { RunbookContext } from '../../runbooks/context.js';
import { escapeMrkdwn } from '../../domain/text/slack-text.js';
import type { ChatResult } from './chat-result.js';

/** Usage lines of these subcommands. */
export const INCIDENT_RESPONSE_USAGE = ['incident role <id> commander|communications @user', 'incident postmortem <id>'];

/**
 * A Slack user from a command word: `<@U123>` / `<@U123|name>` (an escaped mention), `@U123` or `U123`.
 * @throws AppError bad_request for anything else (e.g. an unescaped `@name`: Slack sends ids only when the command escapes).
 */
export function parseUserWord(word: string | undefined): string {
  const m = /^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$/.exec(word ?? '') ?? /^@?([UW][A-Z0-9]{2,})$/.exec(word ?? '');
  if (!m) throw new AppError('bad_request', `"${word ?? ''}" is not a Slack user: mention them (@name) or give their id (U…)`);
  return m[1]!;
}

function incidentNumber(word: string | undefined, usage: string): number {
  const m = /^#?(\d{1,9})$/.exec(word ?? '');
  if (!m) throw new AppError('bad_request', `usage: ${usage} (the incident number, e.g. 12)`);
  return Number(m[1]);
}

/** `incident role <id> <role> @user`. @throws AppError bad_request, NotFoundError. */
export async function executeIncidentRole(ctx: RunbookContext, args: string[], actor: Actor): Promise<ChatResult> {
  const usage = INCIDENT_RESPONSE_USAGE[0]!;
  const id = incidentNumber(args[0], usage);
  const role = (args[1] ?? '').toLowerCase() as IncidentRole;
  if (!INCIDENT_ROLES.includes(role)) throw new AppError('bad_request', `usage: ${usage} (role one of ${INCIDENT_ROLES.join(', ')})`);
  if (args.length !== 3) throw new AppError('bad_request', `usage: ${usage}`);
  const user = parseUserWord(args[2]);
  const em = ctx.em();
  const inc = await getIncident(em, id);
  if (!inc) throw new NotFoundError(`incident #${id}`);
  const now = ctx.services.clock.now();
  const prev = await assignRole(em, id, role, user, actor.id, now);
  const detail = `${role}: <@${user}>${prev && prev !== user ? ` (was <@${prev}>)` : ''}, set by ${actor.id}`;
  await addEvent(em, id, now, 'role', actor.id, detail, { role, user, ...(prev ? { previous: prev } : {}) });
  await audit(em, { at: now, actor, action: 'incident:role', input: { incident: id, role, user }, outcome: 'succeeded', detail });
  const room = await getRoom(em, id);
  const where = room?.channelId ? ` They are invited to <#${room.channelId}> within seconds.` : '';
  return {
    kind: 'chat',
    title: `Incident #${id}: ${role}`,
    text: `incident #${id}: ${role} is now ${user}${prev && prev !== user ? ` (was ${prev})` : ''}`,
    mrkdwn: `:bust_in_silhouette: ${actor.display} made <@${user}> the *${role}* of ${inc.severity} incident #${id}: ${escapeMrkdwn(inc.title)}.${where}`,
    data: { incident: id, role, user, previous: prev ?? null },
    ok: true,
    responseType: 'in_channel',
  };
}

/** `incident postmortem <id>`. @throws AppError bad_request, NotFoundError. */
export async function executeIncidentPostmortem(ctx: RunbookContext, args: string[], actor: Actor): Promise<ChatResult> {
  const id = incidentNumber(args[0], INCIDENT_RESPONSE_USAGE[1]!);
  if (args.length !== 1) throw new AppError('bad_request', `usage: ${INCIDENT_RESPONSE_USAGE[1]}`);
  const em = ctx.em();
  const pm = await requestPostmortem(em, id, actor, ctx.services.clock);
  const room = await getRoom(em, id);
  const where = room?.channelId ? `<#${room.channelId}>` : `the incident's thread in ${ctx.services.config.alerting.incidentsChannel}`;
  const m = pm.impact;
  const figures = `${m.businessesNotProcessed} businesses not processed, ${m.emailsNotSent} emails not sent, ${m.purchasesAffected} purchases affected`;
  const cause = pm.rootCauses.length ? pm.rootCauses.join('; ') : 'none indicated';
  return {
    kind: 'chat',
    title: `Postmortem draft — incident #${id}`,
    text: `postmortem draft #${pm.postmortemId} (${pm.filename}) for incident #${id}: ${figures}; root cause: ${cause}; uploading to ${room?.name ? `#${room.name}` : where}\n\n${pm.markdown}`,
    mrkdwn: `:memo: ${actor.display} drafted the postmortem of ${pm.incident.severity} incident #${id} (\`${pm.filename}\`); it is being uploaded to ${where}.\n*Impact:* ${figures}.\n*Root cause:* ${escapeMrkdwn(cause)}.`,
    data: { postmortem: pm.postmortemId, incident: id, filename: pm.filename, impact: pm.impact, rootCauses: pm.rootCauses, markdown: pm.markdown },
    ok: true,
    responseType: 'in_channel',
  };
}
