/**
 * Postmortem drafts (`/lf incident postmortem <id>`): Markdown built from what the system recorded — the incident
 * and its roles, the pipeline's own figures over the incident window (domain/queries/incident-impact.ts), the
 * timeline (alerts/incidents.ts `incidentTimeline`), the root cause with the findings behind it (the automatic
 * diagnosis stored on the incident's alerts), the remediations with their verification (audit log), and follow-ups
 * derived from all of it. {@link requestPostmortem} stores the draft (`incident_postmortems`, audited); the
 * incident-channel keeper (alerts/incident-channel.ts) uploads it to the incident's channel (files.uploadV2).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Clock } from '../domain/clock.js';
import { incidentDiagnoses, type IncidentDiagnosis } from '../domain/queries/incident-activity.js';
import { incidentImpact, type IncidentImpact } from '../domain/queries/incident-impact.js';
import { incidentRoles, insertPostmortem, type RoleHolder } from '../domain/queries/incident-rooms.js';
import { audit, type Actor } from '../runbooks/actions.js';
import { addEvent, incidentTimeline, LEVEL_NAMES, type IncidentRow, type TimelineEntry } from './incidents.js';
import { ACK_DEADLINE_MS } from '../domain/alerting/config.js';

/** Everything a draft is made of (all read before rendering, so {@link renderPostmortem} is pure). */
export interface PostmortemInput {
  incident: IncidentRow;
  entries: TimelineEntry[];
  roles: RoleHolder[];
  impact: IncidentImpact;
  diagnoses: IncidentDiagnosis[];
  /** When the draft is made (the window's end while the incident is unresolved). */
  now: Date;
  /** Set when the incident was a drill: its provider, fault and measured times. */
  drill?: { id: number; provider: string; fault: string; lines: string[] };
}

interface Finding {
  status?: string;
  summary?: string;
}
interface Result {
  id?: string;
  title?: string;
  finding?: Finding;
}
interface Cause {
  id?: string;
  title?: string;
}

const utc = (d: Date | null | undefined) => (d ? `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC` : '—');
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
/** Minutes (or hours) between two times, for people. */
export function duration(ms: number): string {
  const min = Math.round(ms / 60_000);
  if (min < 90) return `${min} min`;
  return `${Math.floor(min / 60)} h ${min % 60} min`;
}

/** The incident window: from the first alert or the declaration (whichever is earlier) to resolution (or now). */
export function incidentWindow(incident: IncidentRow, entries: TimelineEntry[], now: Date): { from: Date; to: Date } {
  const fired = entries.filter((e) => e.kind === 'alert_fired').map((e) => e.at.getTime());
  const from = new Date(Math.min(incident.declaredAt.getTime(), ...fired));
  return { from, to: incident.resolvedAt ?? now };
}

/** Reads what a draft needs. @throws NotFoundError for an unknown incident. */
export async function postmortemInput(em: EntityManager, id: number, now: Date): Promise<PostmortemInput> {
  const { incident, entries } = await incidentTimeline(em, id);
  const window = incidentWindow(incident, entries, now);
  const [roles, impact, diagnoses] = await Promise.all([incidentRoles(em, id), incidentImpact(em, window.from, window.to), incidentDiagnoses(em, id, incident.alertFingerprint)]);
  const drillEntry = entries.find((e) => e.kind === 'drill');
  const drill = drillEntry
    ? { id: Number(drillEntry.data.drill ?? 0), provider: String(drillEntry.data.provider ?? ''), fault: String(drillEntry.data.fault ?? ''), lines: entries.filter((e) => e.kind === 'drill' || e.kind === 'drill_report').map((e) => e.detail) }
    : undefined;
  return { incident, entries, roles, impact, diagnoses, now, ...(drill ? { drill } : {}) };
}

