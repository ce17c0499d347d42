import { defineEntity, type InferEntity } from '@mikro-orm/core';
import { Business } from './business.entity.js';

import { EMAIL_STATUSES } from './statuses.js';

export { EMAIL_STATUSES, type EmailStatus } from './statuses.js';

/**
 * An outreach email to one business in one campaign (unique per business + campaign, so a crash never sends
 * twice). `spamScore` is 0–100 from the spam checker; `providerMessageId` is SendGrid's `X-Message-Id` header.
 */
export const Email = defineEntity({
  name: 'Email',
  tableName: 'emails',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    business: p.manyToOne(Business).deleteRule('cascade'),
    campaign: p.string(),
    toAddress: p.string(),
    subject: p.string().length(500),
    body: p.text(),
    spamScore: p.integer(),
    spamReasons: p.json<string[]>().default('[]'),
    status: p.enum([...EMAIL_STATUSES]).default('pending').index(),
    providerMessageId: p.string().nullable().index(),
    errorMessage: p.text().nullable(),
    sentAt: p.datetime().columnType('timestamptz').nullable(),
    /** When a delivery worker claimed it (`sending`); a stale claim is visible to runbooks. */
    claimedAt: p.datetime().columnType('timestamptz').nullable(),
    /** Holder of a `sending` claim (domain/leases.ts: `host:pid:boot[#runId]`). */
    leaseHolder: p.string().nullable(),
    /** When the `sending` claim's lease runs out (renewed by its holder; the reaper settles it after). */
    leaseExpiresAt: p.datetime().columnType('timestamptz').nullable(),
    /** SendGrid sends attempted (the first included; domain/delivery/send-failures.ts). */
    sendAttempts: p.integer().default(0),
    /** A `failed` email the email batch retries at or after this time; null: not retried automatically. */
    nextAttemptAt: p.datetime().columnType('timestamptz').nullable(),
    /** Class of the last failed send (`SendErrorClass`: auth, rate_limited, invalid_recipient, …). */
    lastErrorClass: p.string().nullable(),
    deliveredAt: p.datetime().columnType('timestamptz').nullable(),
    bouncedAt: p.datetime().columnType('timestamptz').nullable(),
    /** SendGrid event `reason` of a bounce/drop/deferral. */
    bounceReason: p.text().nullable(),
    /** Timestamp (SendGrid `timestamp`) of the newest event applied. */
    lastEventAt: p.datetime().columnType('timestamptz').nullable(),
    createdAt: p.datetime().columnType('timestamptz').onCreate(() => new Date()),
    updatedAt: p.datetime().columnType('timestamptz').onCreate(() => new Date()).onUpdate(() => new Date()),
  }),
  uniques: [{ properties: ['business', 'campaign'] }],
  // the reaper's scan for expired sending leases (Migration20261205100000_leases)
  indexes: [
    { name: 'emails_sending_lease_index', expression: `create index "emails_sending_lease_index" on "emails" ("lease_expires_at") where "status" = 'sending'` },
    // the email batch's scan of due retries (Migration20261205190000_send_retries)
    { name: 'emails_retry_due_index', expression: `create index "emails_retry_due_index" on "emails" ("next_attempt_at") where "status" = 'failed'` },
  ],
});
/** Inferred entity type of {@link Email}. */
export type IEmail = InferEntity<typeof Email>;
