/**
 * Block Kit for a drill report (outbox body `drill_report`, enqueued by alerts/drills.ts): a header, the three
 * measured times side by side (detection and diagnosis from the fault's injection, recovery from its clearing),
 * then the report's lines (what detected it, the root cause named, the incident opened, what went wrong) and who
 * started it.
 */
import { Blocks, Message } from 'slack-block-builder';
import { elapsed, spanText, type DrillReportBody } from '../../alerts/drill-report.js';
import type { RenderedSlack } from '../../alerts/slack-message.js';
import { who } from '../../alerts/incidents.js';
import { SLACK_LIMITS, clampText, escapeMrkdwn } from '../../domain/text/slack-text.js';

const STATUS_EMOJI: Record<string, string> = { done: ':white_check_mark:', failed: ':x:', aborted: ':warning:' };

/** The report as Block Kit; `text` stays the notification text. */
export function renderDrillReport(body: DrillReportBody, text: string): RenderedSlack {
  const t = body.times;
  const time = (ms: number | null | undefined) => (typeof ms === 'number' ? elapsed(ms) : '—');
  const built = Message({ text })
    .blocks(
      Blocks.Header({ text: clampText(`${STATUS_EMOJI[body.status] ?? ''} Drill #${body.drill}: ${body.provider} ${body.fault} (${spanText(body.durationMs)}) ${body.status}`, SLACK_LIMITS.headerText) }),
      Blocks.Section().fields(`*Time to detection*\n${time(t?.detectionMs)}`, `*Time to diagnosis*\n${time(t?.diagnosisMs)}`, `*Time to recovery*\n${time(t?.recoveryMs)}`, `*Detected by*\n${escapeMrkdwn(body.detectedBy ?? 'nothing')}`),
      Blocks.Section({ text: clampText((body.lines ?? []).map((l) => `• ${escapeMrkdwn(l)}`).join('\n'), SLACK_LIMITS.sectionText) }),
      Blocks.Context().elements(
        clampText(`Started by ${who(body.startedBy)} at ${body.startedAt.slice(0, 19).replace('T', ' ')} UTC · detection and diagnosis from the injection, recovery from the clear · \`/lf drill\` lists drills`, 2000),
      ),
    )
    .buildToObject() as { blocks?: unknown[] };
  return { text, blocks: built.blocks ?? [] };
}