function summarySection(p: PostmortemInput): string[] {
  const i = p.incident;
  const role = (r: string) => {
    const h = p.roles.find((x) => x.role === r);
    return h ? `<@${h.userId}>` : 'unassigned';
  };
  const lines = [
    `- **Severity:** ${i.severity}${p.drill ? ' (drill)' : ''}; **status:** ${i.status}; highest escalation: ${LEVEL_NAMES[i.level]}`,
    `- **Declared:** ${utc(i.declaredAt)} by ${i.declaredBy}`,
    i.acknowledgedAt
      ? `- **Acknowledged:** ${utc(i.acknowledgedAt)} by ${i.acknowledgedBy} — ${duration(i.acknowledgedAt.getTime() - i.declaredAt.getTime())} after declaration (deadline ${duration(ACK_DEADLINE_MS[i.severity])})`
      : '- **Acknowledged:** not acknowledged',
    i.resolvedAt ? `- **Resolved:** ${utc(i.resolvedAt)} by ${i.resolvedBy} — ${duration(i.resolvedAt.getTime() - i.declaredAt.getTime())} after declaration` : `- **Resolved:** not yet (draft made ${utc(p.now)})`,
    `- **Commander:** ${role('commander')}; **communications:** ${role('communications')}`,
  ];
  if (i.provider || i.runbook) lines.push(`- **Provider:** ${i.provider ?? '—'}; **runbook:** ${i.runbook ? `\`${i.runbook}\`` : '—'}`);
  if (p.drill) lines.push(`- **Drill #${p.drill.id}:** fault \`${p.drill.fault}\` injected in the ${p.drill.provider} sandbox on purpose.`);
  return lines;
}

function impactSection(m: IncidentImpact): string[] {
  const span = duration(m.to.getTime() - m.from.getTime());
  return [
    `Window: ${utc(m.from)} → ${utc(m.to)} (${span}).`,
    '',
    '| figure | count | how it is counted |',
    '| --- | ---: | --- |',
    `| businesses not processed | ${m.businessesNotProcessed} | sourced by the window's end and still waiting before email, unchanged since |`,
    `| assessments failed | ${m.assessmentFailures} | businesses whose assessment failed inside the window |`,
    `| businesses that completed a stage | ${m.progressedDuring} | inside the window (the same length before it: ${m.progressedBefore}) |`,
    `| emails not sent | ${m.emailsNotSent} | drafted by the window's end and not sent by it (held, suppressed and unsubscribed excluded) |`,
    `| email sends failed | ${m.emailFailures} | ended \`failed\` inside the window |`,
    `| purchases affected | ${m.purchasesAffected} | touched inside the window and failed, expired, pending, or paid without the report sent ($${(m.purchasesAffectedCents / 100).toFixed(2)}) |`,
  ];
}

function rootCauseSection(p: PostmortemInput): { lines: string[]; causes: string[] } {
  const lines: string[] = [];
  const causes: string[] = [];
  for (const d of p.diagnoses) {
    const inner = (d.stored.diagnosis && typeof d.stored.diagnosis === 'object' ? d.stored.diagnosis : d.stored) as { title?: string; runbook?: string; rootCauses?: Cause[]; results?: Result[] };
    const named = (inner.rootCauses ?? []).map((c) => c.title ?? c.id ?? '?');
    causes.push(...named);
    const behind = (inner.results ?? []).filter((r) => r.finding?.status === 'problem' || r.finding?.status === 'warn');
    lines.push(`**${d.alert}** — runbook ${inner.title ?? inner.runbook ?? '?'}, diagnosed ${utc(d.startsAt)}:`);
    lines.push(named.length ? named.map((c) => `- Root cause: **${c}**`).join('\n') : '- No root cause indicated by the automatic diagnosis.');
    if (behind.length) {
      lines.push('', 'Findings behind it:');
      for (const r of behind.slice(0, 12)) lines.push(`- ${r.title ?? r.id} (${r.finding?.status}): ${cell(r.finding?.summary ?? '')}`);
    }
    lines.push('');
  }
  if (lines.length === 0) lines.push('No automatic diagnosis is attached to this incident (declared by hand, or its alert named no runbook). Record the root cause here.');
  return { lines, causes };
}

function actionsSection(entries: TimelineEntry[]): { lines: string[]; unverified: string[] } {
  const actions = entries.filter((e) => e.kind === 'remediation');
  const unverified: string[] = [];
  if (actions.length === 0) return { lines: ['No remediation was recorded while the incident was open.'], unverified };
  const lines = ['| time (UTC) | who | action | outcome and verification |', '| --- | --- | --- | --- |'];
  for (const a of actions) {
    const outcome = String(a.data.outcome ?? '');
    if (outcome !== 'succeeded' || /not fixed/i.test(a.detail)) unverified.push(a.detail);
    const action = String(a.data.action ?? '').replace(/^remediation:/, '');
    lines.push(`| ${utc(a.at)} | ${cell(a.actor)} | ${cell(action)} | ${cell(a.detail.startsWith(`${action}: `) ? a.detail.slice(action.length + 2) : a.detail)} |`);
  }
  return { lines, unverified };
}

