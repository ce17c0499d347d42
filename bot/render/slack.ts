/**
 * Block Kit primitives shared by every renderer in bot/render/ (the one home for Block Kit): the message shape and Slack's size limits
 * (≤ 50 blocks, ≤ 3000 chars of section text, ≤ 10 section fields of ≤ 2000 chars; a top-level `text` always set
 * for notifications and screen readers), built with slack-block-builder.
 */
import { Blocks, Message, type BlockBuilder } from 'slack-block-builder';
import type { types } from '@slack/bolt';
import { SLACK_LIMITS, clampText, escapeMrkdwn } from '../../domain/text/slack-text.js';

export { SLACK_LIMITS, clampText, escapeMrkdwn };

/** A message ready for `respond()` / `chat.postMessage`: notification `text` plus Block Kit `blocks`. */
export interface SlackMessage {
  text: string;
  blocks: types.KnownBlock[];
  /** Set when the content did not fit in 50 blocks: the full text, for a file upload beside the message. */
  overflowText?: string;
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

