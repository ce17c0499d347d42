/**
 * The Slack outbox (table `slack_outbox`, see db/entities/alerting.entity.ts): {@link enqueueSlack} records a
 * message (idempotent on `dedupKey`); the {@link createSlackPoster} loop delivers them in order per channel, at most
 * one per second per channel (Slack's chat.postMessage "special" tier). It cannot jam:
 * - every message passes the size guard (alerts/slack-guard.ts) before it is sent;
 * - Slack's answers are classified (alerts/slack-transport.ts): a 429 holds the channel for its Retry-After; a
 *   retryable failure (5xx, network, Slack-side) holds the channel with backoff for at most
 *   {@link LINE_BUDGET_MS}, then the message is taken out of the line (`detached`, retried on its own every few
 *   minutes for {@link GIVE_UP_MS}) and the channel moves on;
 * - a permanent refusal is degraded once (text only, the full detail uploaded as a file beside it: `degraded_at`)
 *   when it is about the content, else, or when the degraded form is refused too, dead-lettered (`dead_at` and
 *   `last_error`) and the channel moves on at once;
 * - a reply or update whose parent post was dead-lettered, or has not been posted after {@link ORPHAN_WAIT_MS},
 *   is posted in the channel on its own (a reply says what it answers);
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
 */
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { SlackOutboxKind } from '../db/entities/alerting.entity.js';
import type { Clock } from '../domain/clock.js';
import type { Logger } from '../domain/logger.js';
import { createRepeatCollapser } from '../domain/log-collapse.js';
import { truncateGraphemes } from '../domain/text/graphemes.js';
import { blocksToPlainText, guardMessage } from './slack-guard.js';
import { classifySlackError, type SlackFailure, type SlackTransport } from './slack-transport.js';
import type { SlackRoute } from './slack-routing.js';
import { renderOutbox, type RenderedSlack, type SlackBody, type SlackRenderer } from './slack-message.js';

export { renderOutbox, type RenderedSlack, type SlackBody, type SlackRenderer } from './slack-message.js';

export { SlackRateLimited, classifySlackError, consoleTransport, webClientTransport, type SlackFailure, type SlackTransport, type WebClientLike } from './slack-transport.js';

/** Minimum gap between two messages to one channel (ms). */
export const CHANNEL_GAP_MS = 1000;
/** How long a message failing with retryable errors may hold its channel before it is taken out of line (ms). */
export const LINE_BUDGET_MS = 60_000;
/** How long a reply/update waits for a parent that is neither posted nor dead-lettered (ms). */
export const ORPHAN_WAIT_MS = 90_000;
/** A message failing with retryable errors for this long is dead-lettered (ms). */
export const GIVE_UP_MS = 6 * 3600_000;
/** Longest backoff between two retries of a detached message (ms). */
const MAX_BACKOFF_MS = 5 * 60_000;
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
  const rows = await em.execute<{ id: number }[]>(
    `insert into slack_outbox (dedup_key, kind, channel, ref, text, blocks, created_at, attempts, sent_at, origin, route, thread_ts, body)
     values (?, ?, ?, ?, ?, ?::jsonb, ?, 0, ?, ?, ?, ?, ?::jsonb) on conflict (dedup_key) do nothing returning id`,
    [
      msg.dedupKey.slice(0, 512),
      msg.kind,
      msg.channel,
      msg.ref ?? null,
      msg.text,
      msg.blocks ? JSON.stringify(msg.blocks) : null,
      now,
      opts.sentAt ?? null,
      opts.origin ?? null,
      msg.route ?? null,
      msg.threadTs ?? null,
      msg.body ? JSON.stringify(msg.body) : null,
    ],
  );
  return rows.length > 0;
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

/** Where the ref's message was posted, if it was. */
export async function postedMessage(em: EntityManager, ref: string): Promise<{ channel: string; ts: string } | undefined> {
  const rows = await em.execute<{ channel: string; ts: string }[]>('select channel, ts from slack_messages where ref = ?', [ref]);
  return rows[0];
}

