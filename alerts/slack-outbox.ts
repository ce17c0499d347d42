/**
 * The Slack outbox (table `slack_outbox`, see db/entities/alerting.entity.ts): {@link enqueueSlack} records a
 * message (idempotent on `dedupKey`); the {@link createSlackPoster} loop delivers them in order per channel, at most
 * one per second per channel (Slack's chat.postMessage "special" tier). It cannot jam:
 * - every message passes the size guard (alerts/slack-guard.ts) before it is sent;
 * - Slack's answers are classified (alerts/slack-transport.ts): a 429 holds the channel for its Retry-After; a
 *   retryable failure (5xx, network, Slack-side) holds the channel with backoff for at most
 *   {@link LINE_BUDGET_MS}, then the message is taken out of the line (`detached`, retried on its own every few
 *   minutes for alerts/slack-failure.ts `GIVE_UP_MS`) and the channel moves on;
 * - a permanent refusal is degraded once (text only, the full detail uploaded as a file beside it: `degraded_at`)
 *   when it is about the content, else, or when the degraded form is refused too, dead-lettered (`dead_at` and
 *   `last_error`) and the channel moves on at once;
 * - a reply or update whose parent post was dead-lettered, or has not been posted after alerts/slack-send.ts
 *   `ORPHAN_WAIT_MS`, is posted in the channel on its own (a reply says what it answers);
 * so no message waits more than about two minutes behind another message's or another channel's failure, and a
 * restart finds nothing parked (claims are 30-second leases).
 *
 * It is the one way out to Slack: status posts, alerts, incidents, pages, recoveries and assistant answers are all
 * enqueued here, and the transport (alerts/slack-transport.ts) is the only code that calls the Web API's write
 * methods (test/alerts/slack-exit.test.ts holds that).
 *
 * Operations (`kind`): `post` (a new message; its ts is stored in `slack_messages` under `ref`, so later entries can
 * edit it or reply to it), `update` (chat.update of the `ref` message: update in place), `reply` (a thread reply
 * under the `ref` message), `dm` (a direct message: `channel` is a user id), `file` (files.uploadV2 of `text` as
 * a file named `body.filename` into `channel`). `threadTs` places a `post`, `reply` or `file` in the thread of a message we did not post (the question an assistant answer replies to).
 * Routing: `route` says what the message is (status, alerts, incidents, pages, recoveries, answers) and the
 * channel comes from it (alerts/slack-routing.ts).
 * Rendering: lower layers hand over a structured `body` (`{ type, … }`) plus a plain `text`; the poster's injected
 * {@link SlackRenderer} (bot/render/slack-messages.ts, given by the composition root) turns it into Block Kit when
 * the message is sent. Without a renderer, or for a body it does not know, the text goes alone.
 *
 * Parts: this module is the facade (enqueue, the poster's loop and pacing); one delivery attempt is
 * alerts/slack-send.ts, what a failed attempt does is alerts/slack-failure.ts, and the SQL is
 * domain/queries/slack-outbox.ts.
 */
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { SlackOutboxKind } from '../db/entities/alerting.entity.js';
import type { Clock } from '../domain/clock.js';
import type { Logger } from '../domain/logger.js';
import { createRepeatCollapser } from '../domain/log-collapse.js';
import { claimOutboxHeads, insertOutboxMessage, markOutboxSent, unclaimOutboxMessage, type OutboxEntry } from '../domain/queries/slack-outbox.js';
import { createSlackFailureHandler } from './slack-failure.js';
import type { SlackBody, SlackRenderer } from './slack-message.js';
import type { SlackRoute } from './slack-routing.js';
import { createSlackSender } from './slack-send.js';
import { classifySlackError, type SlackTransport } from './slack-transport.js';
import { createTickLoop } from './tick-loop.js';

export { consoleTransport, webClientTransport, type SlackTransport } from './slack-transport.js';

export { latestPostsByChannel, postedMessage, recordPosted } from '../domain/queries/slack-outbox.js';
export { LINE_BUDGET_MS } from './slack-failure.js';

/** Minimum gap between two messages to one channel (ms). */
export const CHANNEL_GAP_MS = 1000;
const LEASE_MS = 30_000;

