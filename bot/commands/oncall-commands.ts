/**
 * The `oncall` subcommand of `/lf` and the CLI (`lf oncall …`), called by bot/commands/execute.ts:
 *
 * - `oncall [now]`, `oncall next`, `oncall schedule [days]`, `oncall rotations` (viewer): who is on call (primary
 *   pages at Level 1, secondary at Levels 2-3), the next hand-offs, the schedule, the rotations;
 * - `oncall rotation add <name> <daily|weekly> <@user …> [layer=primary|secondary] [at=HH:MM] [day=mon…sun]
 *   [tz=<IANA zone>] [start=YYYY-MM-DD]`, `oncall rotation remove <name>` (operator);
 * - `oncall override <@user> <duration> [layer=…] [start=<ISO time>] [reason…]`, `oncall override cancel <id>`,
 *   `oncall contact <@user> <email>` (operator).
 *
 * Every change is audited (domain/oncall/schedule.ts); refusals by role are audited here. Users are Slack mentions
 * (`<@U123|alice>` as Slack sends them, or the bare id `U123`).
 */
import type { types } from '@slack/bolt';
import { DateTime } from 'luxon';
import { ONCALL_LAYERS, type OncallLayer } from '../../db/entities/oncall.entity.js';
import { AppError } from '../../domain/errors.js';
import { addOverride, addRotation, cancelOverride, nextOnCall, onCallAt, removeRotation, scheduleBetween, setContact, type OnCallPair } from '../../domain/oncall/schedule.js';
import type { Segment } from '../../domain/oncall/timeline.js';
import type { OverrideRow, RotationRow } from '../../domain/queries/oncall.js';
import { parseDuration } from '../../alerts/silences.js';
import { audit, type Actor } from '../../runbooks/actions.js';
import type { RunbookContext } from '../../runbooks/context.js';
import { roleAtLeast, type Role } from '../../runbooks/define.js';

/** Usage lines of `oncall`. */
export const ONCALL_USAGE = [
  'oncall [now] | next | schedule [days] | rotations',
  'oncall rotation add <name> <daily|weekly> <@user …> [layer=primary|secondary] [at=HH:MM] [day=mon…sun] [tz=Europe/Berlin] [start=YYYY-MM-DD]',
  'oncall rotation remove <name>',
  'oncall override <@user> <duration e.g. 2h> [layer=primary|secondary] [start=<ISO time>] [reason…]',
  'oncall override cancel <id>',
  'oncall contact <@user> <email>',
];

/** Roles per second word (the command itself is open to viewers). */
export const ONCALL_SUBCOMMANDS: Readonly<Record<string, Role>> = { now: 'viewer', next: 'viewer', schedule: 'viewer', rotations: 'viewer', rotation: 'operator', override: 'operator', contact: 'operator' };

/** What `oncall` produces (added to execute.ts's LfResult). Times UTC. */
export type OncallResult =
  | { kind: 'oncall_now'; at: Date; now: OnCallPair; next: Record<OncallLayer, Segment | undefined>; view: 'now' | 'next' }
  | { kind: 'oncall_schedule'; from: Date; to: Date; segments: Segment[]; rotations: RotationRow[]; overrides: OverrideRow[] }
  | { kind: 'oncall_change'; detail: string; actor: Actor }
  | { kind: 'oncall_refused'; detail: string };

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** A Slack user id from `<@U123|name>`, `<@U123>`, `@U123` or `U123`. @throws AppError bad_request otherwise. */
export function userArg(arg: string | undefined): string {
  const m = /^<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>$/.exec(arg ?? '') ?? /^@?([UW][A-Z0-9]{2,})$/.exec(arg ?? '');
  if (!m) throw new AppError('bad_request', `"${arg ?? ''}" is not a Slack user: mention the person (@alice) so Slack sends their id, or give the id (U…)`);
  return m[1]!;
}

function layerArg(v: string | undefined): OncallLayer {
  const layer = (v ?? 'primary').toLowerCase();
  if (!(ONCALL_LAYERS as readonly string[]).includes(layer)) throw new AppError('bad_request', `layer must be primary or secondary, got "${v}"`);
  return layer as OncallLayer;
}

function options(args: string[]): { opts: Record<string, string>; rest: string[] } {
  const opts: Record<string, string> = {};
  const rest: string[] = [];
  for (const a of args) {
    const m = /^(layer|at|day|tz|start)=(.*)$/.exec(a);
    if (m) opts[m[1]!] = m[2]!;
    else rest.push(a);
  }
  return { opts, rest };
}

function parseStart(v: string | undefined, zone: string, now: Date): Date {
  if (!v) return now;
  const t = /^\d{4}-\d{2}-\d{2}$/.test(v) ? DateTime.fromISO(v, { zone }) : DateTime.fromISO(v, { zone: 'utc', setZone: true });
  if (!t.isValid) throw new AppError('bad_request', `start must be a date (YYYY-MM-DD) or an ISO time, got "${v}"`);
  return t.toJSDate();
}

