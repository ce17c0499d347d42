/**
 * One delivery attempt of a claimed outbox entry (alerts/slack-outbox.ts): the message is rendered, passed through
 * the size guard (or sent in its degraded text-only form, the full detail uploaded beside it), and sent by its
 * kind — `file`, `dm`, `post`, or an `update`/`reply` of the post under its ref. A reply or update whose parent was
 * dead-lettered, or is still unposted after {@link ORPHAN_WAIT_MS}, is posted in the channel on its own.
 * Transport errors are thrown to the caller (alerts/slack-failure.ts decides what they mean).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Clock } from '../domain/clock.js';
import type { Logger } from '../domain/logger.js';
import { outboxParentPost, postedMessage, recordPosted, type OutboxEntry } from '../domain/queries/slack-outbox.js';
import { truncateGraphemes } from '../domain/text/graphemes.js';
import { blocksToPlainText, guardMessage } from './slack-guard.js';
import { renderOutbox, type RenderedSlack, type SlackRenderer } from './slack-message.js';
import { classifySlackError, type SlackTransport } from './slack-transport.js';

/** How long a reply/update waits for a parent that is neither posted nor dead-lettered (ms). */
export const ORPHAN_WAIT_MS = 90_000;

/** What an attempt did: `sent` (done with the entry), or `wait` (its parent post is not there yet; nothing sent). */
type SendOutcome = 'sent' | 'wait';

/** Sends one claimed entry at `now`; throws the transport's error when Slack refuses or fails. */
type SlackSend = (em: EntityManager, row: OutboxEntry, now: Date) => Promise<SendOutcome>;

/** The parent post of a reply/update, when it cannot be threaded: dead-lettered, or still unposted too long. */
interface Orphaned {
  why: string;
  parentText: string;
}

/** The message as it goes out: guarded text and blocks. */
interface Guarded {
  text: string;
  blocks?: unknown[];
}

/** Why a reply/update cannot be threaded under its parent, or undefined while it should still wait. */
async function orphanedParent(em: EntityManager, row: OutboxEntry, now: Date): Promise<Orphaned | undefined> {
  const parent = await outboxParentPost(em, row.ref);
  if (parent?.deadAt) return { why: `could not be posted: ${parent.lastError ?? 'refused by Slack'}`, parentText: parent.text };
  if (now.getTime() - row.createdAt.getTime() >= ORPHAN_WAIT_MS) return { why: parent ? 'has not been posted yet' : 'was never queued', parentText: parent?.text ?? row.ref ?? '' };
  return undefined;
}

/** The text-only form of a message refused for its content, and the full detail for the file beside it. */
function degradedForm(msg: RenderedSlack): { text: string; detail: string } {
  const detail = [msg.text, blocksToPlainText(msg.blocks)].filter(Boolean).join('\n\n');
  const text = `${truncateGraphemes(msg.text, 2500)}\n_(Shortened for Slack; the full detail is in the attached file.)_`;
  return { text, detail };
}

/** Creates the sender over `transport`; `render` turns stored bodies into Block Kit. */
export function createSlackSender(deps: { logger: Logger; clock: Clock; transport: SlackTransport; render?: SlackRenderer }): SlackSend {
  const { logger, clock, transport } = deps;

  /** Posts a new message in `channel` (in `threadTs`'s thread when given) and records it under the row's ref. */
  async function postAndRecord(em: EntityManager, row: OutboxEntry, g: Guarded): Promise<{ channel: string; ts: string }> {
    const res = await transport.post(row.channel, g.text, g.blocks, row.threadTs ?? undefined);
    if (row.ref) await recordPosted(em, row.ref, res, clock.now());
    return res;
  }

  /** A reply or update of our post under `row.ref`: threaded or edited in place, or posted on its own when orphaned. */
  async function sendFollowUp(em: EntityManager, row: OutboxEntry, g: Guarded, now: Date, attach: (at: { channel: string; ts: string } | undefined) => Promise<void>): Promise<SendOutcome> {
    const target = row.ref ? await postedMessage(em, row.ref) : undefined;
    if (target) {
      if (row.kind === 'update') await transport.update(target.channel, target.ts, g.text, g.blocks);
      else await transport.post(target.channel, g.text, g.blocks, target.ts);
      await attach(target);
      return 'sent';
    }
    const orphan = await orphanedParent(em, row, now);
    if (!orphan) return 'wait';
    if (row.kind === 'update') {
      // the current state stands in for the post that never went out (in its thread, if it had one); later edits
      // and replies find it
      await attach(await postAndRecord(em, row, g));
      return 'sent';
    }
    const context = `_Reply to "${truncateGraphemes(orphan.parentText.replace(/\s+/g, ' '), 150)}", which ${truncateGraphemes(orphan.why, 200)}._`;
    const res = await transport.post(
      row.channel,
      `${g.text}\n${context}`,
      g.blocks ? [...g.blocks, { type: 'context', elements: [{ type: 'mrkdwn', text: context }] }] : undefined,
      row.threadTs ?? undefined,
    );
    await attach(res);
    return 'sent';
  }

  return async (em, row, now) => {
    const rendered = renderOutbox(row, deps.render, logger);
    const degraded = row.degradedAt ? degradedForm(rendered) : undefined;
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
      await transport.upload(row.channel, row.threadTs ?? undefined, f.filename ?? `leadfactory-${row.id}.txt`, row.text, f.title ?? f.filename ?? 'File');
      return 'sent';
    }
    if (row.kind === 'dm') {
      await attach(await transport.dm(row.channel, guarded.text, guarded.blocks));
      return 'sent';
    }
    if (row.kind === 'post' || (row.kind === 'reply' && row.threadTs && !row.ref)) {
      if (row.kind === 'post' && row.ref && (await postedMessage(em, row.ref))) return 'sent'; // posted before a crash lost the sent_at: never post twice
      await attach(await postAndRecord(em, row, guarded));
      return 'sent';
    }
    return sendFollowUp(em, row, guarded, now, attach);
  };
}