function followUps(p: PostmortemInput, causes: string[], unverified: string[]): string[] {
  const i = p.incident;
  const items: string[] = [];
  if (causes.length === 0) items.push('Find and record the root cause: the automatic diagnosis indicated none.');
  for (const c of [...new Set(causes)]) items.push(`Prevent "${c}" from recurring, or detect it earlier${i.runbook ? ` (runbook \`${i.runbook}\`)` : ''}.`);
  const ackMs = i.acknowledgedAt ? i.acknowledgedAt.getTime() - i.declaredAt.getTime() : undefined;
  if (ackMs !== undefined && ackMs > ACK_DEADLINE_MS[i.severity]) items.push(`Review paging: acknowledged after ${duration(ackMs)}, past the ${i.severity} deadline of ${duration(ACK_DEADLINE_MS[i.severity])}.`);
  if (i.level > 1) items.push(`Review why the incident reached ${LEVEL_NAMES[i.level]}.`);
  for (const u of unverified) items.push(`A remediation did not verify: ${u}`);
  if (i.status !== 'resolved') items.push(`Resolve the incident (still ${i.status}) and regenerate this draft.`);
  if (!p.roles.some((r) => r.role === 'communications') && (i.severity === 'SEV1' || i.severity === 'SEV2')) items.push('Assign a communications lead earlier next time.');
  items.push('Review this draft with the responders, then share it.');
  return items.map((t) => `- [ ] ${t}`);
}

/** The Markdown of a draft (pure). */
export function renderPostmortem(p: PostmortemInput): string {
  const i = p.incident;
  const { lines: rootLines, causes } = rootCauseSection(p);
  const { lines: actionLines, unverified } = actionsSection(p.entries);
  const timeline = ['| time (UTC) | what | who | detail |', '| --- | --- | --- | --- |', ...p.entries.map((e) => `| ${utc(e.at)} | ${e.kind} | ${cell(e.actor)} | ${cell(e.detail.slice(0, 400))} |`)];
  return [
    `# Postmortem: ${i.severity} incident #${i.id} — ${i.title}`,
    '',
    `_Draft made ${utc(p.now)} by LeadFactory Ops from the incident's timeline, its diagnosis and the pipeline's own figures. Edit before sharing._`,
    '',
    '## Summary',
    ...summarySection(p),
    '',
    '## Impact',
    ...impactSection(p.impact),
    '',
    '## Timeline',
    ...timeline,
    '',
    '## Root cause',
    ...rootLines,
    '',
    '## Actions taken and their verification',
    ...actionLines,
    '',
    '## Follow-ups',
    ...followUps(p, causes, unverified),
    '',
  ].join('\n');
}

/** What {@link requestPostmortem} answers. */
export interface PostmortemRequest {
  postmortemId: number;
  incident: IncidentRow;
  filename: string;
  markdown: string;
  impact: IncidentImpact;
  rootCauses: string[];
}

/**
 * Drafts the postmortem of incident `id`, stores it for upload to the incident's channel (or, without one, the
 * incidents channel thread), records a `postmortem` timeline event and an audit row.
 * @throws NotFoundError for an unknown incident.
 */
export async function requestPostmortem(em: EntityManager, id: number, actor: Actor, clock: Clock): Promise<PostmortemRequest> {
  const now = clock.now();
  const input = await postmortemInput(em, id, now);
  const markdown = renderPostmortem(input);
  const filename = `postmortem-incident-${id}-${now.toISOString().slice(0, 10)}.md`;
  const postmortemId = await insertPostmortem(em, { incidentId: id, markdown, filename, createdBy: actor.id, now });
  await addEvent(em, id, now, 'postmortem', actor.id, `postmortem draft #${postmortemId} (${filename}, ${markdown.length} characters) by ${actor.id}`, { postmortem: postmortemId });
  const rootCauses = rootCauseSection(input).causes;
  await audit(em, { at: now, actor, action: 'incident:postmortem', input: { incident: id }, outcome: 'succeeded', detail: `draft #${postmortemId}: ${filename}` });
  return { postmortemId, incident: input.incident, filename, markdown, impact: input.impact, rootCauses };
}
