/**
 * Delivery: sends `pending` outreach emails through SendGrid v3 mail/send (via the gateway), exactly once per
 * email even across crashes.
 *
 * Per batch ({@link claimPendingBatch}, one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING id`):
 * emails move `pending → sending` with `claimed_at` BEFORE the provider call, so a process killed mid-batch
 * leaves them `sending` and no later run sends them again; {@link staleSending} lists those for runbooks.
 * Then per email, in id order: suppressed address → `suppressed`; invalid syntax → `failed` + suppression
 * `invalid`; else the send with `custom_args.email_id`, List-Unsubscribe headers and the footer (compliance.ts)
 * → `sent` with SendGrid's `X-Message-Id` (business `emailed`), or `failed` with the error (never retried here:
 * a timed-out POST may have been sent, pitfall 11).
 *
 * An operator can pause delivery (setting `delivery.paused`, pause.ts): checked before every batch claim, a paused
 * stage claims nothing and returns with `paused` set. {@link requeueStuck} puts `sending` emails back to `pending`
 * only when the event webhook proves SendGrid never accepted them (see there).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { Email } from '../../db/entities/index.js';
import { mapConcurrent, type PipelineDeps, type ProgressFn } from '../pipeline/deps.js';
import { composeMessage } from './compliance.js';
import { deliveryPause } from './pause.js';
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
  /**
   * Present when the stage stopped because delivery is paused (setting `delivery.paused`): who paused it and since
   * when (ISO time). Emails not yet claimed stay `pending`.
   */
  paused?: { by: string; since: string };
}

/**
 * Claims up to `batch` pending emails (oldest id first) in ONE statement, moving them to `sending` with
 * `claimed_at = now`; concurrent claimers skip each other's rows (`FOR UPDATE SKIP LOCKED`). Returns the ids.
 */
export async function claimPendingBatch(em: EntityManager, batch: number, now: Date): Promise<number[]> {
  const rows = await em.execute<{ id: number }[]>(
    `update emails set status = 'sending', claimed_at = ?, updated_at = ?
     where id in (select id from emails where status = 'pending' order by id limit ? for update skip locked)
     returning id`,
    [now, now, batch],
  );
  return rows.map((r) => Number(r.id)).sort((a, b) => a - b);
}

/**
 * Sends every pending email, batch after batch (`config.delivery.emailBatchSize`), until none is pending.
 * Before each claim it reads the pause switch (pause.ts): when delivery is paused it claims nothing more and
 * returns the counts so far with `paused` set (logged at info).
 * `progress('emailed' | 'send_failed', 1)` is called after each outcome is stored. Errors of the database
 * propagate (the claimed, unsent emails then stay `sending`: see {@link staleSending}); provider errors don't.
 */
export async function sendPending(deps: PipelineDeps, progress: ProgressFn = () => {}): Promise<SendSummary> {
  const summary: SendSummary = { emailed: 0, failed: 0, suppressed: 0, invalid: 0 };
  const batch = deps.config.delivery.emailBatchSize;
  for (;;) {
    const em = deps.em.fork();
    const pause = await deliveryPause(em);
    if (pause.paused) {
      const paused = { by: pause.by ?? 'unknown', since: (pause.since ?? deps.clock.now()).toISOString() };
      deps.logger.info({ pausedBy: paused.by, since: paused.since }, 'delivery is paused: no emails sent');
      return { ...summary, paused };
    }
    const ids = await claimPendingBatch(em, batch, deps.clock.now());
    if (ids.length === 0) return summary;
    // Each claimed email in its own unit of work, a few at a time (EMAIL_CONCURRENCY).
    await mapConcurrent(ids, deps.config.delivery.emailConcurrency, async (id) => {
      const outcome = await deliverOne(deps, id);
      summary[outcome]++;
      if (outcome === 'invalid') summary.failed++;
      if (outcome === 'emailed') progress('emailed', 1);
      if (outcome === 'failed' || outcome === 'invalid') progress('send_failed', 1);
    });
  }
}

/** Delivers one claimed (`sending`) email; returns what happened to it. */
async function deliverOne(deps: PipelineDeps, id: number): Promise<'emailed' | 'failed' | 'suppressed' | 'invalid'> {
  const em = deps.em.fork();
  const email = await em.findOneOrFail(Email, id, { populate: ['business'] });
  const now = deps.clock.now();
  const check = validateEmailAddress(email.toAddress);
  if (await isSuppressed(em, check.ok ? check.address : email.toAddress)) {
    email.status = 'suppressed';
    email.errorMessage = 'address is on the suppression list';
    email.business.status = 'suppressed';
    await em.flush();
    return 'suppressed';
  }
  if (!check.ok) {
    await addSuppression(em, emailHash(email.toAddress), 'invalid', 'send', now);
    email.status = 'failed';
    email.errorMessage = `invalid address: ${check.reason}`;
    email.business.status = 'suppressed';
    await em.flush();
    return 'invalid';
  }
  let messageId: string | null = null;
  let error: string | undefined;
  try {
    const res = await deps.providers.sendgrid.send(composeMessage(deps.config, email, now));
    messageId = res.messageId;
  } catch (err) {
    error = (err as Error).message || String(err);
  }
  if (error === undefined) {
    email.status = 'sent';
    email.providerMessageId = messageId;
    email.sentAt = deps.clock.now();
    email.errorMessage = null;
    email.business.status = 'emailed';
  } else {
    email.status = 'failed';
    email.errorMessage = error;
  }
  await em.flush();
  return error === undefined ? 'emailed' : 'failed';
}

/** An email left `sending` by a worker that died after claiming it. */
export interface StaleSending {
  id: number;
  businessId: number;
  campaign: string;
  claimedAt: Date;
}

/**
 * Emails still `sending` whose `claimed_at` is older than `now - olderThanMs` (default 30 min, as
 * `config.stages.stuckAfterMs`). They are never re-sent automatically: SendGrid may or may not have accepted them;
 * an operator checks the SendGrid activity feed (or waits for events matched by `custom_args.email_id`).
 */
export async function staleSending(em: EntityManager, now: Date, olderThanMs = 30 * 60_000): Promise<StaleSending[]> {
  const rows = await em.execute<{ id: number; business_id: number; campaign: string; claimed_at: Date | string }[]>(
    `select id, business_id, campaign, claimed_at from emails
     where status = 'sending' and claimed_at < ? order by id`,
    [new Date(now.getTime() - olderThanMs)],
  );
  return rows.map((r) => ({ id: Number(r.id), businessId: Number(r.business_id), campaign: r.campaign, claimedAt: new Date(r.claimed_at) }));
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
  const rows = await em.execute<{ id: number }[]>(
    `update emails e set status = 'pending', claimed_at = null, updated_at = ?,
       error_message = 'requeued: claim expired and the event webhook shows SendGrid never accepted it'
     where e.status = 'sending' and e.claimed_at < ? and e.provider_message_id is null and e.sent_at is null
       and not exists (select 1 from email_events ev where ev.email_id = e.id)
       and exists (select 1 from email_events w where w.received_at > e.claimed_at + ? * interval '1 second')
     returning e.id`,
    [now, cutoff, graceSeconds],
  );
  const kept = await em.execute<{ n: string | number }[]>(
    "select count(*) as n from emails where status = 'sending' and claimed_at < ?",
    [cutoff],
  );
  return { requeued: rows.map((r) => Number(r.id)).sort((a, b) => a - b), keptSending: Number(kept[0]?.n ?? 0) };
}
