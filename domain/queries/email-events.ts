/**
 * Named queries over `email_events` (SendGrid Event Webhook events, one row per event; `dedup_key` unique), as the
 * intake (domain/delivery/events.ts) stores them.
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
