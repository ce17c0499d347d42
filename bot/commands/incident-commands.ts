/**
 * The incident and silence subcommands of `/lf` (Slack and the CLI), called by bot/commands/execute.ts:
 *
 * - `incident declare <SEV1-4> <title…> [provider=<p>] [runbook=<id>]`, `incident ack|resolve|escalate <id>`,
 *   `incident note <id> <text…>` (operator); `incident timeline <id>`, `incident` alone and `incidents` (viewer);
 * - `silence <alertname | label=value …> <duration> [comment…]`, `unsilence <id>` (operator); `silences` (viewer).
 *
 * The per-subcommand roles of `incident` come from its `subcommands` entry in bot/commands/spec.ts (the command
 * itself is open to viewers); refusals are audited. The data work is alerts/incidents.ts and alerts/silences.ts;
 * this module parses, checks roles, audits silences and renders the results (Block Kit and text).
 */
import Table from 'cli-table3';
import type { types } from '@slack/bolt';
import {
  acknowledgeIncident,
  addIncidentNote,
  declareIncident,
  escalateIncident,
  incidentTimeline,
  listIncidents,
  resolveIncident,
  who,
  LEVEL_NAMES,
  type IncidentRow,
  type TimelineEntry,
} from '../../alerts/incidents.js';
import { activeSilences, createSilence, expireSilence, parseDuration, type SilenceRow } from '../../alerts/silences.js';
import { INCIDENT_SEVERITIES, type IncidentSeverity } from '../../db/entities/alerting.entity.js';
import { AppError } from '../../domain/errors.js';
import { audit, type Actor } from '../../runbooks/actions.js';
import type { RunbookContext } from '../../runbooks/context.js';
import { roleAtLeast, type Role } from '../../runbooks/define.js';
import { clampText, escapeMrkdwn } from '../../domain/text/slack-text.js';
import type { LfCommand } from './spec.js';
import type { ChatResult } from './chat-result.js';
import { executeIncidentPostmortem, executeIncidentRole, INCIDENT_RESPONSE_USAGE } from './incident-response-commands.js';

/** Names of the subcommands handled here. */
export const INCIDENT_COMMAND_NAMES: ReadonlySet<string> = new Set(['incident', 'incidents', 'silence', 'silences', 'unsilence']);

/** Usage lines of `incident`. */
export const INCIDENT_USAGE = [
  'incident declare <SEV1-4> <title…> [provider=<p>] [runbook=<id>]',
  'incident ack <id>',
  'incident resolve <id>',
  'incident escalate <id>',
  'incident note <id> <text…>',
  'incident timeline <id>',
  ...INCIDENT_RESPONSE_USAGE,
];

/** What these subcommands produce (added to execute.ts's LfResult). Times UTC. */
export type IncidentResult =
  | { kind: 'incident_action'; action: 'declare' | 'ack' | 'resolve' | 'escalate' | 'note'; status: 'done' | 'duplicate' | 'refused'; incident: IncidentRow; detail: string; actor: Actor }
  | { kind: 'incidents'; incidents: IncidentRow[]; usage?: string[] }
  | { kind: 'incident_timeline'; incident: IncidentRow; entries: TimelineEntry[] }
  | { kind: 'silence_action'; action: 'silence' | 'unsilence'; ok: boolean; id: number; silence?: SilenceRow; detail: string; actor: Actor }
  | { kind: 'silences'; silences: SilenceRow[] };

const ALIASES: Record<string, string> = { acknowledge: 'ack', show: 'timeline' };

function incidentId(arg: string | undefined, usage: string): number {
  const m = /^#?(\d{1,9})$/.exec(arg ?? '');
  if (!m) throw new AppError('bad_request', `usage: ${usage} (the incident number, e.g. 12)`);
  return Number(m[1]);
}

/**
 * `silence` arguments: matchers (`label=value`, or one bare alert name = `alertname=<it>`) up to the first
 * duration, then an optional comment. @throws AppError bad_request.
 */
export function parseSilenceArgs(args: string[]): { matchers: Record<string, string>; durationMs: number; comment?: string } {
  const usage = 'usage: silence <alertname | label=value …> <duration e.g. 2h> [comment…]';
  const at = args.findIndex((a) => /^\d+[smhd]$/i.test(a));
  if (at < 0) throw new AppError('bad_request', `${usage}: no duration given`);
  const matchers: Record<string, string> = {};
  for (const a of args.slice(0, at)) {
    const i = a.indexOf('=');
    if (i > 0) matchers[a.slice(0, i)] = a.slice(i + 1);
    else if (i < 0 && !matchers.alertname) matchers.alertname = a;
    else throw new AppError('bad_request', `${usage}: "${a}" is neither label=value nor a single alert name`);
  }
  if (Object.keys(matchers).length === 0) throw new AppError('bad_request', `${usage}: give an alert name or label=value`);
  const comment = args.slice(at + 1).join(' ').trim();
  return { matchers, durationMs: parseDuration(args[at]!), ...(comment ? { comment } : {}) };
}

