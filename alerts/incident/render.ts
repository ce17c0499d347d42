/**
 * How an incident reads in Slack: its outbox ref, actor mentions, the page line and the structured body of its
 * message (rendered to Block Kit by bot/render/incident-message.ts). Pure.
 */
import type { IncidentRow } from '../../domain/queries/incidents.js';
import { clampText, escapeMrkdwn } from '../../domain/text/slack-text.js';
import { onCallLine } from '../paging/plan.js';
import { LEVEL_NAMES, MAX_LEVEL, type PagePlan } from './policy.js';

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

/** "Paging Level N — …: <mentions>" plus the vendor contact and on-call lines when the plan has them. */
export function pageLine(plan: PagePlan): string {
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
