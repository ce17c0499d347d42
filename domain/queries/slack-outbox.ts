/**
 * Named queries over the Slack outbox (`slack_outbox`: messages waiting for, or done with, delivery) and
 * `slack_messages` (where our posts went, by ref). The delivery protocol itself is alerts/slack-outbox.ts.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { SlackOutboxKind } from '../../db/entities/alerting.entity.js';

/** An outbox row to insert (see alerts/slack-outbox.ts `OutboxMessage`); `body` is the structured message (JSON). */
export interface OutboxInsert {
  dedupKey: string;
  kind: SlackOutboxKind;
  channel: string;
  ref?: string;
  text: string;
  blocks?: unknown[];
  body?: { type: string; [field: string]: unknown };
  route?: string;
  threadTs?: string;
}

/**
 * Inserts a message at `now` (dedup key cut to 512 characters); false when the dedup key is already there (nothing
 * added). `sentAt` stores it as already sent; `origin` says where it came from (`spool`).
 */
export async function insertOutboxMessage(em: EntityManager, msg: OutboxInsert, now: Date, opts: { sentAt?: Date; origin?: string } = {}): Promise<boolean> {
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

/** Where the ref's message was posted (`slack_messages`), if it was. */
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

/** `post` entries enqueued under `ref` (sent, queued or dead). A count. */
export async function outboxPostCount(em: EntityManager, ref: string): Promise<number> {
  const rows = await em.execute<{ n: number }[]>(`select count(*)::int as n from slack_outbox where ref = ? and kind = 'post'`, [ref]);
  return rows[0]?.n ?? 0;
}

/** A claimed outbox row, as the poster delivers it. Times in UTC. */
export interface OutboxEntry {
  id: number;
  kind: SlackOutboxKind;
  channel: string;
  ref: string | null;
  text: string;
  blocks: unknown[] | null;
  body: { type: string; [field: string]: unknown } | null;
  threadTs: string | null;
  /** Delivery attempts, this claim included. */
  attempts: number;
  createdAt: Date;
  /** Set once the message was refused for its content and is sent text-only. */
  degradedAt: Date | null;
  firstFailedAt: Date | null;
}

/**
 * Claims the head of each channel's line (plus detached messages that are due) until `leaseUntil`, counting an
 * attempt on each; returns the claimed rows.
 */
export async function claimOutboxHeads(em: EntityManager, now: Date, leaseUntil: Date): Promise<OutboxEntry[]> {
  const rows = await em.execute<
    {
      id: number;
      kind: SlackOutboxKind;
      channel: string;
      ref: string | null;
      text: string;
      blocks: unknown[] | null;
      body: OutboxEntry['body'];
      thread_ts: string | null;
      attempts: number;
      created_at: Date | string;
      degraded_at: Date | string | null;
      first_failed_at: Date | string | null;
    }[]
  >(
    `update slack_outbox set claimed_until = ?, attempts = attempts + 1
      where id in (
        select distinct on (channel) id from slack_outbox
         where sent_at is null and dead_at is null
           and (not detached or not_before is null or not_before <= ?)
         order by channel, id)
        and (not_before is null or not_before <= ?)
        and (claimed_until is null or claimed_until < ?)
      returning id, kind, channel, ref, text, blocks, body, thread_ts, attempts, created_at, degraded_at, first_failed_at`,
    [leaseUntil, now, now, now],
  );
  const d = (v: Date | string | null) => (v ? new Date(v) : null);
  return rows.map((r) => ({
    id: r.id,
    kind: r.kind,
    channel: r.channel,
    ref: r.ref,
    text: r.text,
    blocks: r.blocks,
    body: r.body,
    threadTs: r.thread_ts,
    attempts: r.attempts,
    createdAt: new Date(r.created_at),
    degradedAt: d(r.degraded_at),
    firstFailedAt: d(r.first_failed_at),
  }));
}

/** The first `post` enqueued under `ref`: its text and, when dead-lettered, when and why; undefined when none was. */
export async function outboxParentPost(em: EntityManager, ref: string | null): Promise<{ text: string; deadAt: Date | null; lastError: string | null } | undefined> {
  const [parent] = await em
    .execute<{ text: string; dead_at: Date | null; last_error: string | null }[]>(`select text, dead_at, last_error from slack_outbox where ref = ? and kind = 'post' order by id limit 1`, [ref]);
  return parent ? { text: parent.text, deadAt: parent.dead_at, lastError: parent.last_error } : undefined;
}

/** Marks entry `id` degraded (sent text-only from now on) and releases its claim; `error` kept as `last_error`. */
export async function markOutboxDegraded(em: EntityManager, id: number, error: string, now: Date): Promise<void> {
  await em.execute('update slack_outbox set degraded_at = ?, claimed_until = null, last_error = ?, first_failed_at = coalesce(first_failed_at, ?) where id = ?', [now, error, now, id]);
}

/** Dead-letters entry `id` with `error`; `firstFailure`: also record `now` as its first failure when it has none. */
export async function markOutboxDead(em: EntityManager, id: number, error: string, now: Date, firstFailure: boolean): Promise<void> {
  if (firstFailure)
    await em.execute('update slack_outbox set dead_at = ?, claimed_until = null, last_error = ?, first_failed_at = coalesce(first_failed_at, ?) where id = ?', [now, error, now, id]);
  else await em.execute('update slack_outbox set dead_at = ?, claimed_until = null, last_error = ? where id = ?', [now, error, id]);
}

/** Releases the claim on entry `id` after a failed attempt: `error` kept, `now` recorded as first failure if none. */
export async function releaseOutboxFailure(em: EntityManager, id: number, error: string, now: Date): Promise<void> {
  await em.execute('update slack_outbox set claimed_until = null, last_error = ?, first_failed_at = coalesce(first_failed_at, ?) where id = ?', [error, now, id]);
}

/** Takes entry `id` out of its channel's line (`detached`), retried on its own from `notBefore`. */
export async function detachOutboxMessage(em: EntityManager, id: number, notBefore: Date): Promise<void> {
  await em.execute('update slack_outbox set detached = true, not_before = ? where id = ?', [notBefore, id]);
}

/** Holds back every unsent, live, in-line entry of `channel` until `notBefore`. */
export async function holdOutboxChannel(em: EntityManager, channel: string, notBefore: Date): Promise<void> {
  await em.execute('update slack_outbox set not_before = ? where channel = ? and sent_at is null and dead_at is null and not detached', [notBefore, channel]);
}

/** Releases the claim on entry `id` without counting the attempt (it was not tried: too soon, or waiting for its parent). */
export async function unclaimOutboxMessage(em: EntityManager, id: number): Promise<void> {
  await em.execute('update slack_outbox set claimed_until = null, attempts = attempts - 1 where id = ?', [id]);
}

/** Marks entry `id` sent at `now` and releases its claim. */
export async function markOutboxSent(em: EntityManager, id: number, now: Date): Promise<void> {
  await em.execute('update slack_outbox set sent_at = ?, claimed_until = null where id = ?', [now, id]);
}
