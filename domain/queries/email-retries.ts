/**
 * Queries over failed sends (issue #14 point 5): the email batch's due retries (domain/delivery/retry.ts), the
 * email-delivery runbook's counts by error class, and the "Retry failed sends" remediation's requeue. An email with
 * proof that SendGrid accepted it (a `provider_message_id`, a `sent_at`, or an Event Webhook event carrying its
 * `custom_args.email_id`) is never put back to `pending`.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** SQL condition: no proof that SendGrid took email `e`. */
const NO_PROOF = `e.provider_message_id is null and e.sent_at is null and not exists (select 1 from email_events ev where ev.email_id = e.id)`;

/** A `failed` email whose retry is due. `proof`: an Event Webhook event says SendGrid accepted it after all. */
export interface DueRetry {
  id: number;
  errorClass: string | null;
  attempts: number;
  proof: { accepted: boolean; messageId: string | null };
}

/** `failed` emails whose `next_attempt_at` is at or before `now` (any class), oldest due first, at most `limit`. */
export async function dueRetries(em: EntityManager, now: Date, limit = 500): Promise<DueRetry[]> {
  const rows = await em.execute<{ id: number; last_error_class: string | null; send_attempts: number; message_id: string | null; has_event: boolean }[]>(
    `select e.id, e.last_error_class, e.send_attempts,
            (select split_part(ev.sg_message_id, '.', 1) from email_events ev where ev.email_id = e.id and ev.sg_message_id is not null order by ev.id limit 1) as message_id,
            exists (select 1 from email_events ev where ev.email_id = e.id) as has_event
       from emails e
      where e.status = 'failed' and e.next_attempt_at <= ?
      order by e.next_attempt_at, e.id limit ?`,
    [now, limit],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    errorClass: r.last_error_class,
    attempts: Number(r.send_attempts),
    proof: { accepted: r.has_event, messageId: r.message_id },
  }));
}

/** Puts one `failed` email without proof of acceptance back to `pending` (the batch's next claim sends it); false when it changed. */
export async function requeueFailedEmail(em: EntityManager, id: number, reason: string, now: Date): Promise<boolean> {
  const rows = await em.execute<{ id: number }[]>(
    `update emails e set status = 'pending', next_attempt_at = null, claimed_at = null, error_message = ?, updated_at = ?
      where e.id = ? and e.status = 'failed' and ${NO_PROOF} returning e.id`,
    [reason.slice(0, 4000), now, id],
  );
  return rows.length > 0;
}

/** A `failed` email SendGrid turned out to have accepted: `sent` (business `emailed`), never resent. */
export async function markFailedEmailSent(em: EntityManager, id: number, messageId: string | null, now: Date): Promise<boolean> {
  const conn = em.getConnection();
  const rows = await conn.execute<{ id: number }[]>(
    `update emails set status = 'sent', provider_message_id = coalesce(?, provider_message_id), sent_at = coalesce(sent_at, ?),
       next_attempt_at = null, error_message = null, updated_at = ? where id = ? and status = 'failed' returning id`,
    [messageId, now, now, id],
  );
  if (rows.length > 0)
    await conn.execute(`update businesses set status = 'emailed', updated_at = ? where id = (select business_id from emails where id = ?) and status <> 'emailed'`, [now, id]);
  return rows.length > 0;
}

/** Stops the automatic retries of one `failed` email (`next_attempt_at` null) and says why in its error message. */
export async function holdFailedEmail(em: EntityManager, id: number, reason: string, now: Date): Promise<void> {
  await em.execute(
    `update emails set next_attempt_at = null, error_message = left(? || coalesce(' — last error: ' || error_message, ''), 4000), updated_at = ? where id = ? and status = 'failed'`,
    [reason, now, id],
  );
}

