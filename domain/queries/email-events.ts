/**
 * Named queries over `email_events` (SendGrid Event Webhook events, one row per event; `dedup_key` unique, matched to
 * our email by `email_id`): how the intake (domain/delivery/events.ts) stores them, and what reconciliation and the
 * email-delivery runbook read back (joined with `emails`).
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** The identity of an event as the intake compares it: its dedup key, or the (message, event, time, address) tuple. */
export interface EmailEventIdentity {
  dedupKey: string;
  /** SendGrid `sg_message_id`, '' when absent. */
  sgMessageId: string;
  event: string;
  occurredAt: Date;
  /** The recipient, trimmed and lower-cased. */
  email: string;
}

/**
 * True when an event with the same dedup key, or the same message id, event, time and recipient (the payload's
 * `email`, trimmed and lower-cased), is stored.
 */
export async function emailEventSeen(em: EntityManager, e: EmailEventIdentity): Promise<boolean> {
  const rows = await em.execute<{ one: number }[]>(
    `select 1 as one from email_events where dedup_key = ?
       or (coalesce(sg_message_id, '') = ? and event = ? and occurred_at = ? and lower(trim(payload->>'email')) = ?)
     limit 1`,
    [e.dedupKey, e.sgMessageId, e.event, e.occurredAt, e.email],
  );
  return rows.length > 0;
}

/** An event row to insert; `payloadJson` the stored event as JSON text, `raw` the original body when it differs. */
export interface EmailEventInput {
  dedupKey: string;
  sgEventId: string | null;
  sgMessageId: string | null;
  emailId: number | null;
  event: string;
  reason: string | null;
  occurredAt: Date;
  receivedAt: Date;
  payloadJson: string;
  raw: string | null;
}

/** Inserts an event unless its `dedup_key` exists (`on conflict do nothing`); true when the row is new. */
export async function insertEmailEvent(em: EntityManager, e: EmailEventInput): Promise<boolean> {
  const rows = await em.execute<{ id: number }[]>(
    `insert into email_events (dedup_key, sg_event_id, sg_message_id, email_id, event, reason, occurred_at, received_at, payload, raw_json)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?) on conflict (dedup_key) do nothing returning id`,
    [e.dedupKey, e.sgEventId, e.sgMessageId, e.emailId, e.event, e.reason, e.occurredAt, e.receivedAt, e.payloadJson, e.raw],
  );
  return rows.length > 0;
}

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
