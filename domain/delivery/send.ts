/**
 * Delivery: sends `pending` outreach emails through SendGrid v3 mail/send (via the gateway), exactly once per
 * email even across crashes.
 *
 * Per batch ({@link claimPendingBatch}, one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING id`):
 * emails move `pending → sending` with `claimed_at` and a lease (holder + expiry, domain/leases.ts) BEFORE the
 * provider call. A process killed mid-batch leaves them `sending`; when their lease is dead the scheduler leader's
 * reaper (domain/pipeline/reaper.ts) asks SendGrid's Email Activity API whether each was accepted (every send carries
 * `custom_args.email_id`): `sent` if so, back to `pending` if not — exactly once across crashes.
 * Then per email, in id order: suppressed address → `suppressed`; invalid syntax → `failed` + suppression
 * `invalid`; else the send with `custom_args.email_id`, List-Unsubscribe headers and the footer (compliance.ts)
 * → `sent` with SendGrid's `X-Message-Id` (business `emailed`), or `failed` with the error, its class and, when
 * retryable, the next attempt's time (send-failures.ts: exponential backoff with jitter, `EMAIL_SEND_MAX_ATTEMPTS`).
 * Before each call's first claim the due retries go back to `pending` (retry.ts), never one SendGrid may have
 * taken without asking its activity feed first (a timed-out POST may have been sent, sindresorhus/got#1672).
 *
 * An operator can pause delivery (setting `delivery.paused`, pause.ts): checked before every batch claim, a paused
 * stage claims nothing and returns with `paused` set. {@link requeueStuck} puts `sending` emails back to `pending`
 * only when the event webhook proves SendGrid never accepted them (see there).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { Email } from '../../db/entities/index.js';
import { withDbRetry } from '../db-retry.js';
import { keepLeases, processHolder } from '../leases.js';
import type { MailMessage } from '../providers/sendgrid/index.js';
import {
  claimPendingEmails,
  confirmEmailLease,
  markEmailFailed,
  markEmailSent,
  requeueSendingEmail,
  requeueUnacceptedSending,
  scheduleEmailRetry,
  sendingClaimedBefore,
  type StaleSendingRow,
} from '../queries/emails.js';
import { stuckSendingEmails } from '../queries/email-figures.js';
import { activityQueryByCustomArg } from '../providers/sendgrid/index.js';
import { isConnectionError } from '../db-retry.js';
import { ProviderError } from '../errors.js';
import { mapConcurrent, type PipelineDeps, type ProgressFn } from '../pipeline/deps.js';
import { settleDeadEmails, type ReaperDeps } from '../pipeline/reaper.js';
import { composeMessage } from './compliance.js';
import { deliveryPause } from './pause.js';
import { retryDueSends } from './retry.js';
import { classifySendFailure, nextAttemptAt } from './send-failures.js';
import { addSuppression, emailHash, isSuppressed } from './suppression.js';
import { validateEmailAddress } from './validate.js';

/** Counts of one {@link sendPending} call. */
export interface SendSummary {
  /** Accepted by SendGrid (`sent`). */
  emailed: number;
  /** SendGrid call failed, or the address is invalid (`failed`). */
  failed: number;
  /** Skipped: address on the suppression list (`suppressed`). */
  suppressed: number;
  /** Of `failed`: refused by the syntax check (and now suppressed with reason `invalid`). */
  invalid: number;
  /** Failed emails whose retry was due and went back to `pending` before the claims (retry.ts); sent or failed again above. */
  retried: number;
  /** Of `failed`: with a retry scheduled (a retryable failure with attempts left). */
  willRetry: number;
  /**
   * Present when the stage stopped because delivery is paused (setting `delivery.paused`): who paused it and since
   * when (ISO time). Emails not yet claimed stay `pending`.
   */
  paused?: { by: string; since: string };
}

/**
 * Claims up to `batch` pending emails (oldest id first) in ONE statement, moving them to `sending` with
 * `claimed_at = now` and a lease for `holder` (default this process) of `leaseMs` (default 2 min); concurrent
 * claimers skip each other's rows (`FOR UPDATE SKIP LOCKED`). Returns the ids.
 */