async function rotationCommand(ctx: RunbookContext, args: string[], actor: Actor, now: Date): Promise<OncallResult> {
  const [verb, name, ...rest] = args;
  const em = ctx.em();
  if (verb === 'remove' && name) {
    await removeRotation(em, name, actor, now);
    return { kind: 'oncall_change', detail: `rotation ${name} removed`, actor };
  }
  if (verb !== 'add' || !name) throw new AppError('bad_request', `usage: ${ONCALL_USAGE[1]} | ${ONCALL_USAGE[2]}`);
  const { opts, rest: words } = options(rest);
  const [handoff, ...people] = words;
  if (handoff !== 'daily' && handoff !== 'weekly') throw new AppError('bad_request', `usage: ${ONCALL_USAGE[1]} (hand-off daily or weekly, got "${handoff ?? ''}")`);
  const zone = opts.tz ?? ctx.services.config.oncall.timeZone;
  let weekday: number | undefined;
  if (opts.day !== undefined) {
    weekday = WEEKDAYS.indexOf(opts.day.slice(0, 3).toLowerCase()) + 1;
    if (weekday === 0) throw new AppError('bad_request', `day must be mon…sun, got "${opts.day}"`);
  }
  const r = await addRotation(
    em,
    { name, layer: layerArg(opts.layer), handoff, members: people.map(userArg), timeZone: zone, time: opts.at ?? '09:00', ...(weekday ? { weekday } : {}), start: parseStart(opts.start, zone, now) },
    actor,
    now,
  );
  const first = DateTime.fromJSDate(r.startsAt, { zone: r.timeZone });
  const when = r.handoff === 'weekly' ? first.toFormat('cccc HH:mm') : first.toFormat('HH:mm');
  return { kind: 'oncall_change', detail: `${r.layer} rotation ${r.name} added: ${r.handoff} hand-offs ${when} ${r.timeZone}, ${r.members.map((m) => `<@${m}>`).join(' → ')}; first hand-off ${first.toFormat('yyyy-LL-dd HH:mm ZZZZ')}`, actor };
}

async function overrideCommand(ctx: RunbookContext, args: string[], actor: Actor, now: Date): Promise<OncallResult> {
  const em = ctx.em();
  if (args[0] === 'cancel') {
    const id = /^#?(\d{1,9})$/.exec(args[1] ?? '')?.[1];
    if (!id) throw new AppError('bad_request', `usage: ${ONCALL_USAGE[4]}`);
    const was = await cancelOverride(em, Number(id), actor, now);
    return { kind: 'oncall_change', detail: `override #${id} cancelled (<@${was.userId}>, ${was.layer})`, actor };
  }
  const { opts, rest } = options(args);
  const [who, duration, ...reason] = rest;
  if (!who || !duration) throw new AppError('bad_request', `usage: ${ONCALL_USAGE[3]}`);
  const userId = userArg(who);
  const o = await addOverride(em, { layer: layerArg(opts.layer), userId, startsAt: parseStart(opts.start, 'utc', now), durationMs: parseDuration(duration), ...(reason.length ? { reason: reason.join(' ') } : {}) }, actor, now);
  return { kind: 'oncall_change', detail: `override #${o.id}: <@${userId}> is on call (${o.layer}) from ${fmt(o.startsAt)} until ${fmt(o.endsAt)}`, actor };
}

/**
 * Executes `oncall …` for `actor` (the command's own role already checked by the caller; the second word's here).
 * @throws AppError bad_request for bad arguments, not_found for an unknown rotation or override.
 */
