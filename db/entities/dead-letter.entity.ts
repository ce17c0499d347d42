import { defineEntity, type InferEntity } from '@mikro-orm/core';

/** `open`: waiting for an operator; `replayed`: re-applied successfully; `discarded`: dismissed by an operator. */
export const DEAD_LETTER_STATUSES = ['open', 'replayed', 'discarded'] as const;
export type DeadLetterStatus = (typeof DEAD_LETTER_STATUSES)[number];

/**
 * An inbound event that could not be applied (domain/intake): one bad event of a webhook batch (SendGrid event,
 * Stripe event, Alertmanager delivery) parked here with its reason and payload so the rest of the batch is applied
 * and the provider gets its 2xx. `dedupKey` is the provider's id of the event (SendGrid dedup key, Stripe event id,
 * SHA-256 of an Alertmanager body): a redelivery of the same bad event raises `attempts` instead of adding a row.
 * `payload` is the event made storable (domain/sanitize.ts), `raw` the original as received (JSON text with its
 * escapes, or the request body; `base64:` prefixed when not UTF-8 text). Replayed with `/lf fix dead-letters
 * replay-dead-letter id=N` (or its button; operator role).
 */
export const DeadLetter = defineEntity({
  name: 'DeadLetter',
  tableName: 'dead_letters',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    /** Where it came from: `sendgrid` | `stripe` | `alertmanager`. */
    source: p.string().length(32),
    dedupKey: p.string().length(512),
    /** The provider's event type when known (SendGrid `event`, Stripe `type`, `alertmanager.<status>`). */
    eventType: p.string().nullable(),
    /** Why it could not be applied (one sentence, the error message). */
    reason: p.text(),
    payload: p.json<unknown>().nullable(),
    raw: p.text(),
    status: p.enum([...DEAD_LETTER_STATUSES]).default('open').index(),
    /** Deliveries that ended here (first + redeliveries). */
    attempts: p.integer().default(1),
    receivedAt: p.datetime().columnType('timestamptz').index(),
    lastSeenAt: p.datetime().columnType('timestamptz'),
    replayedAt: p.datetime().columnType('timestamptz').nullable(),
    /** Who replayed or discarded it (`slack:U…`, `cli:alice`). */
    replayedBy: p.string().nullable(),
    /** What the last replay did, or why it failed. */
    replayDetail: p.text().nullable(),
  }),
  uniques: [{ properties: ['source', 'dedupKey'] }],
});
/** Inferred entity type of {@link DeadLetter}. */
export type IDeadLetter = InferEntity<typeof DeadLetter>;