/**
 * The newest `post` per channel whose ref starts with `refPrefix`, enqueued since `since` and not dead-lettered
 * (posted or still queued: an update enqueued behind a queued post waits for it in the channel's line).
 */
export async function latestPostsByChannel(em: EntityManager, refPrefix: string, since: Date): Promise<{ ref: string; channel: string }[]> {
  return em.execute<{ ref: string; channel: string }[]>(
    `select distinct on (channel) ref, channel from slack_outbox
      where kind = 'post' and ref like ? and created_at >= ? and dead_at is null
      order by channel, id desc`,
    [`${refPrefix.replace(/[\\%_]/g, '\\$&')}%`, since],
  );
}

/** Records where the ref's message was posted (first record wins). */
export async function recordPosted(em: EntityManager, ref: string, at: { channel: string; ts: string }, now: Date): Promise<void> {
  await em.execute('insert into slack_messages (ref, channel, ts, posted_at) values (?, ?, ?, ?) on conflict (ref) do nothing', [ref, at.channel, at.ts, now]);
}

/** A running poster. `tick()` delivers what is due now (at most one per channel) and returns how many. */
export interface SlackPoster {
  tick(): Promise<number>;
  start(): void;
  stop(): Promise<void>;
}

interface Row {
  id: number;
  kind: SlackOutboxKind;
  channel: string;
  ref: string | null;
  text: string;
  blocks: unknown[] | null;
  body: SlackBody | null;
  thread_ts: string | null;
  attempts: number;
  created_at: Date;
  degraded_at: Date | null;
  first_failed_at: Date | null;
}

/** The parent post of a reply/update, when it cannot be threaded: dead-lettered, or still unposted too long. */
interface Orphaned {
  why: string;
  parentText: string;
}

type Outcome = 'sent' | 'wait';

/** Claims the head of each channel's line (plus detached messages that are due), with a lease. */
async function claimHeads(em: EntityManager, now: Date): Promise<Row[]> {
  return em.execute<Row[]>(
    `update slack_outbox set claimed_until = ?, attempts = attempts + 1
      where id in (
        select distinct on (channel) id from slack_outbox
         where sent_at is null and dead_at is null
           and (not detached or not_before is null or not_before <= ?)
         order by channel, id)
        and (not_before is null or not_before <= ?)
        and (claimed_until is null or claimed_until < ?)
      returning id, kind, channel, ref, text, blocks, body, thread_ts, attempts, created_at, degraded_at, first_failed_at`,
    [new Date(now.getTime() + LEASE_MS), now, now, now],
  );
}

/** Why a reply/update cannot be threaded under its parent, or undefined while it should still wait. */
async function orphanedParent(em: EntityManager, row: Row, now: Date): Promise<Orphaned | undefined> {
  const [parent] = await em
    .execute<{ text: string; dead_at: Date | null; last_error: string | null }[]>(`select text, dead_at, last_error from slack_outbox where ref = ? and kind = 'post' order by id limit 1`, [row.ref]);
  if (parent?.dead_at) return { why: `could not be posted: ${parent.last_error ?? 'refused by Slack'}`, parentText: parent.text };
  if (now.getTime() - new Date(row.created_at).getTime() >= ORPHAN_WAIT_MS)
    return { why: parent ? 'has not been posted yet' : 'was never queued', parentText: parent?.text ?? row.ref ?? '' };
  return undefined;
}

