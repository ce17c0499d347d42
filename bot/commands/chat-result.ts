/**
 * A pre-rendered `/lf` answer for the incident-response subcommands (incident roles and postmortems, drills,
 * breakers): Block Kit for Slack, plain text for the terminal, `data` for `--json`, and whether it succeeded (the
 * CLI's exit code 1 when not).
 */
import type { types } from '@slack/bolt';
import { clampText } from '../../domain/text/slack-text.js';

/** See the module comment. `responseType`: who sees the Slack answer (the asker only, or the channel). */
export interface ChatResult {
  kind: 'chat';
  title: string;
  /** Plain text (terminal), ending without a newline. */
  text: string;
  /** Slack blocks; default a header and `mrkdwn`. */
  blocks?: types.KnownBlock[];
  /** Slack mrkdwn body when `blocks` is absent (default `text`). */
  mrkdwn?: string;
  data: unknown;
  ok: boolean;
  responseType: 'ephemeral' | 'in_channel';
}

/** The Slack message of a {@link ChatResult}. */
export function renderChatSlack(r: ChatResult): { message: { text: string; blocks: types.KnownBlock[] }; responseType: 'ephemeral' | 'in_channel' } {
  const blocks: types.KnownBlock[] = r.blocks ?? [
    { type: 'header', text: { type: 'plain_text', text: clampText(r.title, 150) } },
    { type: 'section', text: { type: 'mrkdwn', text: clampText(r.mrkdwn ?? r.text, 3000) } },
  ];
  return { message: { text: clampText(`${r.title}: ${r.text}`, 3000), blocks }, responseType: r.responseType };
}

/** The terminal text of a {@link ChatResult}, ending in a newline. */
export function renderChatText(r: ChatResult): string {
  return `${r.text}\n`;
}
