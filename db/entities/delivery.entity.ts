import { defineEntity, type InferEntity } from '@mikro-orm/core';

/**
 * Suppression list: addresses never to email again. `emailHash` = hex SHA-256 of the trimmed, lower-cased address
 * (the address itself is not kept); `reason` e.g. bounce, spamreport, unsubscribe, invalid; `source` who added it.
 */
export const EmailSuppression = defineEntity({
  name: 'EmailSuppression',
  tableName: 'email_suppressions',
  properties: (p) => ({
    emailHash: p.string().length(64).primary(),
    reason: p.string(),
    source: p.string(),
    createdAt: p.datetime().columnType('timestamptz'),
  }),
});
/** Inferred entity type of {@link EmailSuppression}. */
export type IEmailSuppression = InferEntity<typeof EmailSuppression>;

/**
 * SendGrid event-webhook events, one row per distinct event: `dedupKey` = `sg_event_id` when present, else
 * `sg_message_id:event:timestamp:email` (redeliveries may change or omit `sg_event_id`). `emailId` from our
 * `custom_args.email_id`.
 */
export const EmailEvent = defineEntity({
  name: 'EmailEvent',
  tableName: 'email_events',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    dedupKey: p.string().length(512).unique(),
    sgEventId: p.string().nullable(),
    sgMessageId: p.string().nullable().index(),
    emailId: p.integer().nullable().index(),
    event: p.string(),
    reason: p.text().nullable(),
    /** SendGrid `timestamp` (event time). */
    occurredAt: p.datetime().columnType('timestamptz').index(),
    receivedAt: p.datetime().columnType('timestamptz'),
    payload: p.json<Record<string, unknown>>(),
    /** The event as received (JSON text with its escapes), kept only when `payload` had to be made storable. */
    rawJson: p.text().nullable(),
  }),
});
/** Inferred entity type of {@link EmailEvent}. */
export type IEmailEvent = InferEntity<typeof EmailEvent>;

/**
 * Inbound webhook deliveries, keyed by the sender's id (`provider` + `eventId`, e.g. Stripe `evt_…`), so every
 * delivery is applied once. `processedAt` null = stored but not (yet) applied.
 */
export const WebhookInbox = defineEntity({
  name: 'WebhookInbox',
  tableName: 'webhook_inbox',
  properties: (p) => ({
    provider: p.string().primary(),
    eventId: p.string().primary(),
    type: p.string(),
    /** Sender's event time (Stripe `created`, seconds since epoch). */
    eventCreated: p.integer().nullable(),
    payload: p.json<Record<string, unknown>>(),
    receivedAt: p.datetime().columnType('timestamptz').index(),
    processedAt: p.datetime().columnType('timestamptz').nullable(),
    error: p.text().nullable(),
    /**
     * The event as received, as JSON text with its escapes (domain/sanitize.ts rawJson), kept only when `payload` had
     * to be made storable (U+0000 or a lone surrogate replaced); null otherwise.
     */
    rawJson: p.text().nullable(),
  }),
});
/** Inferred entity type of {@link WebhookInbox}. */
export type IWebhookInbox = InferEntity<typeof WebhookInbox>;