export async function executeOncallCommand(ctx: RunbookContext, args: string[], actor: Actor): Promise<OncallResult> {
  const [first = 'now', ...rest] = args;
  const verb = first.toLowerCase();
  const now = ctx.services.clock.now();
  const needed = ONCALL_SUBCOMMANDS[verb];
  if (!needed) throw new AppError('bad_request', `unknown oncall subcommand "${first}"; usage:\n${ONCALL_USAGE.join('\n')}`);
  if (!roleAtLeast(actor.role, needed)) {
    const detail = `\`oncall ${verb}\` needs the ${needed} role; ${actor.display} has ${actor.role ?? 'no role'}`;
    await audit(ctx.em(), { at: now, actor, action: `oncall:${verb}`, input: { args }, outcome: 'refused', detail });
    return { kind: 'oncall_refused', detail };
  }
  switch (verb) {
    case 'now':
    case 'next':
      return { kind: 'oncall_now', at: now, now: await onCallAt(ctx.em(), now), next: await nextOnCall(ctx.em(), now), view: verb };
    case 'schedule':
    case 'rotations': {
      const days = verb === 'schedule' && rest[0] ? Number(rest[0]) : 7;
      if (!Number.isInteger(days) || days < 1 || days > 90) throw new AppError('bad_request', 'schedule takes a number of days from 1 to 90');
      const to = new Date(now.getTime() + days * 86_400_000);
      return { kind: 'oncall_schedule', from: now, to, ...(await scheduleBetween(ctx.em(), now, to)) };
    }
    case 'rotation':
      return rotationCommand(ctx, rest, actor, now);
    case 'override':
      return overrideCommand(ctx, rest, actor, now);
    default: {
      const [who, email] = rest;
      if (!who || !email) throw new AppError('bad_request', `usage: ${ONCALL_USAGE[5]}`);
      const userId = userArg(who);
      await setContact(ctx.em(), userId, email.replace(/^<mailto:[^|>]+\|([^>]+)>$/, '$1'), actor, now);
      return { kind: 'oncall_change', detail: `pages by email for <@${userId}> go to ${email.replace(/^<mailto:[^|>]+\|([^>]+)>$/, '$1')}`, actor };
    }
  }
}

const fmt = (d: Date) => `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
const person = (u: string | null, slack: boolean) => (u ? (slack ? `<@${u}>` : u) : 'nobody');
const sourceText = (s: string) => (s.startsWith('override:') ? `override #${s.slice(9)}` : s === 'none' ? 'no rotation' : `rotation ${s.slice(9)}`);

/** Lines of a result, with users as Slack mentions (`slack`) or bare ids (text). */
export function oncallLines(r: OncallResult, slack: boolean): string[] {
  switch (r.kind) {
    case 'oncall_refused':
    case 'oncall_change':
      return [r.detail];
    case 'oncall_now':
      return ONCALL_LAYERS.flatMap((layer) => {
        const n = r.now[layer];
        const nx = r.next[layer];
        const level = layer === 'primary' ? 'Level 1' : 'Levels 2-3';
        const line = `${layer} (${level}): ${person(n.userId, slack)} — ${sourceText(n.source)}${n.until ? `, until ${fmt(n.until)}` : ''}`;
        const next = nx ? `  next: ${person(nx.userId, slack)} from ${fmt(nx.start)} (${sourceText(nx.source)})` : '  next: no change within 60 days';
        return r.view === 'next' ? [`${layer}: next ${nx ? `${person(nx.userId, slack)} from ${fmt(nx.start)} (${sourceText(nx.source)}); now ${person(n.userId, slack)}` : 'no change within 60 days'}`] : [line, next];
      });
    case 'oncall_schedule': {
      const lines = r.segments.map((s) => `${s.layer.padEnd(9)} ${fmt(s.start)} → ${fmt(s.end)}  ${person(s.userId, slack)} (${sourceText(s.source)})`);
      const rot = r.rotations.map((x) => `rotation ${x.name}: ${x.layer}, ${x.handoff} at ${DateTime.fromJSDate(x.startsAt, { zone: x.timeZone }).toFormat('ccc HH:mm ZZZZ')} (${x.timeZone}), ${x.members.map((m) => person(m, slack)).join(' → ')}`);
      const ovr = r.overrides.map((o) => `override #${o.id}: ${person(o.userId, slack)} (${o.layer}) ${fmt(o.startsAt)} → ${fmt(o.endsAt)}${o.reason ? ` — ${o.reason}` : ''}`);
      return [...rot, ...ovr, ...(rot.length || ovr.length ? [''] : ['No rotations or overrides: pages go to ESCALATION_LEVEL1/2.']), ...lines];
    }
  }
}

/** Block Kit: changes in the channel (the team sees who is on call), lookups to the asker. */
export function renderOncallSlack(r: OncallResult): { message: { text: string; blocks: types.KnownBlock[] }; responseType: 'ephemeral' | 'in_channel' } {
  const text = oncallLines(r, true).join('\n').slice(0, 2900);
  const head = r.kind === 'oncall_now' ? (r.view === 'next' ? 'Next on call' : 'On call now') : r.kind === 'oncall_schedule' ? 'On-call schedule' : undefined;
  const icon = r.kind === 'oncall_refused' ? ':no_entry: ' : r.kind === 'oncall_change' ? ':pager: ' : '';
  const blocks: types.KnownBlock[] = [...(head ? [{ type: 'header' as const, text: { type: 'plain_text' as const, text: head } }] : []), { type: 'section', text: { type: 'mrkdwn', text: `${icon}${text}` } }];
  return { message: { text: `${icon}${text}`, blocks }, responseType: r.kind === 'oncall_change' ? 'in_channel' : 'ephemeral' };
}

/** Plain text (CLI). */
export function renderOncallText(r: OncallResult): string {
  return `${oncallLines(r, false).join('\n')}\n`;
}
