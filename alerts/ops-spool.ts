/**
 * The ops spool: while the database is unreachable the outbox (a table) cannot take messages, so ops posts that
 * must reach Slack during the outage (the database watch's DatabaseUnavailable, ops events whose insert failed)
 * are kept here, in memory, and sent straight through the Slack transport (size guard applied, one message per
 * second per channel, retried every few seconds). It is bounded ({@link SPOOL_CAPACITY} messages; beyond that the
 * oldest is dropped and counted). When the database is back, {@link OpsSpool.flush} writes every spooled message
 * to the outbox under its dedup key — as already sent when it was posted (with its ts in `slack_messages`, so
 * later edits and thread replies find it), as pending when it was not — so nothing is posted twice or lost.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Clock } from '../domain/clock.js';
import type { Logger } from '../domain/logger.js';
import { guardMessage } from './slack-guard.js';
import { renderOutbox, type SlackRenderer } from './slack-message.js';
import { CHANNEL_GAP_MS, enqueueSlack, recordPosted, type OutboxMessage } from './slack-outbox.js';
import { classifySlackError, type SlackTransport } from './slack-transport.js';

/** Messages kept at most (posted or not) until the database is back. */
export const SPOOL_CAPACITY = 50;
const RETRY_MS = 3000;

interface Entry {
  msg: OutboxMessage;
  at: Date;
  posted?: { channel: string; ts: string; at: Date };
  /** Run after the outbox row is written (e.g. storing the ops event that could not be inserted). */
  onFlush?: (em: EntityManager) => Promise<void>;
  failures: number;
}

/** See the module comment. */
export interface OpsSpool {
  /** Keeps `msg` (ignored when its dedup key is already spooled) and tries to post it now. */
  post(msg: OutboxMessage, onFlush?: (em: EntityManager) => Promise<void>): Promise<void>;
  /** Writes every spooled message to the outbox (see the module comment); returns how many were written. */
  flush(em: EntityManager): Promise<number>;
  /** Messages held now; `dropped`: how many were dropped for room since start. */
  size(): { held: number; unposted: number; dropped: number };
  /** Where a spooled post went, by its ref (for a reply while the database is still away). */
  posted(ref: string): { channel: string; ts: string } | undefined;
  start(): void;
  stop(): void;
}

/** What the spool sends with (see {@link createOpsSpool}). */
interface SpoolDeps {
  transport: SlackTransport;
  logger: Logger;
  clock: Clock;
  render?: SlackRenderer;
  capacity?: number;
}

/** Where the spooled post with `ref` went, if it was posted. */
function refPosted(entries: Entry[], ref: string | undefined): Entry['posted'] {
  return ref ? entries.find((e) => e.msg.kind === 'post' && e.msg.ref === ref)?.posted : undefined;
}

/** Sends one entry straight through the transport (size guard applied) and records where it went; throws on failure. */
async function sendOne(deps: SpoolDeps, entries: Entry[], e: Entry): Promise<void> {
  const { transport, clock } = deps;
  const r0 = renderOutbox(e.msg, deps.render, deps.logger);
  const g = guardMessage(r0.text, r0.blocks);
  if (e.msg.kind === 'dm') {
    const r = await transport.dm(e.msg.channel, g.text, g.blocks);
    e.posted = { ...r, at: clock.now() };
    return;
  }
  const parent = refPosted(entries, e.msg.ref);
  if (e.msg.kind === 'update' && parent) {
    await transport.update(parent.channel, parent.ts, g.text, g.blocks);
    e.posted = { ...parent, at: clock.now() };
    return;
  }
  const r = await transport.post(e.msg.channel, g.text, g.blocks, (e.msg.kind === 'reply' ? parent?.ts : undefined) ?? e.msg.threadTs);
  e.posted = { ...r, at: clock.now() };
}

/** Sends every unposted entry whose channel is free (one message per {@link CHANNEL_GAP_MS} per channel). */
async function sendDue(deps: SpoolDeps, entries: Entry[], lastSent: Map<string, number>): Promise<void> {
  const { logger } = deps;
  for (const e of entries) {
    if (e.posted) continue;
    const last = lastSent.get(e.msg.channel) ?? 0;
    if (Date.now() - last < CHANNEL_GAP_MS) continue;
    try {
      await sendOne(deps, entries, e);
      lastSent.set(e.msg.channel, Date.now());
      logger.warn({ dedupKey: e.msg.dedupKey, channel: e.msg.channel }, 'ops post sent straight to Slack (database unreachable); written to the outbox when it is back');
    } catch (err) {
      e.failures += 1;
      const f = classifySlackError(err);
      if (e.failures === 1 || e.failures % 20 === 0) logger.error({ dedupKey: e.msg.dedupKey, error: f.error, failures: e.failures }, 'spooled ops post not accepted by Slack; retrying');
    }
  }
}

/** Writes the spooled entries to the outbox in order, removing each once written (see {@link OpsSpool.flush}). */
async function flushEntries(entries: Entry[], em: EntityManager): Promise<number> {
  let written = 0;
  while (entries.length > 0) {
    const e = entries[0]!;
    // posted: stored as sent (never posted again); not posted yet: left to the outbox poster
    const added = await enqueueSlack(em, e.msg, e.at, { origin: 'spool', ...(e.posted ? { sentAt: e.posted.at } : {}) });
    if (e.posted && e.msg.ref && e.msg.kind === 'post') await recordPosted(em, e.msg.ref, e.posted, e.posted.at);
    await e.onFlush?.(em);
    if (added) written += 1;
    entries.shift();
  }
  return written;
}

/** Creates the spool over `transport` and `render` (the same Slack client and renderer as the outbox poster). */
export function createOpsSpool(deps: SpoolDeps): OpsSpool {
  const { logger, clock } = deps;
  const capacity = deps.capacity ?? SPOOL_CAPACITY;
  const entries: Entry[] = [];
  const lastSent = new Map<string, number>();
  let dropped = 0;
  let timer: NodeJS.Timeout | undefined;
  let sending: Promise<void> | undefined;

  const kick = (): Promise<void> => {
    sending ??= sendDue(deps, entries, lastSent).finally(() => {
      sending = undefined;
    });
    return sending;
  };

  return {
    async post(msg, onFlush) {
      if (entries.some((e) => e.msg.dedupKey === msg.dedupKey)) return kick();
      if (entries.length >= capacity) {
        const victim = entries.findIndex((e) => !e.posted);
        entries.splice(Math.max(victim, 0), 1);
        dropped += 1;
        logger.error({ capacity, dropped }, 'ops spool full: oldest message dropped');
      }
      entries.push({ msg, at: clock.now(), failures: 0, ...(onFlush ? { onFlush } : {}) });
      await sending?.catch(() => undefined);
      return kick();
    },
    flush: (em) => flushEntries(entries, em),
    size: () => ({ held: entries.length, unposted: entries.filter((e) => !e.posted).length, dropped }),
    posted: (ref) => refPosted(entries, ref),
    start() {
      timer ??= setInterval(() => void kick(), RETRY_MS);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
    },
  };
}
