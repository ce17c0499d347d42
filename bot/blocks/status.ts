/**
 * Block Kit for `/lf status` (pure: data in, message out), built with slack-block-builder.
 * Also holds the message-size guards every builder here uses (Slack: ≤ 50 blocks, ≤ 3000 chars of section text,
 * ≤ 10 section fields of ≤ 2000 chars; a top-level `text` always set for notifications and screen readers).
 */
import { Blocks, type BlockBuilder } from 'slack-block-builder';
import { PIPELINE_STAGES } from '../../domain/pipeline/stages.js';
import type { RecentPipelineRun, PipelineStatus } from '../../domain/status.js';

export { SLACK_LIMITS, buildMessage, clampText, escapeMrkdwn, fieldSections, section, type SlackMessage } from '../render/slack.js';
import { buildMessage, clampText, escapeMrkdwn, fieldSections, section, type SlackMessage } from '../render/slack.js';

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
    Blocks.Context().elements(`Generated ${formatUtc(status.generatedAt)} · ${status.activeTargets} active targets${status.deploy ? ` · version ${status.deploy.version}${status.deploy.gitSha ? ` (${status.deploy.gitSha})` : ''} since ${formatUtc(status.deploy.startedAt)}` : ''}`),
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