export async function claimPendingBatch(em: EntityManager, batch: number, now: Date, holder = processHolder(), leaseMs = 120_000): Promise<number[]> {
  return claimPendingEmails(em, batch, now, holder, new Date(now.getTime() + leaseMs));
}

/**
 * How many emails one claim may take: no more than can be sent within one lease — `leaseMs / providerTimeoutMs`
 * sends per slot (at least one) times `concurrency` — and at most `batch`.
 */
export function maxEmailClaim(batch: number, concurrency: number, leaseMs: number, providerTimeoutMs: number): number {
  return Math.max(1, Math.min(batch, Math.max(1, Math.floor(leaseMs / providerTimeoutMs)) * concurrency));
}

/**
 * Sends every pending email, batch after batch, until none is pending. A claim takes at most {@link maxEmailClaim}
 * (`config.delivery.emailBatchSize` capped by what one lease covers); the claimed emails carry a lease for
 * `deps.holder` (default this process) renewed every third of `config.stages.leaseMs` while the stage runs, and
 * each email's lease is confirmed right before its send, so an email the reaper took back is never sent here.
 * Before each claim it reads the pause switch (pause.ts): when delivery is paused it claims nothing more and
 * returns the counts so far with `paused` set (logged at info).
 * Database work is retried through an outage (domain/db-retry.ts, up to `config.stages.dbOutageMaxWaitMs`): a send
 * already accepted is recorded when the database is back, never repeated. `progress('emailed' | 'send_failed', 1)`
 * is called after each outcome is stored. Provider errors mark the email `failed`.
 */
export async function sendPending(deps: PipelineDeps, progress: ProgressFn = () => {}): Promise<SendSummary> {
  const summary: SendSummary = { emailed: 0, failed: 0, suppressed: 0, invalid: 0, retried: 0, willRetry: 0 };
  const { leaseMs, dbOutageMaxWaitMs } = deps.config.stages;
  const batch = maxEmailClaim(deps.config.delivery.emailBatchSize, deps.config.delivery.emailConcurrency, leaseMs, deps.config.providerTimeoutMs);
  const holder = deps.holder ?? processHolder();
  const db = <T>(what: string, fn: (em: EntityManager) => Promise<T>) =>
    withDbRetry(() => fn(deps.em.fork()), { maxWaitMs: dbOutageMaxWaitMs, logger: deps.logger, what });
  const keeper = keepLeases({ em: () => deps.em.fork(), holder, leaseMs, now: () => deps.clock.now(), logger: deps.logger });
  try {
    let retriesDone = false;
    for (;;) {
      const pause = await db('delivery pause read', (em) => deliveryPause(em));
      if (pause.paused) {
        const paused = { by: pause.by ?? 'unknown', since: (pause.since ?? deps.clock.now()).toISOString() };
        deps.logger.info({ pausedBy: paused.by, since: paused.since }, 'delivery is paused: no emails sent');
        return { ...summary, paused };
      }
      if (!retriesDone) {
        summary.retried = (await db('due retries', () => retryDueSends(deps))).requeued.length;
        retriesDone = true;
      }
      const ids = await db('email claim', (em) => claimPendingBatch(em, batch, deps.clock.now(), holder, leaseMs));
      if (ids.length === 0) {
        // emails a dead holder left `sending`: settled with SendGrid's activity feed now (waiting out its settle
        // delay, at most SENDGRID_ACTIVITY_SETTLE_SECONDS), so a crashed run's leftovers go out in this run
        const settled = await db('dead sending emails', () => settleDeadEmails(settleDeps(deps)));
        if (settled.emailsRequeued.length > 0) continue;
        if (settled.waitMs === undefined) return summary;
        await new Promise((r) => setTimeout(r, Math.min(Math.max(settled.waitMs!, 50), 1000)));
        continue;
      }
      // Each claimed email in its own unit of work, a few at a time (EMAIL_CONCURRENCY).
      await mapConcurrent(ids, deps.config.delivery.emailConcurrency, async (id) => {
        let outcome = await deliverOne(deps, id, holder, db);
        if (outcome === 'lost') return;
        if (outcome === 'failed_retry') {
          summary.willRetry++;
          outcome = 'failed';
        }
        summary[outcome]++;
        if (outcome === 'invalid') summary.failed++;
        if (outcome === 'emailed') progress('emailed', 1);
        if (outcome === 'failed' || outcome === 'invalid') progress('send_failed', 1);
      });
    }
  } finally {
    keeper.stop();
  }
}

