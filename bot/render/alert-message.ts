/**
 * Block Kit for an alert group's message in the alerts channel (outbox body `alert_group`, enqueued by
 * alerts/dispatch.ts): a header, one section per alert (status, labels, summary, since/resolved, flapping, runbook,
 * incident), then the runbook's automatic diagnosis with its remediation buttons while the group fires.
 */
import { Blocks, type BlockBuilder } from 'slack-block-builder';
import type { AlertGroupBody, AlertView } from '../../alerts/dispatch.js';
import type { Diagnosis, DiagnosisResult } from '../../runbooks/define.js';
import { findRunbook } from '../../runbooks/index.js';
import { diagnosisBlocks } from './diagnosis-blocks.js';
import { SLACK_LIMITS, buildMessage, clampText, escapeMrkdwn, type SlackMessage } from './slack.js';

const STATUS_EMOJI: Record<string, string> = { firing: ':rotating_light:', resolved: ':white_check_mark:', pending: ':hourglass:' };

/** A diagnosis stored on an alert (`{ runbook, diagnosis, nonce, issuedAt }`) back as a result, or undefined. */
export function loadDiagnosis(stored: Record<string, unknown> | null | undefined): DiagnosisResult | undefined {
  if (!stored || typeof stored.runbook !== 'string') return undefined;
  const runbook = findRunbook(stored.runbook);
  if (!runbook) return undefined;
  return { kind: 'diagnosis', diagnosis: stored.diagnosis as Diagnosis, runbook, nonce: String(stored.nonce), issuedAt: new Date(String(stored.issuedAt)), full: true };
}

const hhmm = (iso: string) => iso.slice(11, 16);
const dayTime = (iso: string) => iso.slice(0, 16).replace('T', ' ');

function alertSection(a: AlertView): BlockBuilder {
  const labels = Object.entries(a.labels)
    .filter(([k]) => !['alertname', 'severity', 'runbook'].includes(k))
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const flap = a.flapCount > 0 ? ` · :repeat: flapping ×${a.flapCount}` : '';
  const since = a.status === 'resolved' && a.endsAt ? `resolved ${hhmm(a.endsAt)} UTC` : a.startsAt ? `since ${dayTime(a.startsAt)} UTC` : '';
  return Blocks.Section({
    text: clampText(
      `${STATUS_EMOJI[a.status] ?? ''} *${escapeMrkdwn(a.name)}* (${a.severity})${labels ? ` \`${escapeMrkdwn(labels)}\`` : ''}\n${escapeMrkdwn(a.annotations.summary ?? a.annotations.description ?? '')}\n_${since}${flap}${a.runbook ? ` · runbook \`${a.runbook}\`` : ''}${a.incidentId ? ` · incident #${a.incidentId}` : ''}_`,
      SLACK_LIMITS.sectionText,
    ),
  });
}

/** The "what changed" line of a firing group: the changes of the 24 h before, or that there were none. */
function changesContext(changes: string[]): BlockBuilder {
  const text = changes.length
    ? `:arrows_counterclockwise: *Changed in the 24 h before:* ${changes.map(escapeMrkdwn).join(' · ')}`
    : ':arrows_counterclockwise: No deploy, configuration or setting change in the 24 h before (`/lf changes`).';
  return Blocks.Context().elements(clampText(text, SLACK_LIMITS.fieldText));
}

/**
 * The alerts-channel message for the alerts sharing one message (pure); `text` is the notification text; `changes`
 * (while firing) what changed in the 24 h before, shown under the alerts.
 */
export function alertGroupMessage(alerts: AlertView[], diagnosis: DiagnosisResult | undefined, text: string, changes?: string[]): SlackMessage {
  const firing = alerts.filter((a) => a.status === 'firing');
  const headline = firing.length > 0 ? `[FIRING:${firing.length}] ${firing[0]!.name}${firing.length > 1 ? ` +${firing.length - 1}` : ''}` : `[RESOLVED] ${alerts[0]?.name ?? 'alert'}`;
  const blocks: BlockBuilder[] = [Blocks.Header({ text: clampText(headline, SLACK_LIMITS.headerText) }), ...alerts.slice(0, 10).map(alertSection)];
  if (alerts.length > 10) blocks.push(Blocks.Context().elements(`+${alerts.length - 10} more alerts in this group`));
  if (changes && firing.length > 0) blocks.push(changesContext(changes));
  let message = buildMessage(text, blocks);
  if (diagnosis && firing.length > 0) {
    const diag = diagnosisBlocks(diagnosis);
    const room = SLACK_LIMITS.blocks - message.blocks.length - 1;
    message = { ...message, blocks: [...message.blocks, { type: 'divider' }, ...diag.blocks.slice(0, Math.max(0, room))] as SlackMessage['blocks'] };
  } else if (firing.length > 0 && !diagnosis) {
    const ctx = Blocks.Context().elements('No automatic diagnosis for this alert (no runbook named, or diagnostics unavailable).');
    message = { ...message, blocks: [...message.blocks, ...buildMessage('', [ctx]).blocks] };
  }
  return message;
}

/** The outbox renderer for an `alert_group` body. */
export function renderAlertGroup(body: AlertGroupBody, text: string): SlackMessage {
  return alertGroupMessage(body.alerts, loadDiagnosis(body.diagnosis), text, body.changes);
}
