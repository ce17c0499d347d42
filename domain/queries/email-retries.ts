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
  const rows = await em.getConnection().execute<{ id: number; last_error_class: string | null; send_attempts: number; message_id: string | null; has_event: boolean }[]>(
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
  const rows = await em.getConnection().execute<{ id: number }[]>(
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
  await em.getConnection().execute(
    `update emails set next_attempt_at = null, error_message = left(? || coalesce(' — last error: ' || error_message, ''), 4000), updated_at = ? where id = ? and status = 'failed'`,
    [reason, now, id],
  );
}

/** Failed sends of one error class. */
export interface FailedClassCount {
  /** `emails.last_error_class`; `unclassified` for failures stored before the classes existed. */
  errorClass: string;
  total: number;
  /** With a retry scheduled (`next_attempt_at` set). */
  scheduled: number;
  /** Changed (failed) within the window. */
  recent: number;
  /** The most recent error message of the class. */
  lastError: string | null;
  nextAttemptAt: Date | null;
}

/** `failed` emails by error class, most first; `recent` counts those whose last change is after `since`. */
export async function failedByClass(em: EntityManager, since: Date): Promise<FailedClassCount[]> {
  const rows = await em.getConnection().execute<{ cls: string; total: number; scheduled: number; recent: number; last_error: string | null; next_at: Date | string | null }[]>(
    `select coalesce(last_error_class, 'unclassified') as cls, count(*)::int as total,
            count(*) filter (where next_attempt_at is not null)::int as scheduled,
            count(*) filter (where updated_at > ?)::int as recent,
            (array_agg(error_message order by updated_at desc))[1] as last_error,
            min(next_attempt_at) as next_at
       from emails where status = 'failed' group by 1 order by 2 desc, 1`,
    [since],
  );
  return rows.map((r) => ({
    errorClass: r.cls,
    total: Number(r.total),
    scheduled: Number(r.scheduled),
    recent: Number(r.recent),
    lastError: r.last_error,
    nextAttemptAt: r.next_at === null ? null : new Date(r.next_at),
  }));
}

/**
 * The "Retry failed sends" requeue: `failed` emails of `classes` without proof of acceptance get their attempts reset
 * and are due now — `direct` classes straight back to `pending` (the next batch claims them), the others (an unknown
 * outcome: SendGrid may have taken them) with `next_attempt_at = now`, so the batch asks SendGrid's activity feed
 * before any resend. Returns the ids, ascending, by how they were requeued.
 */
export async function requeueFailedSends(
  em: EntityManager,
  now: Date,
  classes: readonly string[],
  direct: readonly string[],
  reason: string,
): Promise<{ pending: number[]; due: number[] }> {
  const conn = em.getConnection();
  const arr = (a: readonly string[]) => `{${a.join(',')}}`;
  const pending = await conn.execute<{ id: number }[]>(
    `update emails e set status = 'pending', send_attempts = 0, next_attempt_at = null, claimed_at = null, error_message = ?, updated_at = ?
      where e.status = 'failed' and coalesce(e.last_error_class, 'unclassified') = any(?::text[]) and e.last_error_class = any(?::text[]) and ${NO_PROOF}
      returning e.id`,
    [reason, now, arr(classes), arr(direct)],
  );
  const due = await conn.execute<{ id: number }[]>(
    `update emails e set send_attempts = 0, next_attempt_at = ?, updated_at = ?
      where e.status = 'failed' and coalesce(e.last_error_class, 'unclassified') = any(?::text[]) and not (coalesce(e.last_error_class, '') = any(?::text[])) and ${NO_PROOF}
      returning e.id`,
    [now, now, arr(classes), arr(direct)],
  );
  const ids = (rows: { id: number }[]) => rows.map((r) => Number(r.id)).sort((a, b) => a - b);
  return { pending: ids(pending), due: ids(due) };
}

/** How many of `ids` are still `pending` or `sending` (the batch has not settled them yet). */
export async function unsettledCount(em: EntityManager, ids: readonly number[]): Promise<number> {
  if (ids.length === 0) return 0;
  const [r] = await em
    .getConnection()
    .execute<{ n: number }[]>(`select count(*)::int as n from emails where id = any(?::int[]) and status in ('pending', 'sending')`, [`{${ids.join(',')}}`]);
  return Number(r?.n ?? 0);
}
