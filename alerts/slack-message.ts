/**
 * The structured messages lower layers hand to the Slack outbox (alerts/slack-outbox.ts), and the renderer the
 * composition root injects to turn them into Block Kit (bot/render/slack-messages.ts). alerts/ and jobs/ never
 * build Block Kit: they say what happened (`{ type: 'ops_event', … }`) and the bot layer says how it looks.
 */
import type { Logger } from '../domain/logger.js';

/**
 * A structured message for the renderer: `type` names the shape (e.g. `ops_event`, `alert_group`, `incident`,
 * `answer`), the rest is that shape's data (JSON: it is stored until sent).
 */
export interface SlackBody {
  type: string;
  [field: string]: unknown;
}

/** What a renderer makes of a message: the notification `text` and, when it has them, Block Kit `blocks`. */
export interface RenderedSlack {
  text: string;
  blocks?: unknown[];
}

/**
 * Turns a stored message into what is sent (injected by the composition root: bot/render/slack-messages.ts).
 * `text` is the message's own plain text; a renderer that does not know `body.type` returns `{ text }`.
 */
export type SlackRenderer = (body: SlackBody, text: string) => RenderedSlack;

/** The text and blocks to send for a message: its body rendered when there is a renderer, else its own. */
export function renderOutbox(msg: { text: string; body?: SlackBody | null; blocks?: unknown[] | null }, render: SlackRenderer | undefined, logger?: Logger): RenderedSlack {
  if (msg.body && render) {
    try {
      return render(msg.body, msg.text);
    } catch (err) {
      logger?.error({ type: msg.body.type, err: (err as Error).message }, 'slack renderer failed; sending the plain text');
      return { text: msg.text };
    }
  }
  return { text: msg.text, ...(msg.blocks ? { blocks: msg.blocks } : {}) };
}

