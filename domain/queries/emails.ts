/**
 * Named queries over `emails` that move an email along: delivery's lease protocol (domain/delivery/send.ts,
 * domain/pipeline/reaper.ts), its queue checks and stale claims, and drafting (personalization). The figures read
 * about emails (bounce rate, stuck, failures, status counts) are in ./email-figures.ts.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { STUCK_SENDING } from './email-figures.js';

/** Holder mark of an email left `sending` that could not be settled (no Email Activity API): never resent. */
export const UNCONFIRMED_HOLDER = 'unconfirmed';

/**
 * Claims up to `batch` pending emails (oldest id first) in ONE statement, moving them to `sending` with
 * `claimed_at = now` and a lease for `holder` until `until`; concurrent claimers skip each other's rows
 * (`FOR UPDATE SKIP LOCKED`). Returns the ids, ascending.
 */
export async function claimPendingEmails(em: EntityManager, batch: number, now: Date, holder: string, until: Date): Promise<number[]> {
  const rows = await em.execute<{ id: number }[]>(
    `update emails set status = 'sending', claimed_at = ?, updated_at = ?, lease_holder = ?, lease_expires_at = ?
     where id in (select id from emails where status = 'pending' order by id limit ? for update skip locked)
     returning id`,
    [now, now, holder, until, batch],
  );
  return rows.map((r) => Number(r.id)).sort((a, b) => a - b);
}

/** Renews the lease of every `sending` email `holder` holds; returns how many. */
export async function renewItemLeases(em: EntityManager, holder: string, until: Date): Promise<number> {
  const rows = await em
    .execute<{ id: number }[]>(`update emails set lease_expires_at = ? where status = 'sending' and lease_holder = ? returning id`, [until, holder]);
  return rows.length;
}

/**
 * Renews one email's lease just before its send and counts the attempt (`send_attempts + 1`): true only while it is
 * still `sending` under `holder` (the reaper did not take it back).
 */
export async function confirmEmailLease(em: EntityManager, id: number, holder: string, until: Date): Promise<boolean> {
  const rows = await em.execute<{ id: number }[]>(
    `update emails set lease_expires_at = ?, send_attempts = send_attempts + 1 where id = ? and status = 'sending' and lease_holder = ? returning id`,
    [until, id, holder],
  );
  return rows.length > 0;
}

/**
 * Records an accepted send: `sent` with SendGrid's message id, the lease released, and the business `emailed`.
 * Idempotent (a retry after a lost connection repeats it harmlessly).
 */
export async function markEmailSent(em: EntityManager, id: number, messageId: string | null, now: Date): Promise<void> {
  const conn = em.getConnection();
  await conn.execute(
    `update emails set status = 'sent', provider_message_id = coalesce(?, provider_message_id), sent_at = coalesce(sent_at, ?), error_message = null,
       lease_holder = null, lease_expires_at = null, updated_at = ? where id = ? and status in ('sending', 'pending')`,
    [messageId, now, now, id],
  );
  await conn.execute(
    `update businesses set status = 'emailed', updated_at = ? where id = (select business_id from emails where id = ?) and status <> 'emailed'`,
    [now, id],
  );
}

/**
 * Records a refused send: `failed` with the error and its class (domain/delivery/send-failures.ts), lease released,
 * no retry scheduled yet ({@link scheduleEmailRetry}). Returns the email's send attempts so far (undefined when it
 * was no longer `sending`). Idempotent.
 */
export async function markEmailFailed(em: EntityManager, id: number, error: string, now: Date, errorClass: string | null = null): Promise<number | undefined> {
  const rows = await em.execute<{ send_attempts: number }[]>(
    `update emails set status = 'failed', error_message = ?, last_error_class = ?, next_attempt_at = null, lease_holder = null, lease_expires_at = null, updated_at = ?
      where id = ? and status = 'sending' returning send_attempts`,
    [error.slice(0, 4000), errorClass, now, id],
  );
  return rows[0] ? Number(rows[0].send_attempts) : undefined;
}

/** Sets when the email batch retries a `failed` email (domain/delivery/retry.ts). */
export async function scheduleEmailRetry(em: EntityManager, id: number, at: Date): Promise<void> {
  await em.execute(`update emails set next_attempt_at = ? where id = ? and status = 'failed'`, [at, id]);
}

/** A `sending` email with its lease, as the reaper sees it. */
export interface SendingLease {
  id: number;
  holder: string | null;
  expiresAt: Date | null;
  claimedAt: Date | null;
  /**
   * Proof that SendGrid accepted it, when we hold one: the `X-Message-Id` recorded at send time
   * (`emails.provider_message_id`), else the `sg_message_id` of an event SendGrid's Event Webhook delivered for it
   * (`email_events`, matched by our `custom_args.email_id`); `accepted` is true when either exists (an event
   * without a message id still proves acceptance).
   */
  proof: { accepted: boolean; messageId: string | null };
}

