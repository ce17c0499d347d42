/**
 * Block Kit for an incident's message in the incidents channel (outbox body `incident`, enqueued by
 * alerts/incidents.ts): a header, the title, the state fields (status, escalation, declared, ack deadline, who
 * acknowledged/resolved, runbook, provider), the page line when it pages, and — unless resolved — the Acknowledge /
 * Resolve / Escalate buttons (bot/listeners/actions/incident.ts handles them; Resolve and Escalate ask to confirm).
 */
import { Bits, Blocks, Elements, type BlockBuilder } from 'slack-block-builder';
import { who, type IncidentBody } from '../../alerts/incidents.js';
import { buildMessage, clampText, escapeMrkdwn, SLACK_LIMITS, type SlackMessage } from './slack.js';

const utc = (iso: string | null) => (iso ? `${iso.slice(0, 16).replace('T', ' ')} UTC` : '—');

/** The buttons of an open or acknowledged incident. */
function incidentButtons(body: IncidentBody): BlockBuilder {
  const inc = body.incident;
  const value = String(inc.id);
  const buttons = [];
  if (inc.status === 'open') buttons.push(Elements.Button({ text: 'Acknowledge', actionId: 'incident:ack', value }).primary());
  buttons.push(
    Elements.Button({ text: 'Resolve', actionId: 'incident:resolve', value }).confirm(
      Bits.ConfirmationDialog({ title: 'Resolve incident?', text: `Mark incident #${inc.id} resolved.`, confirm: 'Resolve', deny: 'Cancel' }),
    ),
  );
  if (body.nextLevelName)
    buttons.push(
      Elements.Button({ text: `Escalate to Level ${inc.level + 1}`, actionId: 'incident:escalate', value })
        .danger()
        .confirm(Bits.ConfirmationDialog({ title: 'Escalate now?', text: `Page ${body.nextLevelName} now.`, confirm: 'Escalate', deny: 'Cancel' })),
    );
  return Blocks.Actions({ blockId: `incident:${inc.id}:L${inc.level}` }).elements(...buttons);
}

/** The outbox renderer for an `incident` body (pure); `text` is the notification text. */
export function renderIncident(body: IncidentBody, text: string): SlackMessage {
  const inc = body.incident;
  const emoji = inc.status === 'resolved' ? ':white_check_mark:' : inc.status === 'acknowledged' ? ':large_orange_circle:' : ':rotating_light:';
  const fields = [
    `*Status*\n${inc.status}`,
    `*Escalation*\n${body.levelName}`,
    `*Declared*\n${who(inc.declaredBy)} · ${utc(inc.declaredAt)}`,
    `*Ack deadline*\n${inc.status === 'open' ? utc(inc.ackDeadline) : '—'}`,
  ];
  if (inc.acknowledgedBy) fields.push(`*Acknowledged*\n${who(inc.acknowledgedBy)} · ${utc(inc.acknowledgedAt)}`);
  if (inc.resolvedBy) fields.push(`*Resolved*\n${who(inc.resolvedBy)} · ${utc(inc.resolvedAt)}`);
  if (inc.runbook) fields.push(`*Runbook*\n\`${escapeMrkdwn(inc.runbook)}\``);
  if (inc.provider) fields.push(`*Provider*\n${escapeMrkdwn(inc.provider)}`);
  const blocks: BlockBuilder[] = [
    Blocks.Header({ text: clampText(`${inc.severity} · Incident #${inc.id}`, SLACK_LIMITS.headerText) }),
    Blocks.Section({ text: clampText(`${emoji} *${escapeMrkdwn(inc.title)}*`, SLACK_LIMITS.sectionText) }),
    Blocks.Section().fields(...fields.map((f) => clampText(f, SLACK_LIMITS.fieldText))),
  ];
  if (body.page) blocks.push(Blocks.Section({ text: clampText(body.page, SLACK_LIMITS.sectionText) }));
  if (inc.status !== 'resolved') blocks.push(incidentButtons(body));
  return buildMessage(text, blocks);
}