/** The text-only form of a message refused for its content, and the full detail for the file beside it. */
function degradedForm(msg: RenderedSlack): { text: string; detail: string } {
  const detail = [msg.text, blocksToPlainText(msg.blocks)].filter(Boolean).join('\n\n');
  const text = `${truncateGraphemes(msg.text, 2500)}\n_(Shortened for Slack; the full detail is in the attached file.)_`;
  return { text, detail };
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
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;

  /** Sends `row` (guarded, or degraded); returns where it went when it made a new message. */
  async function send(em: EntityManager, row: Row, now: Date): Promise<Outcome> {
    const rendered = renderOutbox(row, deps.render, logger);
    const degraded = row.degraded_at ? degradedForm(rendered) : undefined;
    const guarded = degraded ? { text: degraded.text, blocks: row.kind === 'update' ? [] : undefined, cut: 0 } : guardMessage(rendered.text, rendered.blocks);
    if (guarded.cut > 0) logger.warn({ id: row.id, channel: row.channel, cut: guarded.cut }, 'slack message cut to fit Slack limits');
    const attach = async (at: { channel: string; ts: string } | undefined) => {
      if (!degraded || !at) return;
      await transport.upload(at.channel, at.ts, `leadfactory-${row.id}.txt`, degraded.detail, 'Full detail').catch((err: unknown) => {
        logger.warn({ id: row.id, err: classifySlackError(err).error }, 'slack file upload of the full detail failed; the text-only message was posted');
      });
    };
    if (row.kind === 'file') {
      const f = (row.body ?? {}) as { filename?: string; title?: string };
      await transport.upload(row.channel, row.thread_ts ?? undefined, f.filename ?? `leadfactory-${row.id}.txt`, row.text, f.title ?? f.filename ?? 'File');
      return 'sent';
    }
    if (row.kind === 'dm') {
      await attach(await transport.dm(row.channel, guarded.text, guarded.blocks));
      return 'sent';
    }
    if (row.kind === 'post' || (row.kind === 'reply' && row.thread_ts && !row.ref)) {
      if (row.kind === 'post' && row.ref && (await postedMessage(em, row.ref))) return 'sent'; // posted before a crash lost the sent_at: never post twice
      const res = await transport.post(row.channel, guarded.text, guarded.blocks, row.thread_ts ?? undefined);
      if (row.ref) await recordPosted(em, row.ref, res, clock.now());
      await attach(res);
      return 'sent';
    }
    const target = row.ref ? await postedMessage(em, row.ref) : undefined;
    if (target) {
      if (row.kind === 'update') await transport.update(target.channel, target.ts, guarded.text, guarded.blocks);
      else await transport.post(target.channel, guarded.text, guarded.blocks, target.ts);
      await attach(target);
      return 'sent';
    }
    const orphan = await orphanedParent(em, row, now);
    if (!orphan) return 'wait';
    if (row.kind === 'update') {
      // the current state stands in for the post that never went out (in its thread, if it had one); later edits
      // and replies find it
      const res = await transport.post(row.channel, guarded.text, guarded.blocks, row.thread_ts ?? undefined);
      if (row.ref) await recordPosted(em, row.ref, res, clock.now());
      await attach(res);
      return 'sent';
    }
    const context = `_Reply to "${truncateGraphemes(orphan.parentText.replace(/\s+/g, ' '), 150)}", which ${truncateGraphemes(orphan.why, 200)}._`;
    const res = await transport.post(
      row.channel,
      `${guarded.text}\n${context}`,
      guarded.blocks ? [...guarded.blocks, { type: 'context', elements: [{ type: 'mrkdwn', text: context }] }] : undefined,
      row.thread_ts ?? undefined,
    );
    await attach(res);
    return 'sent';
  }

  /** Applies a failed attempt: hold the channel, take the message out of line, degrade it or dead-letter it. */
  async function failed(em: EntityManager, row: Row, f: SlackFailure, now: Date): Promise<void> {
    const conn = em.getConnection();
    const nowMs = now.getTime();
    const error = `${f.kind}: ${f.error}`.slice(0, 1000);
    if (f.kind === 'permanent') {
      if (f.degradable && !row.degraded_at) {
        await conn.execute('update slack_outbox set degraded_at = ?, claimed_until = null, last_error = ?, first_failed_at = coalesce(first_failed_at, ?) where id = ?', [now, error, now, row.id]);
        logger.warn({ id: row.id, channel: row.channel, error: f.error }, 'slack refused the message; sending it text-only with the detail as a file');
        return;
      }
      await conn.execute('update slack_outbox set dead_at = ?, claimed_until = null, last_error = ?, first_failed_at = coalesce(first_failed_at, ?) where id = ?', [now, error, now, row.id]);
      logger.error({ id: row.id, channel: row.channel, kind: row.kind, error: f.error }, 'slack refused the message for good: dead-lettered; the channel moves on');
      return;
    }
    const firstFailed = row.first_failed_at ? new Date(row.first_failed_at).getTime() : nowMs;
    if (nowMs - firstFailed >= GIVE_UP_MS) {
      await conn.execute('update slack_outbox set dead_at = ?, claimed_until = null, last_error = ? where id = ?', [now, `gave up after ${row.attempts} attempts: ${error}`, row.id]);
      logger.error({ id: row.id, channel: row.channel, error: f.error }, 'slack message failing for hours: dead-lettered');
      return;
    }
    const backoff = f.kind === 'rate_limited' ? f.retryAfterMs : Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(row.attempts, 9));
    const lineLeft = firstFailed + LINE_BUDGET_MS - nowMs;
    await conn.execute('update slack_outbox set claimed_until = null, last_error = ?, first_failed_at = coalesce(first_failed_at, ?) where id = ?', [error, now, row.id]);
    if (lineLeft <= 0) {
      await conn.execute('update slack_outbox set detached = true, not_before = ? where id = ?', [new Date(nowMs + backoff), row.id]);
      tickErrors.log('warn', `detached:${row.channel}`, { channel: row.channel, error: f.error }, 'slack message keeps failing: taken out of its channel line, retried on its own');
      return;
    }
    // hold back the channel (later messages must not overtake this one) — but never past the line budget
    await conn.execute('update slack_outbox set not_before = ? where channel = ? and sent_at is null and dead_at is null and not detached', [new Date(nowMs + Math.min(backoff, lineLeft)), row.channel]);
    if (f.kind === 'rate_limited') logger.warn({ channel: row.channel, retryAfterMs: f.retryAfterMs }, 'slack rate limited; channel held back');
    else tickErrors.log('error', `retry:${row.channel}:${f.error}`, { channel: row.channel, id: row.id, attempts: row.attempts, error: f.error }, 'slack outbox delivery failed; will retry');
  }

  async function deliverRow(em: EntityManager, row: Row): Promise<boolean> {
    const conn = em.getConnection();
    const last = lastSent.get(row.channel);
    if (last !== undefined && Date.now() - last < gap) {
      await conn.execute('update slack_outbox set claimed_until = null, attempts = attempts - 1 where id = ?', [row.id]);
      return false;
    }
    const now = clock.now();
    try {
      if ((await send(em, row, now)) === 'wait') {
        await conn.execute('update slack_outbox set claimed_until = null, attempts = attempts - 1 where id = ?', [row.id]);
        return false;
      }
    } catch (err) {
      await failed(em, row, classifySlackError(err), now);
      return false;
    }
    lastSent.set(row.channel, Date.now());
    await conn.execute('update slack_outbox set sent_at = ?, claimed_until = null where id = ?', [clock.now(), row.id]);
    return true;
  }

  async function tickOnce(): Promise<number> {
    const rows = await claimHeads(orm.em.fork(), clock.now());
    // channels in parallel: one slow or failing channel never delays another
    const results = await Promise.all(rows.map((row) => deliverRow(orm.em.fork(), row)));
    return results.filter(Boolean).length;
  }

  const tick = async (): Promise<number> => {
    while (running) await running.catch(() => 0);
    running = tickOnce().finally(() => {
      running = undefined;
    });
    return running;
  };

  return {
    tick,
    start() {
      timer ??= setInterval(() => {
        if (!running) void tick().catch((err: unknown) => tickErrors.log('error', 'tick', { err: (err as Error).message }, 'slack poster tick failed'));
      }, deps.intervalMs ?? 250);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await running?.catch(() => 0);
      await tick().catch(() => 0);
      tickErrors.flush();
    },
  };
}
