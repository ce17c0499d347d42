/**
 * What a failed delivery attempt of an outbox entry (alerts/slack-outbox.ts) does to the entry and its channel:
 * - a permanent refusal about the content degrades the message once (text only, detail as a file); any other
 *   permanent refusal, or one of the degraded form, dead-letters it and the channel moves on;
 * - a message failing with retryable errors for {@link GIVE_UP_MS} is dead-lettered;
 * - otherwise the channel is held back (Retry-After for a 429, else exponential backoff up to
 *   {@link MAX_BACKOFF_MS}) for at most {@link LINE_BUDGET_MS} from the first failure; past that the message is
 *   taken out of line (`detached`) and retried on its own.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { RepeatCollapser } from '../domain/log-collapse.js';
import type { Logger } from '../domain/logger.js';
import {
  detachOutboxMessage,
  holdOutboxChannel,
  markOutboxDead,
  markOutboxDegraded,
  releaseOutboxFailure,
  type OutboxEntry,
} from '../domain/queries/slack-outbox.js';
import type { SlackFailure } from './slack-transport.js';

/** How long a message failing with retryable errors may hold its channel before it is taken out of line (ms). */
export const LINE_BUDGET_MS = 60_000;
/** A message failing with retryable errors for this long is dead-lettered (ms). */
export const GIVE_UP_MS = 6 * 3600_000;
/** Longest backoff between two retries of a detached message (ms). */
const MAX_BACKOFF_MS = 5 * 60_000;

/** Applies a failed attempt of `row` (classified as `f`) at `now`. */
type SlackFailureHandler = (em: EntityManager, row: OutboxEntry, f: SlackFailure, now: Date) => Promise<void>;

/** A permanent refusal: degrade the message once when it is about the content, else dead-letter it. */
async function refused(em: EntityManager, row: OutboxEntry, f: Extract<SlackFailure, { kind: 'permanent' }>, error: string, now: Date, logger: Logger): Promise<void> {
  if (f.degradable && !row.degradedAt) {
    await markOutboxDegraded(em, row.id, error, now);
    logger.warn({ id: row.id, channel: row.channel, error: f.error }, 'slack refused the message; sending it text-only with the detail as a file');
    return;
  }
  await markOutboxDead(em, row.id, error, now, true);
  logger.error({ id: row.id, channel: row.channel, kind: row.kind, error: f.error }, 'slack refused the message for good: dead-lettered; the channel moves on');
}

/** Creates the handler; `collapser` folds repeated retry warnings per channel. */
export function createSlackFailureHandler(deps: { logger: Logger; collapser: RepeatCollapser }): SlackFailureHandler {
  const { logger, collapser } = deps;
  return async (em, row, f, now) => {
    const nowMs = now.getTime();
    const error = `${f.kind}: ${f.error}`.slice(0, 1000);
    if (f.kind === 'permanent') return refused(em, row, f, error, now, logger);
    const firstFailed = row.firstFailedAt ? row.firstFailedAt.getTime() : nowMs;
    if (nowMs - firstFailed >= GIVE_UP_MS) {
      await markOutboxDead(em, row.id, `gave up after ${row.attempts} attempts: ${error}`, now, false);
      logger.error({ id: row.id, channel: row.channel, error: f.error }, 'slack message failing for hours: dead-lettered');
      return;
    }
    const backoff = f.kind === 'rate_limited' ? f.retryAfterMs : Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(row.attempts, 9));
    const lineLeft = firstFailed + LINE_BUDGET_MS - nowMs;
    await releaseOutboxFailure(em, row.id, error, now);
    if (lineLeft <= 0) {
      await detachOutboxMessage(em, row.id, new Date(nowMs + backoff));
      collapser.log('warn', `detached:${row.channel}`, { channel: row.channel, error: f.error }, 'slack message keeps failing: taken out of its channel line, retried on its own');
      return;
    }
    // hold back the channel (later messages must not overtake this one) — but never past the line budget
    await holdOutboxChannel(em, row.channel, new Date(nowMs + Math.min(backoff, lineLeft)));
    if (f.kind === 'rate_limited') logger.warn({ channel: row.channel, retryAfterMs: f.retryAfterMs }, 'slack rate limited; channel held back');
    else collapser.log('error', `retry:${row.channel}:${f.error}`, { channel: row.channel, id: row.id, attempts: row.attempts, error: f.error }, 'slack outbox delivery failed; will retry');
  };
}