/** A message to enqueue. */
export interface OutboxMessage {
  /** Idempotency: a second enqueue with the same key adds nothing. */
  dedupKey: string;
  /** The operation: post, update (in place, of `ref`), reply (in the thread of `ref` or `threadTs`), dm. */
  kind: SlackOutboxKind;
  /** What kind of post it is; `channel` came from it (alerts/slack-routing.ts `routed`). */
  route?: SlackRoute;
  /** Channel name or id; a user id for `dm`. */
  channel: string;
  /** Our own message this entry is, edits or replies to (`slack_messages.ref`): the update-in-place key. */
  ref?: string;
  /** A thread parent we did not post (Slack ts in `channel`), for a `post` or `reply` inside that thread. */
  threadTs?: string;
  /** Plain text: the notification text, the console line, and the whole message when there is no body. */
  text: string;
  /** The structured message the injected renderer turns into Block Kit (see {@link SlackRenderer}). */
  body?: SlackBody;
  /** Ready Block Kit (rows queued before bodies existed; new code hands over `body`). */
  blocks?: unknown[];
}

/**
 * Enqueues a message; returns false when `dedupKey` was already enqueued (nothing added). `opts.sentAt` records a
 * message that already reached Slack another way (the outage spool): stored as sent, never posted again;
 * `opts.origin` says where the row came from (`spool`).
 */
export async function enqueueSlack(em: EntityManager, msg: OutboxMessage, now: Date, opts: { sentAt?: Date; origin?: string } = {}): Promise<boolean> {
  return insertOutboxMessage(em, msg, now, opts);
}

/**
 * The outbox as an object, for callers outside a transaction of their own (Slack listeners, the assistant):
 * `enqueue` is {@link enqueueSlack} on a fresh EntityManager at the clock's now.
 */
export interface SlackOutbox {
  /** Enqueues `msg`; false when its dedup key was already enqueued. */
  enqueue(msg: OutboxMessage): Promise<boolean>;
}

/** A {@link SlackOutbox} over the outbox table. */
export function slackOutbox(em: () => EntityManager, clock: Clock): SlackOutbox {
  return { enqueue: (msg) => enqueueSlack(em(), msg, clock.now()) };
}

/** A running poster. `tick()` delivers what is due now (at most one per channel) and returns how many. */
export interface SlackPoster {
  tick(): Promise<number>;
  start(): void;
  stop(): Promise<void>;
}

/**
 * Creates the poster; `intervalMs` (default 250) is how often it looks for due messages; `render` turns stored
 * bodies into Block Kit (see {@link SlackRenderer}).
 */
export function createSlackPoster(deps: { orm: MikroORM; logger: Logger; clock: Clock; transport: SlackTransport; render?: SlackRenderer; intervalMs?: number; channelGapMs?: number }): SlackPoster {
  const { orm, logger, clock, transport } = deps;
  const gap = deps.channelGapMs ?? CHANNEL_GAP_MS;
  const lastSent = new Map<string, number>();
  const tickErrors = createRepeatCollapser(logger, { windowMs: 60_000 });
  const send = createSlackSender({ logger, clock, transport, ...(deps.render ? { render: deps.render } : {}) });
  const failed = createSlackFailureHandler({ logger, collapser: tickErrors });

  async function deliverRow(em: EntityManager, row: OutboxEntry): Promise<boolean> {
    const last = lastSent.get(row.channel);
    if (last !== undefined && Date.now() - last < gap) {
      await unclaimOutboxMessage(em, row.id);
      return false;
    }
    const now = clock.now();
    try {
      if ((await send(em, row, now)) === 'wait') {
        await unclaimOutboxMessage(em, row.id);
        return false;
      }
    } catch (err) {
      await failed(em, row, classifySlackError(err), now);
      return false;
    }
    lastSent.set(row.channel, Date.now());
    await markOutboxSent(em, row.id, clock.now());
    return true;
  }

  async function tickOnce(): Promise<number> {
    const now = clock.now();
    const rows = await claimOutboxHeads(orm.em.fork(), now, new Date(now.getTime() + LEASE_MS));
    // channels in parallel: one slow or failing channel never delays another
    const results = await Promise.all(rows.map((row) => deliverRow(orm.em.fork(), row)));
    return results.filter(Boolean).length;
  }

  const loop = createTickLoop(tickOnce, deps.intervalMs ?? 250, (err: unknown) => tickErrors.log('error', 'tick', { err: (err as Error).message }, 'slack poster tick failed'));
  return {
    tick: loop.tick,
    start: loop.start,
    async stop() {
      await loop.stop();
      await loop.tick().catch(() => 0);
      tickErrors.flush();
    },
  };
}