/** Failed sends of one error class and provider status, within the window of {@link failedSendsSummary}. */
export interface FailedSendGroup {
  /** `emails.last_error_class`; `unclassified` for failures stored before the classes existed. */
  errorClass: string;
  /** The provider's HTTP status quoted in the last error (`HTTP 401 …` → 401); null when none (network, our refusals). */
  httpStatus: number | null;
  total: number;
  /** Due now: the next email batch takes them (`next_attempt_at` ≤ now). */
  due: number;
  /** Retried automatically later (`next_attempt_at` > now). */
  scheduled: number;
  /** Not retried automatically (`next_attempt_at` null: permanent, attempts spent, or held for want of proof). */
  stopped: number;
  /** Not due yet (scheduled or stopped) and without proof of acceptance: what a retry now would queue. */
  waiting: number;
  /** With proof SendGrid accepted them after all (a message id, a send time or a webhook event): never resent. */
  accepted: number;
  /** Most send attempts among them. */
  maxAttempts: number;
  /** The oldest and newest failure (their last change). */
  oldest: Date;
  newest: Date;
  /** The most recent error message of the group (provider text, may quote the recipient: mask before showing). */
  lastError: string | null;
}

/** Failed sends in a window: groups by class and provider status (most first), and how many failed before the window. */
export interface FailedSendsSummary {
  groups: FailedSendGroup[];
  /** `failed` emails whose last change is at or before `since`. */
  older: number;
  oldestOlder: Date | null;
}

/**
 * `failed` emails whose last change (`updated_at`, set by the failure) is after `since`, grouped by error class and
 * the HTTP status in their last error, most first; plus the count of older ones. Read-only.
 */
export async function failedSendsSummary(em: EntityManager, now: Date, since: Date): Promise<FailedSendsSummary> {
  const conn = em.getConnection();
  const [groups, [older]] = await Promise.all([
    conn.execute<
      { cls: string; http: string | null; total: number; due: number; scheduled: number; stopped: number; waiting: number; accepted: number; max_attempts: number; oldest: Date | string; newest: Date | string; last_error: string | null }[]
    >(
      `select coalesce(e.last_error_class, 'unclassified') as cls, substring(e.error_message from 'HTTP ([0-9]{3})') as http,
              count(*)::int as total,
              count(*) filter (where e.next_attempt_at <= ?)::int as due,
              count(*) filter (where e.next_attempt_at > ?)::int as scheduled,
              count(*) filter (where e.next_attempt_at is null)::int as stopped,
              count(*) filter (where (e.next_attempt_at is null or e.next_attempt_at > ?) and ${NO_PROOF})::int as waiting,
              count(*) filter (where not (${NO_PROOF}))::int as accepted,
              max(e.send_attempts)::int as max_attempts,
              min(e.updated_at) as oldest, max(e.updated_at) as newest,
              (array_agg(e.error_message order by e.updated_at desc, e.id desc))[1] as last_error
         from emails e where e.status = 'failed' and e.updated_at > ?
        group by 1, 2 order by 3 desc, 1, 2`,
      [now, now, now, since],
    ),
    conn.execute<{ n: number; oldest: Date | string | null }[]>(
      `select count(*)::int as n, min(updated_at) as oldest from emails where status = 'failed' and updated_at <= ?`,
      [since],
    ),
  ]);
  return {
    groups: groups.map((r) => ({
      errorClass: r.cls,
      httpStatus: r.http === null ? null : Number(r.http),
      total: Number(r.total),
      due: Number(r.due),
      scheduled: Number(r.scheduled),
      stopped: Number(r.stopped),
      waiting: Number(r.waiting),
      accepted: Number(r.accepted),
      maxAttempts: Number(r.max_attempts),
      oldest: new Date(r.oldest),
      newest: new Date(r.newest),
      lastError: r.last_error,
    })),
    older: Number(older?.n ?? 0),
    oldestOlder: older?.oldest ? new Date(older.oldest) : null,
  };
}

/** Why the "Retry failed sends" requeue left a `failed` email alone. */
export type RetrySkipReason =
  /** Its address is bad (`neverResend` classes: our syntax check, SendGrid refusing the recipient): never resent. */
  | 'invalid_address'
  /** Its address is on the suppression list (unsubscribed, bounced, reported spam, invalid) or its business is suppressed. */
  | 'suppressed'
  /** A permanent (or unclassified) failure, and permanent ones were not asked for. */
  | 'permanent'
  /** Proof that SendGrid accepted it (a message id, a send time, a webhook event): resending would duplicate it. */
  | 'accepted'
  /** Already due: the next email batch takes it anyway (nothing to change). */
  | 'already_due';

