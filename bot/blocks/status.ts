/**
 * Block Kit for `/lf status` (pure: data in, message out), built with slack-block-builder.
 * Also holds the message-size guards every builder here uses (Slack: ≤ 50 blocks, ≤ 3000 chars of section text,
 * ≤ 10 section fields of ≤ 2000 chars; a top-level `text` always set for notifications and screen readers).
 */
import { Blocks, Message, type BlockBuilder } from 'slack-block-builder';
import type { types } from '@slack/bolt';
import { PIPELINE_STAGES } from '../../alerts/metrics.js';
import type { RecentPipelineRun, PipelineStatus } from '../../domain/status.js';

/** A message ready for `respond()` / `chat.postMessage`: notification `text` plus Block Kit `blocks`. */
export interface SlackMessage {
  text: string;
  blocks: types.KnownBlock[];
  /** Set when the content did not fit in 50 blocks: the full text, for a file upload beside the message. */
  overflowText?: string;
}

/** Slack's documented limits, kept with a margin where users measured undocumented ones. */
export const SLACK_LIMITS = { blocks: 50, sectionText: 3000, fieldText: 2000, fields: 10, headerText: 150 } as const;

/** Cuts `text` to at most `max` characters, ending in `…` when cut. */
export function clampText(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

/** Escapes the three characters Slack mrkdwn treats as control characters (`&`, `<`, `>`). */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Builds `{ text, blocks }` from builders, keeping at most 50 blocks: when there are more, the last one becomes a
 * context line saying how many were left out.
 */
export function buildMessage(text: string, builders: BlockBuilder[]): SlackMessage {
  let list = builders;
  if (list.length > SLACK_LIMITS.blocks) {
    const omitted = list.length - (SLACK_LIMITS.blocks - 1);
    list = [...list.slice(0, SLACK_LIMITS.blocks - 1), Blocks.Context().elements(`+${omitted} more not shown`)];
  }
  const built = Message({ text: clampText(text, SLACK_LIMITS.sectionText) })
    .blocks(...list)
    .buildToObject() as { blocks?: unknown[] };
  return { text: clampText(text, SLACK_LIMITS.sectionText), blocks: (built.blocks ?? []) as types.KnownBlock[] };
}

/** A section of mrkdwn text, cut to Slack's 3000-character limit. */
export function section(text: string): BlockBuilder {
  return Blocks.Section({ text: clampText(text, SLACK_LIMITS.sectionText) });
}

/** Sections of two-column fields, 10 fields per section (Slack's limit), each field cut to 2000 characters. */
export function fieldSections(fields: string[]): BlockBuilder[] {
  const out: BlockBuilder[] = [];
  for (let i = 0; i < fields.length; i += SLACK_LIMITS.fields) {
    const chunk = fields.slice(i, i + SLACK_LIMITS.fields).map((f) => clampText(f, SLACK_LIMITS.fieldText));
    out.push(Blocks.Section().fields(...chunk));
  }
  return out;
}

/** Emoji per job-run status. */
export const RUN_STATUS_EMOJI: Record<RecentPipelineRun['status'], string> = {
  running: ':hourglass_flowing_sand:',
  succeeded: ':white_check_mark:',
  failed: ':x:',
  stalled: ':warning:',
  interrupted: ':octagonal_sign:',
};

/** Human duration from milliseconds: `850ms`, `42s`, `3m 12s`, `1h 05m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

/** `YYYY-MM-DD HH:MM UTC` from an ISO string. */
export function formatUtc(isoString: string): string {
  return `${isoString.slice(0, 10)} ${isoString.slice(11, 16)} UTC`;
}

/** Stage counts in pipeline order (known stages first, then any others alphabetically), e.g. `sourced 20 · assessed 18`. */
export function formatCounts(counts: Record<string, number>): string {
  const known = PIPELINE_STAGES.filter((s) => s in counts);
  const others = Object.keys(counts)
    .filter((k) => !(PIPELINE_STAGES as readonly string[]).includes(k))
    .sort();
  const parts = [...known, ...others].map((k) => `${k} ${counts[k]}`);
  return parts.length > 0 ? parts.join(' · ') : 'no counts recorded';
}

function runLine(run: RecentPipelineRun): string {
  const timing =
    run.durationMs === null ? `started ${formatUtc(run.startedAt)}` : `${formatUtc(run.startedAt)} · ${formatDuration(run.durationMs)}`;
  let text = `${RUN_STATUS_EMOJI[run.status] ?? ':grey_question:'} *Run #${run.id}* ${run.status} · ${escapeMrkdwn(run.trigger)} · ${timing}\n${formatCounts(run.counts)}`;
  if (run.error) text += `\n> ${escapeMrkdwn(clampText(run.error.replace(/\s+/g, ' '), 500))}`;
  return text;
}

function countFields(counts: Record<string, number>): string[] {
  return Object.entries(counts).map(([status, n]) => `*${status.replace(/_/g, ' ')}*\n${n}`);
}

/**
 * The `/lf status` message: last runs (status emoji, trigger, start, duration, per-stage counts, error), then
 * businesses and emails by status, active targets. At most 5 runs + ~10 other blocks, well under 50.
 */
export function statusBlocks(status: PipelineStatus): SlackMessage {
  const last = status.runs[0];
  const text = last
    ? `Pipeline: last run #${last.id} ${last.status}; ${status.businessesTotal} businesses, ${status.emailsTotal} emails`
    : `Pipeline: no runs yet; ${status.businessesTotal} businesses, ${status.emailsTotal} emails`;
  const blocks: BlockBuilder[] = [
    Blocks.Header({ text: 'LeadFactory pipeline status' }),
    Blocks.Context().elements(`Generated ${formatUtc(status.generatedAt)} · ${status.activeTargets} active targets`),
    section('*Last runs*'),
  ];
  if (status.runs.length === 0) blocks.push(section('_No pipeline runs recorded yet._'));
  for (const run of status.runs) blocks.push(section(runLine(run)));
  blocks.push(Blocks.Divider(), section(`*Businesses by status* (${status.businessesTotal} total)`));
  blocks.push(...fieldSections(countFields(status.businessesByStatus)));
  blocks.push(section(`*Emails by status* (${status.emailsTotal} total)`));
  blocks.push(...fieldSections(countFields(status.emailsByStatus)));
  return buildMessage(text, blocks);
}