async function refuse(ctx: RunbookContext, actor: Actor, name: string, need: Role, args: string[]): Promise<{ kind: 'refused'; detail: string }> {
  const detail = `\`${name}\` needs the ${need} role; ${actor.display} has ${actor.role ?? 'no role'}`;
  await audit(ctx.em(), { at: ctx.services.clock.now(), actor, action: `command:${name.replace(/ /g, ':')}`, input: { args }, outcome: 'refused', detail });
  return { kind: 'refused', detail };
}

/**
 * Executes `incident …`, `incidents`, `silence …`, `silences`, `unsilence <id>` for `actor` (the command-level
 * role has been checked by the caller; sub-roles are checked here).
 * @throws AppError bad_request for bad arguments, NotFoundError for an unknown incident; database errors as thrown.
 */
export async function executeIncidentCommand(ctx: RunbookContext, cmd: LfCommand, args: string[], actor: Actor): Promise<IncidentResult | ChatResult | { kind: 'refused'; detail: string }> {
  const config = ctx.services.config;
  const now = () => ctx.services.clock.now();
  const em = ctx.em();
  switch (cmd.name) {
    case 'incidents':
      return { kind: 'incidents', incidents: await listIncidents(em) };
    case 'silences':
      return { kind: 'silences', silences: await activeSilences(em, now()) };
    case 'silence': {
      const parsed = parseSilenceArgs(args);
      const silence = await createSilence(em, { ...parsed, createdBy: actor.id }, now());
      const detail = `silence #${silence.id} (${matchersText(silence.matchers)}) until ${silence.endsAt.toISOString()}`;
      await audit(em, { at: now(), actor, action: 'silence:create', input: { matchers: parsed.matchers, durationMs: parsed.durationMs, comment: parsed.comment ?? null }, outcome: 'succeeded', detail });
      return { kind: 'silence_action', action: 'silence', ok: true, id: silence.id, silence, detail, actor };
    }
    case 'unsilence': {
      const m = /^#?(\d{1,9})$/.exec(args[0] ?? '');
      if (!m) throw new AppError('bad_request', `usage: ${cmd.usage}`);
      const id = Number(m[1]);
      const ok = await expireSilence(em, id, now());
      const detail = ok ? `silence #${id} ended` : `silence #${id} is not in force (unknown, or already ended)`;
      await audit(em, { at: now(), actor, action: 'silence:expire', input: { id }, outcome: ok ? 'succeeded' : 'duplicate', detail });
      return { kind: 'silence_action', action: 'unsilence', ok, id, detail, actor };
    }
    case 'incident':
      break;
    default:
      throw new AppError('internal', `${cmd.name} is not an incident command`);
  }
  const [rawSub, ...rest] = args;
  if (!rawSub) return { kind: 'incidents', incidents: await listIncidents(em), usage: INCIDENT_USAGE };
  const sub = ALIASES[rawSub.toLowerCase()] ?? rawSub.toLowerCase();
  const need = cmd.subcommands?.[sub];
  if (!need) throw new AppError('bad_request', `unknown incident subcommand "${clampText(rawSub, 40)}"; usage: ${INCIDENT_USAGE.join(' | ')}`);
  if (!roleAtLeast(actor.role, need)) return refuse(ctx, actor, `incident ${sub}`, need, args);
  const usage = INCIDENT_USAGE.find((u) => u.startsWith(`incident ${sub}`)) ?? cmd.usage;
  switch (sub) {
    case 'declare': {
      const severity = (rest[0] ?? '').toUpperCase();
      if (!(INCIDENT_SEVERITIES as readonly string[]).includes(severity)) throw new AppError('bad_request', `usage: ${usage} (severity one of ${INCIDENT_SEVERITIES.join(', ')})`);
      const opts: { provider?: string; runbook?: string } = {};
      const words: string[] = [];
      for (const w of rest.slice(1)) {
        const m = /^(provider|runbook)=(\S+)$/.exec(w);
        if (m) opts[m[1] as 'provider' | 'runbook'] = m[2]!;
        else words.push(w);
      }
      if (words.length === 0) throw new AppError('bad_request', `usage: ${usage} (a title is needed)`);
      const inc = await declareIncident(em, { title: words.join(' '), severity: severity as IncidentSeverity, declaredBy: actor.id, actor, ...opts }, now(), config);
      const detail = `${inc.severity} incident #${inc.id} declared; ${LEVEL_NAMES[1]} paged in ${config.alerting.incidentsChannel}; acknowledge by ${inc.ackDeadline?.toISOString()}`;
      return { kind: 'incident_action', action: 'declare', status: 'done', incident: inc, detail, actor };
    }
    case 'ack':
    case 'resolve':
    case 'escalate': {
      const id = incidentId(rest[0], usage);
      const fn = sub === 'ack' ? acknowledgeIncident : sub === 'resolve' ? resolveIncident : escalateIncident;
      const out = await fn(em, id, actor, now(), config, { via: 'command' });
      return { kind: 'incident_action', action: sub, status: out.status, incident: out.incident, detail: out.detail, actor };
    }
    case 'note': {
      const id = incidentId(rest[0], usage);
      const inc = await addIncidentNote(em, id, actor, rest.slice(1).join(' '), now(), config);
      return { kind: 'incident_action', action: 'note', status: 'done', incident: inc, detail: `note added to incident #${id}`, actor };
    }
    case 'timeline': {
      const { incident, entries } = await incidentTimeline(em, incidentId(rest[0], usage));
      return { kind: 'incident_timeline', incident, entries };
    }
    case 'role':
      return executeIncidentRole(ctx, rest, actor);
    case 'postmortem':
      return executeIncidentPostmortem(ctx, rest, actor);
    default:
      throw new AppError('bad_request', `usage: ${INCIDENT_USAGE.join(' | ')}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Rendering

const utc = (d: Date | null | undefined) => (d ? `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC` : '—');
const SEV_EMOJI: Record<string, string> = { SEV1: ':red_circle:', SEV2: ':large_orange_circle:', SEV3: ':large_yellow_circle:', SEV4: ':white_circle:' };

/** `alertname=X label=value …`: the alert name first, then labels sorted (jsonb does not keep key order). */
function matchersText(m: Record<string, string>): string {
  return Object.entries(m)
    .sort(([a], [b]) => (a === 'alertname' ? -1 : b === 'alertname' ? 1 : a.localeCompare(b)))
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

function incidentLine(i: IncidentRow): string {
  const state = i.status === 'acknowledged' ? `acknowledged by ${who(i.acknowledgedBy)}` : i.status === 'resolved' ? `resolved by ${who(i.resolvedBy)}` : `open, ack by ${utc(i.ackDeadline)}`;
  return `${SEV_EMOJI[i.severity] ?? ''} *#${i.id}* ${i.severity} — ${escapeMrkdwn(clampText(i.title, 200))}\n${LEVEL_NAMES[i.level]} · ${state} · declared ${utc(i.declaredAt)} by ${who(i.declaredBy)}`;
}

const section = (text: string): types.KnownBlock => ({ type: 'section', text: { type: 'mrkdwn', text: clampText(text, 3000) } });

/** Packs lines into sections of at most 3000 characters, at most `maxBlocks` of them (a last line says what was left out). */
function packed(lines: string[], maxBlocks: number): types.KnownBlock[] {
  const out: types.KnownBlock[] = [];
  let cur = '';
  let i = 0;
  for (; i < lines.length; i++) {
    const line = clampText(lines[i]!, 2900);
    if (cur && cur.length + line.length + 1 > 3000) {
      if (out.length === maxBlocks - 1) break;
      out.push(section(cur));
      cur = '';
    }
    cur = cur ? `${cur}\n${line}` : line;
  }
  if (cur) out.push(section(cur));
  if (i < lines.length) out.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `+${lines.length - i} more entries: \`npm run lf -- incident timeline <id>\`` }] });
  return out;
}