type Db = <T>(what: string, fn: (em: EntityManager) => Promise<T>) => Promise<T>;

/** The reaper's dependencies for the email stage's own settling of dead holders' emails. */
function settleDeps(deps: PipelineDeps): ReaperDeps {
  return {
    em: () => deps.em.fork(),
    clock: deps.clock,
    logger: deps.logger,
    leaseMs: deps.config.stages.leaseMs,
    settleMs: deps.config.stages.activitySettleMs,
    sendgrid: deps.providers.sendgrid,
  };
}

/**
 * Checks a claimed email before its send: suppressed address → `suppressed`; invalid syntax → `failed` +
 * suppression `invalid`; else the message to send. Repeatable as a whole (a fresh unit of work per try).
 */
async function prepare(deps: PipelineDeps, em: EntityManager, id: number): Promise<'suppressed' | 'invalid' | 'gone' | MailMessage> {
  const email = await em.findOne(Email, id, { populate: ['business'] });
  if (email?.status !== 'sending') return 'gone';
  const now = deps.clock.now();
  const check = validateEmailAddress(email.toAddress);
  if (await isSuppressed(em, check.ok ? check.address : email.toAddress)) {
    email.status = 'suppressed';
    email.errorMessage = 'address is on the suppression list';
    email.leaseHolder = null;
    email.leaseExpiresAt = null;
    email.business.status = 'suppressed';
    await em.flush();
    return 'suppressed';
  }
  if (!check.ok) {
    await addSuppression(em, emailHash(email.toAddress), 'invalid', 'send', now);
    email.status = 'failed';
    email.errorMessage = `invalid address: ${check.reason}`;
    email.lastErrorClass = 'invalid_address';
    email.nextAttemptAt = null;
    email.leaseHolder = null;
    email.leaseExpiresAt = null;
    email.business.status = 'suppressed';
    await em.flush();
    return 'invalid';
  }
  return composeMessage(deps.config, { id: email.id, businessId: email.business.id, toAddress: email.toAddress, subject: email.subject, body: email.body }, now);
}

/** Delivers one claimed (`sending`) email; returns what happened to it (`lost`: the reaper took it back first). */
async function deliverOne(deps: PipelineDeps, id: number, holder: string, db: Db): Promise<'emailed' | 'failed' | 'failed_retry' | 'suppressed' | 'invalid' | 'lost'> {
  const prepared = await db('email check', (em) => prepare(deps, em, id));
  if (prepared === 'gone') return 'lost';
  if (prepared === 'suppressed' || prepared === 'invalid') return prepared;
  // the lease is confirmed (and renewed) right before the send: only the holder sends
  const until = new Date(deps.clock.now().getTime() + deps.config.stages.leaseMs);
  if (!(await db('email lease', (em) => confirmEmailLease(em, id, holder, until)))) {
    deps.logger.warn({ emailId: id, holder }, 'email lease lost before its send: left to the reaper');
    return 'lost';
  }
  let messageId: string | null = null;
  try {
    const res = await deps.providers.sendgrid.send(prepared);
    messageId = res.messageId;
  } catch (err) {
    // the gateway keeps its state in the database: a connection error around the call leaves the send's outcome
    // unknown — SendGrid's activity feed decides, never a guess
    if (!(err instanceof ProviderError) && isConnectionError(err)) return settleUnknownSend(deps, id, holder, db);
    return recordFailure(deps, id, err, db);
  }
  await db('email sent', (em) => markEmailSent(em, id, messageId, deps.clock.now()));
  return 'emailed';
}

/** Stores a failed send with its class and, when retryable with attempts left, schedules the retry (send-failures.ts). */
async function recordFailure(deps: PipelineDeps, id: number, err: unknown, db: Db): Promise<'failed' | 'failed_retry'> {
  const now = deps.clock.now();
  const failure = classifySendFailure(err, now);
  const error = (err as Error)?.message || String(err);
  const attempts = await db('email failed', (em) => markEmailFailed(em, id, error, now, failure.errorClass));
  const next = attempts === undefined ? undefined : nextAttemptAt(failure, attempts, now, deps.config.delivery.sendRetry, { settleMs: deps.config.stages.activitySettleMs });
  if (!next) return 'failed';
  await db('email retry', (em) => scheduleEmailRetry(em, id, next));
  return 'failed_retry';
}