/** Every `sending` email not yet marked {@link UNCONFIRMED_HOLDER}, oldest id first, with its acceptance proof. */
export async function sendingLeases(em: EntityManager): Promise<SendingLease[]> {
  const rows = await em.execute<
    { id: number; lease_holder: string | null; lease_expires_at: Date | string | null; claimed_at: Date | string | null; message_id: string | null; has_event: boolean }[]
  >(
    `select e.id, e.lease_holder, e.lease_expires_at, e.claimed_at,
            coalesce(e.provider_message_id, (select split_part(ev.sg_message_id, '.', 1) from email_events ev
                                              where ev.email_id = e.id and ev.sg_message_id is not null order by ev.id limit 1)) as message_id,
            exists (select 1 from email_events ev where ev.email_id = e.id) as has_event
       from emails e
      where e.status = 'sending' and e.lease_holder is distinct from ? order by e.id`,
    [UNCONFIRMED_HOLDER],
  );
  const d = (v: Date | string | null) => (v === null ? null : new Date(v));
  return rows.map((r) => ({
    id: Number(r.id),
    holder: r.lease_holder,
    expiresAt: d(r.lease_expires_at),
    claimedAt: d(r.claimed_at),
    proof: { accepted: r.message_id !== null || r.has_event, messageId: r.message_id },
  }));
}

/** Puts a `sending` email still held by `holder` back to `pending` with `reason`; false when it changed meanwhile. */
export async function requeueSendingEmail(em: EntityManager, id: number, holder: string | null, reason: string, now: Date): Promise<boolean> {
  const rows = await em.execute<{ id: number }[]>(
    `update emails set status = 'pending', claimed_at = null, lease_holder = null, lease_expires_at = null, error_message = ?, updated_at = ?
      where id = ? and status = 'sending' and lease_holder is not distinct from ? returning id`,
    [reason, now, id, holder],
  );
  return rows.length > 0;
}

/** Leaves a `sending` email for good as {@link UNCONFIRMED_HOLDER} with `reason` (never resent automatically). */
export async function markSendingUnconfirmed(em: EntityManager, id: number, holder: string | null, reason: string, now: Date): Promise<boolean> {
  const rows = await em.execute<{ id: number }[]>(
    `update emails set lease_holder = ?, lease_expires_at = null, error_message = ?, updated_at = ?
      where id = ? and status = 'sending' and lease_holder is not distinct from ? returning id`,
    [UNCONFIRMED_HOLDER, reason, now, id, holder],
  );
  return rows.length > 0;
}

/** Every email not yet handed to SendGrid (`pending` or `held`), by id: its id and address. */
export async function queuedEmailAddresses(em: EntityManager): Promise<{ id: number; toAddress: string }[]> {
  const rows = await em.execute<{ id: number; to_address: string }[]>("select id, to_address from emails where status in ('pending', 'held') order by id");
  return rows.map((r) => ({ id: Number(r.id), toAddress: r.to_address }));
}

/** A `sending` email claimed before some time (see {@link sendingClaimedBefore}). */
export interface StaleSendingRow {
  id: number;
  businessId: number;
  campaign: string;
  claimedAt: Date;
}

/** Emails `sending` with `claimed_at` before `claimedBefore` ({@link STUCK_SENDING}), by id. */
export async function sendingClaimedBefore(em: EntityManager, claimedBefore: Date): Promise<StaleSendingRow[]> {
  const rows = await em.execute<{ id: number; business_id: number; campaign: string; claimed_at: Date | string }[]>(
    `select id, business_id, campaign, claimed_at from emails where ${STUCK_SENDING} order by id`,
    [claimedBefore],
  );
  return rows.map((r) => ({ id: Number(r.id), businessId: Number(r.business_id), campaign: r.campaign, claimedAt: new Date(r.claimed_at) }));
}

/**
 * Puts back to `pending` (ONE statement) the `sending` emails claimed before `cutoff` that SendGrid demonstrably
 * never accepted: no message id, no `sent_at`, no event of their own, while some event was received more than
 * `graceSeconds` after their claim. `claimed_at` is cleared and `error_message` says why. Returns their ids, unsorted.
 */
export async function requeueUnacceptedSending(em: EntityManager, now: Date, cutoff: Date, graceSeconds: number): Promise<number[]> {
  const rows = await em.execute<{ id: number }[]>(
    `update emails e set status = 'pending', claimed_at = null, updated_at = ?,
       error_message = 'requeued: claim expired and the event webhook shows SendGrid never accepted it'
     where e.status = 'sending' and e.claimed_at < ? and e.provider_message_id is null and e.sent_at is null
       and not exists (select 1 from email_events ev where ev.email_id = e.id)
       and exists (select 1 from email_events w where w.received_at > e.claimed_at + ? * interval '1 second')
     returning e.id`,
    [now, cutoff, graceSeconds],
  );
  return rows.map((r) => Number(r.id));
}

/** A drafted outreach email to insert (personalization). `spamReasons` stored as JSON text. */
export interface DraftEmailInput {
  businessId: number;
  campaign: string;
  toAddress: string;
  subject: string;
  body: string;
  spamScore: number;
  spamReasons: unknown;
  status: 'pending' | 'held';
  now: Date;
}

/**
 * Inserts a draft unless the business already has an email of that campaign (`on conflict do nothing`), on the
 * connection (outside any transaction of `em`). Returns the new id, or undefined when one existed.
 */
export async function insertDraftEmail(em: EntityManager, d: DraftEmailInput): Promise<number | undefined> {
  const rows = await em.getConnection().execute<{ id: number }[]>(
    `insert into emails (business_id, campaign, to_address, subject, body, spam_score, spam_reasons, status, created_at, updated_at)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict (business_id, campaign) do nothing returning id`,
    [d.businessId, d.campaign, d.toAddress, d.subject, d.body, d.spamScore, JSON.stringify(d.spamReasons), d.status, d.now, d.now],
  );
  return rows[0] ? Number(rows[0].id) : undefined;
}