/** Block Kit for an incident result, and whether the channel sees it (successful actions) or only the asker. */
export function renderIncidentSlack(result: IncidentResult): { message: { text: string; blocks: types.KnownBlock[] }; responseType: 'ephemeral' | 'in_channel' } {
  switch (result.kind) {
    case 'incident_action': {
      const i = result.incident;
      const verbs = { declare: 'declared', ack: 'acknowledged', resolve: 'resolved', escalate: `escalated to ${LEVEL_NAMES[i.level]}`, note: 'added a note to' } as const;
      if (result.status !== 'done') {
        const text = `${result.status === 'refused' ? ':no_entry:' : ':information_source:'} ${escapeMrkdwn(result.detail)}`;
        return { message: { text, blocks: [section(text)] }, responseType: 'ephemeral' };
      }
      const text = `${SEV_EMOJI[i.severity] ?? ''} ${result.actor.display} ${verbs[result.action]} ${i.severity} incident #${i.id}: ${escapeMrkdwn(clampText(i.title, 200))}`;
      const blocks = [section(text), section(incidentLine(i))];
      if (result.action === 'declare') blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: escapeMrkdwn(result.detail) }] });
      return { message: { text, blocks }, responseType: 'in_channel' };
    }
    case 'incidents': {
      const text = result.incidents.length ? `${result.incidents.length} open incident(s): ${result.incidents.map((i) => `#${i.id} ${i.severity}`).join(', ')}` : 'No open incidents.';
      const blocks: types.KnownBlock[] = [{ type: 'header', text: { type: 'plain_text', text: 'Open incidents' } }];
      if (result.incidents.length === 0) blocks.push(section('_No open incidents._ :tada:'));
      else blocks.push(...packed(result.incidents.map(incidentLine).flatMap((l) => [l, '']), 45));
      if (result.usage) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: clampText(result.usage.map((u) => `\`/lf ${u}\``).join(' · '), 3000) }] });
      return { message: { text, blocks }, responseType: 'ephemeral' };
    }
    case 'incident_timeline': {
      const i = result.incident;
      const lines = result.entries.map((e) => `\`${utc(e.at)}\` *${e.kind}* — ${who(e.actor)}: ${escapeMrkdwn(clampText(e.detail, 400))}`);
      const text = `Incident #${i.id} timeline: ${result.entries.length} entries`;
      const blocks: types.KnownBlock[] = [{ type: 'header', text: { type: 'plain_text', text: clampText(`Incident #${i.id} timeline`, 150) } }, section(incidentLine(i)), ...packed(lines.length ? lines : ['_No entries._'], 46)];
      return { message: { text, blocks }, responseType: 'ephemeral' };
    }
    case 'silence_action': {
      const text = result.ok
        ? result.action === 'silence'
          ? `:mute: ${result.actor.display} silenced \`${escapeMrkdwn(matchersText(result.silence!.matchers))}\` until ${utc(result.silence!.endsAt)} (silence #${result.id}${result.silence!.comment ? `: ${escapeMrkdwn(result.silence!.comment)}` : ''}). Alerts are still evaluated; their posts and pages are muted.`
          : `:loud_sound: ${result.actor.display} ended silence #${result.id}.`
        : `:information_source: ${escapeMrkdwn(result.detail)}`;
      return { message: { text, blocks: [section(text)] }, responseType: result.ok ? 'in_channel' : 'ephemeral' };
    }
    case 'silences': {
      const text = result.silences.length ? `${result.silences.length} active silence(s)` : 'No active silences.';
      const lines = result.silences.map((s) => `*#${s.id}* \`${escapeMrkdwn(matchersText(s.matchers))}\` until ${utc(s.endsAt)} — by ${who(s.createdBy)}${s.comment ? `: _${escapeMrkdwn(clampText(s.comment, 300))}_` : ''}`);
      const blocks: types.KnownBlock[] = [{ type: 'header', text: { type: 'plain_text', text: 'Active silences' } }, ...packed(lines.length ? lines : ['_No active silences._'], 45)];
      return { message: { text, blocks }, responseType: 'ephemeral' };
    }
  }
}

