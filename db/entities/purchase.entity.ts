import { defineEntity, type InferEntity } from '@mikro-orm/core';
import { Business } from './business.entity.js';
import { Email } from './email.entity.js';

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
  // At most one checkout in progress per business: repeated clicks on the report link (or two replicas serving
  // them) reuse it instead of opening a second purchase (domain/storefront/door.ts).
  indexes: [
    {
      name: 'purchases_one_pending_per_business',
      expression: `create unique index "purchases_one_pending_per_business" on "purchases" ("business_id") where "status" = 'pending'`,
    },
  ],
});
/** Inferred entity type of {@link Purchase}. */
export type IPurchase = InferEntity<typeof Purchase>;

/** What a click on a report link led to (domain/storefront/door.ts). */
export const REPORT_LINK_OUTCOMES = ['checkout_created', 'checkout_reused', 'already_paid', 'failed'] as const;
export type ReportLinkOutcome = (typeof REPORT_LINK_OUTCOMES)[number];

/**
 * One click on a signed "Get the full report" link (a verified token): whose business, from which email, when, what
 * it led to (a new or reused Stripe Checkout Session, an "already paid" page, or a failure) and the purchase. Feeds
 * the funnel of `/lf purchases` (domain/queries/purchases.ts). Refused links (altered, expired) are not clicks: they
 * leave an audit row only.
 */
export const ReportLinkClick = defineEntity({
  name: 'ReportLinkClick',
  tableName: 'report_link_clicks',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    business: p.manyToOne(Business).deleteRule('cascade').index(),
    email: p.manyToOne(Email).nullable().deleteRule('set null'),
    purchase: p.manyToOne(Purchase).nullable().deleteRule('set null'),
    outcome: p.enum([...REPORT_LINK_OUTCOMES]),
    /** The request's User-Agent (first 300 characters): mail scanners that fetch links show here. */
    userAgent: p.string().length(300).nullable(),
    clickedAt: p.datetime().columnType('timestamptz').index(),
  }),
});
/** Inferred entity type of {@link ReportLinkClick}. */
export type IReportLinkClick = InferEntity<typeof ReportLinkClick>;