/**
 * A send whose outcome is unknown (the database dropped around the gateway call): after the activity feed's settle
 * delay, SendGrid's Email Activity API is asked (through the outage, retried) — found → `sent`; not found → back to
 * `pending` (this stage's next claim sends it). When the API is unavailable the email stays `sending` under this
 * holder's lease, for the reaper (at-most-once).
 */
async function settleUnknownSend(deps: PipelineDeps, id: number, holder: string, db: Db): Promise<'emailed' | 'lost'> {
  deps.logger.warn({ emailId: id }, 'send outcome unknown (database unreachable around the call): asking SendGrid once the database is back');
  await new Promise((r) => setTimeout(r, deps.config.stages.activitySettleMs));
  let found: { msgId: string } | undefined;
  try {
    found = (await db('email activity lookup', () => deps.providers.sendgrid.searchMessages(activityQueryByCustomArg('email_id', String(id)), 10)))[0];
  } catch (err) {
    deps.logger.warn({ emailId: id, err: (err as Error).message }, 'activity lookup failed: left sending for the reaper');
    return 'lost';
  }
  if (found) {
    await db('email sent', (em) => markEmailSent(em, id, found!.msgId.split('.')[0] || null, deps.clock.now()));
    return 'emailed';
  }
  await db('email requeue', (em) => requeueSendingEmail(em, id, holder, 'requeued: the send failed with the database and SendGrid has no message for it', deps.clock.now()));
  return 'lost';
}

/**
 * Emails still `sending` whose `claimed_at` is older than `now - olderThanMs` (default 30 min, as
 * `config.stages.stuckAfterMs`). They are never re-sent automatically: SendGrid may or may not have accepted them;
 * an operator checks the SendGrid activity feed (or waits for events matched by `custom_args.email_id`).
 */
export async function staleSending(em: EntityManager, now: Date, olderThanMs = 30 * 60_000): Promise<StaleSendingRow[]> {
  return sendingClaimedBefore(em, new Date(now.getTime() - olderThanMs));
}

/** Default time after a claim within which SendGrid's `processed` event would have arrived: 15 min in ms. */
export const WEBHOOK_GRACE_MS = 15 * 60_000;

/** What {@link requeueStuck} did. */
export interface RequeueResult {
  /** Ids moved from `sending` back to `pending` (the next delivery batch claims them). */
  requeued: number[];
  /**
   * Stale `sending` emails left alone because SendGrid may have accepted them: a message id, a send time or an
   * event of their own, or no event at all received since their claim (+ grace) to prove the webhook would have
   * told us.
   */
  keptSending: number;
}

/**
 * Puts stale `sending` emails back to `pending` in ONE statement, without risking a second send. Claim-before-send
 * (module comment) means a `sending` email may or may not have reached SendGrid; an email is requeued only when
 * - its claim is older than `claimTimeoutMs` (far beyond the provider timeout, so no live worker still holds it);
 * - it has no `provider_message_id` and no `sent_at` (no answer from SendGrid was stored);
 * - no `email_events` row carries its id (SendGrid echoes `custom_args.email_id` on every event, `processed` first);
 * - and the event webhook is demonstrably working for it: some event was received more than `webhookGraceMs`
 *   after its claim, so had SendGrid accepted it, its `processed` event would be here.
 * `claimed_at` is cleared and `error_message` says why. Emails still `pending` need nothing: the next batch takes
 * them. Concurrent callers are safe (the `status = 'sending'` condition is re-checked under the row lock).
 */
export async function requeueStuck(
  em: EntityManager,
  now: Date,
  opts: { claimTimeoutMs: number; webhookGraceMs?: number },
): Promise<RequeueResult> {
  const cutoff = new Date(now.getTime() - opts.claimTimeoutMs);
  const graceSeconds = Math.round((opts.webhookGraceMs ?? WEBHOOK_GRACE_MS) / 1000);
  const requeued = await requeueUnacceptedSending(em, now, cutoff, graceSeconds);
  const keptSending = (await stuckSendingEmails(em, cutoff)).count;
  return { requeued: requeued.sort((a, b) => a - b), keptSending };
}
