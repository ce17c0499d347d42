/**
 * Named queries over SendGrid's event webhook rows (`email_events`, one row per delivered/bounced/opened… event,
 * matched to our email by `email_id`) joined with `emails`.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** A `sent` email SendGrid has told us nothing about. `sentAt` is an instant. */
export interface SilentSentEmail {
  id: number;
  sentAt: Date;
}

/** `sent` emails sent before `before` with no `email_events` row at all, oldest first (reconciliation). */
export async function sentEmailsWithoutEvents(em: EntityManager, before: Date): Promise<SilentSentEmail[]> {
  const rows = await em.execute<{ id: number; sent_at: Date | string }[]>(
    `select e.id, e.sent_at from emails e
      where e.status = 'sent' and e.sent_at < ?
        and not exists (select 1 from email_events ev where ev.email_id = e.id)
      order by e.sent_at, e.id`,
    [before],
  );
  return rows.map((r) => ({ id: Number(r.id), sentAt: new Date(r.sent_at) }));
}

/** Bounce and drop events (`email_events`) that occurred after `since`, newest first, at most 500 (same shape as emails' bounces). */
export async function recentBounceEvents(
  em: EntityManager,
  since: Date,
): Promise<{ emailId: number | null; event: string; type: string | null; reason: string | null; at: Date }[]> {
  const rows = await em.execute<{ email_id: number | null; event: string; type: string | null; reason: string | null; at: Date | string }[]>(
    `select email_id, event, payload->>'type' as type, reason, occurred_at as at from email_events
     where event in ('bounce', 'dropped') and occurred_at > ? order by occurred_at desc limit 500`,
    [since],
  );
  return rows.map((r) => ({ emailId: r.email_id === null ? null : Number(r.email_id), event: r.event, type: r.type, reason: r.reason, at: new Date(r.at) }));
}

/** The newest webhook event's `received_at` (null when none) and how many events are stored. */
export async function webhookEventTotals(em: EntityManager): Promise<{ lastReceivedAt: Date | null; stored: number }> {
  const [row] = await em.execute<{ at: Date | string | null; n: string | number }[]>('select max(received_at) as at, count(*) as n from email_events');
  return { lastReceivedAt: row?.at ? new Date(row.at) : null, stored: Number(row?.n ?? 0) };
}

/**
 * Emails sent in (`from`, `to`] and the "silent" ones among them — no `last_event_at` and no `email_events` row —
 * with the oldest silent `sent_at` (null when none).
 */
export async function sentEmailsEventCoverage(
  em: EntityManager,
  from: Date,
  to: Date,
): Promise<{ sent: number; silent: number; oldestSilentSentAt: Date | null }> {
  const [row] = await em.execute<{ sent: string | number; silent: string | number; oldest: Date | string | null }[]>(
    `select count(*) as sent,
            count(*) filter (where e.last_event_at is null and not exists (select 1 from email_events ev where ev.email_id = e.id)) as silent,
            min(e.sent_at) filter (where e.last_event_at is null and not exists (select 1 from email_events ev where ev.email_id = e.id)) as oldest
     from emails e where e.sent_at > ? and e.sent_at <= ?`,
    [from, to],
  );
  return { sent: Number(row?.sent ?? 0), silent: Number(row?.silent ?? 0), oldestSilentSentAt: row?.oldest ? new Date(row.oldest) : null };
}