function table(head: string[], rows: string[][], widths?: number[]): string {
  const t = new Table({ head, style: { head: [], border: [] }, wordWrap: true, ...(widths ? { colWidths: widths } : {}) });
  t.push(...rows);
  return t.toString();
}

/** Plain text (CLI) for an incident result, ending in a newline. */
export function renderIncidentText(result: IncidentResult): string {
  switch (result.kind) {
    case 'incident_action':
      return `${result.status === 'done' ? '' : `${result.status}: `}${result.detail}\n`;
    case 'incidents': {
      const body = result.incidents.length
        ? table(
            ['id', 'sev', 'status', 'level', 'title', 'declared', 'ack deadline'],
            result.incidents.map((i) => [String(i.id), i.severity, i.status, String(i.level), i.title, `${utc(i.declaredAt)} ${i.declaredBy}`, i.status === 'open' ? utc(i.ackDeadline) : '-']),
          )
        : 'No open incidents.';
      return `${body}\n${result.usage ? `\nusage:\n${result.usage.map((u) => `  npm run lf -- ${u}`).join('\n')}\n` : ''}`;
    }
    case 'incident_timeline': {
      const i = result.incident;
      return `Incident #${i.id} ${i.severity} ${i.status} (level ${i.level}): ${i.title}\n${table(['at', 'kind', 'actor', 'detail'], result.entries.map((e) => [utc(e.at), e.kind, e.actor, e.detail]), [22, 22, 26, 70])}\n`;
    }
    case 'silence_action':
      return `${result.detail}\n`;
    case 'silences':
      return result.silences.length
        ? `${table(['id', 'matchers', 'until', 'by', 'comment'], result.silences.map((s) => [String(s.id), matchersText(s.matchers), utc(s.endsAt), s.createdBy, s.comment ?? '']))}\n`
        : 'No active silences.\n';
  }
}
