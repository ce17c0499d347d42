/**
 * Slack's text limits and escaping, for every layer that writes text meant for Slack (alerts' notification texts,
 * incident titles, page lines). Block Kit itself is built only in bot/render/ (the one home for Block Kit).
 */
import { truncateGraphemes } from './graphemes.js';

/** Slack's documented limits, kept with a margin where users measured undocumented ones. */
export const SLACK_LIMITS = { blocks: 50, sectionText: 3000, fieldText: 2000, fields: 10, headerText: 150 } as const;

/** Cuts `text` to at most `max` characters on a grapheme boundary (never inside an emoji), ending in `…` when cut. */
export function clampText(text: string, max: number): string {
  return truncateGraphemes(text, max);
}

/** Escapes the three characters Slack mrkdwn treats as control characters (`&`, `<`, `>`). */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
