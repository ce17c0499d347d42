import { defineEntity, type InferEntity } from '@mikro-orm/core';
import { Business } from './business.entity.js';

/** Purchase status (DESIGN.md "Data"). */
export const PURCHASE_STATUSES = ['pending', 'paid', 'failed', 'refunded', 'expired'] as const;
export type PurchaseStatus = (typeof PURCHASE_STATUSES)[number];

/**
 * A website audit report purchase through Stripe Checkout. Money in integer cents (Stripe amounts);
 * `lastEventCreated` = Stripe `created` of the newest event applied (out-of-order deliveries never go back).
 */
export const Purchase = defineEntity({
  name: 'Purchase',
  tableName: 'purchases',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    business: p.manyToOne(Business).nullable().deleteRule('set null'),
    product: p.string().default('audit_report'),
    customerEmail: p.string().nullable(),
    amountCents: p.integer(),
    taxCents: p.integer().default(0),
    totalCents: p.integer(),
    currency: p.string().length(3).default('usd'),
    status: p.enum([...PURCHASE_STATUSES]).default('pending').index(),
    stripeSessionId: p.string().nullable().unique(),
    stripePaymentIntentId: p.string().nullable().index(),
    lastEventCreated: p.integer().nullable(),
    reportSentAt: p.datetime().columnType('timestamptz').nullable(),
    failureReason: p.text().nullable(),
    createdAt: p.datetime().columnType('timestamptz').onCreate(() => new Date()),
    updatedAt: p.datetime().columnType('timestamptz').onCreate(() => new Date()).onUpdate(() => new Date()),
  }),
});
/** Inferred entity type of {@link Purchase}. */
export type IPurchase = InferEntity<typeof Purchase>;