/** What {@link retryFailedSends} did. */
export interface RetryFailedSendsResult {
  /** Made due now, ascending id, with their class and attempts so far. */
  queued: { id: number; errorClass: string; attempts: number }[];
  /** Left alone, by reason. */
  skipped: Record<RetrySkipReason, number>;
}

/**
 * The "Retry failed sends" requeue (email-delivery runbook, remediation `retry-failed-sends`), in ONE transaction:
 * the `failed` emails whose last failure is after `since` are locked (`FOR UPDATE`, so the email batch's own retry
 * pass waits), and those that may be resent get `next_attempt_at = now` — status, `send_attempts`, the error and its
 * class kept (the attempt history) — so the next email batch's retry pass (domain/delivery/retry.ts) puts them back
 * to `pending`, after asking SendGrid's activity feed for an unknown outcome, and its claim → lease → send path sends
 * each once. Nothing but `failed` rows is touched: an email sent, being sent (`sending`, leased) or pending is never
 * changed here. Left alone (counted in `skipped`): classes in `opts.neverResend` (bad addresses), addresses on the
 * suppression list (`email_suppressions`, hashed with `opts.hash`) or of a suppressed business, emails with proof
 * SendGrid accepted them, classes not in `opts.retryable` unless `opts.includePermanent` (an unclassified failure
 * counts as permanent), and those already due. Database errors propagate (and roll everything back).
 */
export async function retryFailedSends(
  em: EntityManager,
  now: Date,
  since: Date,
  opts: { retryable: readonly string[]; neverResend: readonly string[]; includePermanent: boolean; hash: (address: string) => string },
): Promise<RetryFailedSendsResult> {
  return em.fork().transactional(async (tx) => {
    const rows = await tx.execute<
      { id: number; to_address: string; cls: string | null; send_attempts: number; next_attempt_at: Date | string | null; business_status: string; proof: boolean }[]
    >(
      `select e.id, e.to_address, e.last_error_class as cls, e.send_attempts, e.next_attempt_at, b.status as business_status,
              not (${NO_PROOF}) as proof
         from emails e join businesses b on b.id = e.business_id
        where e.status = 'failed' and e.updated_at > ?
        order by e.id for update of e`,
      [since],
    );
    const skipped: Record<RetrySkipReason, number> = { invalid_address: 0, suppressed: 0, permanent: 0, accepted: 0, already_due: 0 };
    if (rows.length === 0) return { queued: [], skipped };
    const hashes = new Map(rows.map((r) => [r.id, opts.hash(r.to_address)]));
    const suppressed = new Set(
      (await tx.execute<{ email_hash: string }[]>('select email_hash from email_suppressions where email_hash = any(?::text[])', [`{${[...new Set(hashes.values())].join(',')}}`])).map(
        (r) => r.email_hash,
      ),
    );
    const chosen: { id: number; errorClass: string; attempts: number }[] = [];
    for (const r of rows) {
      const cls = r.cls ?? 'unclassified';
      const skip: RetrySkipReason | undefined = opts.neverResend.includes(cls)
        ? 'invalid_address'
        : suppressed.has(hashes.get(r.id)!) || r.business_status === 'suppressed'
          ? 'suppressed'
          : !opts.retryable.includes(cls) && !opts.includePermanent
            ? 'permanent'
            : r.proof
              ? 'accepted'
              : r.next_attempt_at !== null && new Date(r.next_attempt_at) <= now
                ? 'already_due'
                : undefined;
      if (skip) skipped[skip]++;
      else chosen.push({ id: Number(r.id), errorClass: cls, attempts: Number(r.send_attempts) });
    }
    if (chosen.length === 0) return { queued: [], skipped };
    const done = await tx.execute<{ id: number }[]>(
      `update emails set next_attempt_at = ?, updated_at = ? where id = any(?::int[]) and status = 'failed' returning id`,
      [now, now, `{${chosen.map((c) => c.id).join(',')}}`],
    );
    const ids = new Set(done.map((r) => Number(r.id)));
    return { queued: chosen.filter((c) => ids.has(c.id)), skipped };
  });
}
