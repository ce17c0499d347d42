/**
 * Reading the Slack outbox in tests as Slack will see it: rows hand over structured bodies, and the poster renders
 * them with the composition root's renderer (bot/render/slack-messages.ts) when it sends them. {@link rendered}
 * fills each row's `blocks` the same way, so a test can assert on the Block Kit a row will be sent with.
 */
import { renderSlackMessage } from '../../bot/render/slack-messages.js';
import type { SlackBody } from '../../alerts/slack-message.js';

/** Rows of `select …, text, blocks, body from slack_outbox` with `blocks` as they will be sent. */
export function rendered<T extends { text: string; blocks?: unknown; body?: unknown }>(rows: T[]): T[] {
  return rows.map((r) => {
    if (!r.body) return r;
    const out = renderSlackMessage(r.body as SlackBody, r.text);
    return { ...r, blocks: out.blocks ?? null };
  });
}
