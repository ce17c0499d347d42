/**
 * Purchase queries of the storefront's door (domain/storefront/checkout.ts, door.ts) and the `/lf purchases` funnel:
 * the one pending purchase per business (unique partial index `purchases_one_pending_per_business`), the purchases a
 * new click may reuse, report-link clicks, {@link purchaseFunnel}, and the storefront's intake and report statements
 * (domain/storefront/webhook.ts, report.ts).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { PurchaseStatus, ReportLinkOutcome } from '../../db/entities/index.js';

/** The fields of a purchase the door decides on. */
export interface DoorPurchase {
  id: number;
  status: PurchaseStatus;
  stripeSessionId: string | null;
  customerEmail: string | null;
  reportSentAt: Date | null;
  totalCents: number;
  createdAt: Date;
}

/** A new `pending` purchase, unless the business already has one (then null: the caller reuses that one). */
export async function insertPendingPurchase(
  em: EntityManager,
  p: { businessId: number; product: string; customerEmail: string; amountCents: number; taxCents: number; totalCents: number; currency: string; now: Date },
): Promise<number | null> {
  const rows = await em.execute<{ id: number }[]>(
    `insert into purchases (business_id, product, customer_email, amount_cents, tax_cents, total_cents, currency, status, created_at, updated_at)
     values (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)
     on conflict (business_id) where status = 'pending' do nothing returning id`,
    [p.businessId, p.product, p.customerEmail, p.amountCents, p.taxCents, p.totalCents, p.currency, p.now, p.now],
  );
  return rows[0] ? Number(rows[0].id) : null;
}

/**
 * The business's purchases a click may lead back to, newest first: `pending` (at most one), `paid`, and `failed`
 * ones that reached Stripe (a declined card leaves the session open for another try).
 */
export async function reusablePurchases(em: EntityManager, businessId: number): Promise<DoorPurchase[]> {
  const rows = await em.execute<
    { id: number; status: PurchaseStatus; stripe_session_id: string | null; customer_email: string | null; report_sent_at: Date | string | null; total_cents: number; created_at: Date | string }[]
  >(
    `select id, status, stripe_session_id, customer_email, report_sent_at, total_cents, created_at from purchases
     where business_id = ? and (status in ('pending', 'paid') or (status = 'failed' and stripe_session_id is not null))
     order by id desc limit 20`,
    [businessId],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    status: r.status,
    stripeSessionId: r.stripe_session_id,
    customerEmail: r.customer_email,
    reportSentAt: r.report_sent_at ? new Date(r.report_sent_at) : null,
    totalCents: Number(r.total_cents),
    createdAt: new Date(r.created_at),
  }));
}

/**
 * Closes a `pending` purchase the door found dead: `expired` (Stripe says its session expired; the webhook
 * `checkout.session.expired` would say the same) or `failed` with `reason` (no session was ever stored). Only while
 * it is still `pending` (a webhook may have moved it meanwhile); true when this call changed it.
 */
export async function closePendingPurchase(em: EntityManager, id: number, to: 'expired' | 'failed', reason: string | null, now: Date): Promise<boolean> {
  const rows = await em
    .execute<{ id: number }[]>(`update purchases set status = ?, failure_reason = coalesce(?, failure_reason), updated_at = ? where id = ? and status = 'pending' returning id`, [to, reason, now, id]);
  return rows.length > 0;
}

/** Records one click on a report link; returns its id. */
export async function insertReportLinkClick(
  em: EntityManager,
  c: { businessId: number; emailId: number | null; purchaseId: number | null; outcome: ReportLinkOutcome; userAgent: string | null; at: Date },
): Promise<number> {
  const rows = await em
    .execute<{ id: number }[]>(
      'insert into report_link_clicks (business_id, email_id, purchase_id, outcome, user_agent, clicked_at) values (?, ?, ?, ?, ?, ?) returning id',
      [c.businessId, c.emailId, c.purchaseId, c.outcome, c.userAgent?.slice(0, 300) ?? null, c.at],
    );
  return Number(rows[0]?.id);
}

/** The funnel's stages, in order. */
export const FUNNEL_STAGES = ['emailed', 'clicked', 'checkout', 'paid', 'reportSent'] as const;
export type FunnelStage = (typeof FUNNEL_STAGES)[number];

/** Distinct businesses at each stage (see {@link purchaseFunnel}). */
export type FunnelCounts = Record<FunnelStage, number>;

/**
 * The storefront funnel over `[from, to)`, in distinct businesses, as a cohort: the businesses whose outreach email
 * SendGrid accepted in the window (`emails.sent_at`); of those, the ones that clicked their report link after it
 * (`report_link_clicks`, before `to`); of those, the ones that started a Stripe Checkout after the click (a purchase
 * given a session, created before `to`); of those purchases, the ones paid (status `paid`, or `refunded` after
 * paying: their status now) and the ones whose report was sent (`report_sent_at` before `to`). A later stage never
 * counts a business that skipped an earlier one (a purchase made without a click is not in this funnel).
 */
export async function purchaseFunnel(em: EntityManager, from: Date, to: Date): Promise<FunnelCounts> {
  const rows = await em.execute<Record<string, string | number>[]>(
    `with emailed as (
       select business_id, min(sent_at) as first_sent from emails where sent_at >= ? and sent_at < ? group by business_id
     ), clicked as (
       select e.business_id, min(c.clicked_at) as at from emailed e join report_link_clicks c on c.business_id = e.business_id
        where c.clicked_at >= e.first_sent and c.clicked_at < ? group by e.business_id
     ), started as (
       select c.business_id, p.status, p.report_sent_at from clicked c join purchases p on p.business_id = c.business_id
        where p.stripe_session_id is not null and p.created_at >= c.at and p.created_at < ?
     )
     select (select count(*) from emailed) as emailed, (select count(*) from clicked) as clicked,
            (select count(distinct business_id) from started) as checkout,
            (select count(distinct business_id) from started where status in ('paid', 'refunded')) as paid,
            (select count(distinct business_id) from started where status in ('paid', 'refunded') and report_sent_at < ?) as report_sent`,
    [from, to, to, to, to],
  );
  const r = rows[0] ?? {};
  return { emailed: Number(r.emailed ?? 0), clicked: Number(r.clicked ?? 0), checkout: Number(r.checkout ?? 0), paid: Number(r.paid ?? 0), reportSent: Number(r.report_sent ?? 0) };
}

/** A purchase as the checkout success page shows it. */
export interface CheckoutStatus {
  purchaseId: number;
  status: PurchaseStatus;
  businessName: string | null;
  customerEmail: string | null;
  reportSentAt: Date | null;
}

/** The purchase of Stripe Checkout Session `sessionId`, or undefined. */
export async function purchaseBySession(em: EntityManager, sessionId: string): Promise<CheckoutStatus | undefined> {
  const rows = await em.execute<{ id: number; status: PurchaseStatus; name: string | null; customer_email: string | null; report_sent_at: Date | string | null }[]>(
    `select p.id, p.status, b.name, p.customer_email, p.report_sent_at from purchases p left join businesses b on b.id = p.business_id where p.stripe_session_id = ?`,
    [sessionId],
  );
  const r = rows[0];
  return r ? { purchaseId: Number(r.id), status: r.status, businessName: r.name, customerEmail: r.customer_email, reportSentAt: r.report_sent_at ? new Date(r.report_sent_at) : null } : undefined;
}

/** Purchases per status, for the statuses that have any (callers needing every status fill the zeros). */
export async function purchasesByStatus(em: EntityManager): Promise<Record<string, number>> {
  const rows = await em.execute<{ k: string; n: number }[]>(`select status as k, count(*)::int as n from purchases group by status`);
  return Object.fromEntries(rows.map((r) => [r.k, Number(r.n)]));
}

/**
 * Payment failures recorded after `since` (exclusive; the epoch for all of them): ops events `payment.failed` (one
 * per Stripe failure event applied) plus purchases whose Checkout Session could not be created. A count. The one
 * definition behind the `leadfactory_payment_failures_total` counter ({@link paymentFailuresTotal}) and the in-process
 * PaymentFailures rule (its last hour), so the rule equals `increase(leadfactory_payment_failures_total[1h])`.
 */
export async function paymentFailuresSince(em: EntityManager, since: Date): Promise<number> {
  const [row] = await em.execute<{ n: number }[]>(
    `select (select count(*) from ops_events where type = 'payment.failed' and created_at > ?)::int
          + (select count(*) from purchases where failure_reason like 'checkout session not created:%' and created_at > ?)::int as n`,
    [since, since],
  );
  return Number(row?.n ?? 0);
}

/** Payment failures ever recorded ({@link paymentFailuresSince} the epoch). A count; monotonic (neither source is deleted). */
export function paymentFailuresTotal(em: EntityManager): Promise<number> {
  return paymentFailuresSince(em, new Date(0));
}

/** Purchases of one status: all of them and those created after the `since` of {@link purchaseStatusCounts}. */
export interface PurchaseStatusCount {
  status: string;
  all: number;
  recent: number;
}

/** Purchases per status (statuses with any, in `order by status` order): all, and created after `since`. */
export async function purchaseStatusCounts(em: EntityManager, since: Date): Promise<PurchaseStatusCount[]> {
  const rows = await em.execute<{ status: string; n: string; recent: string }[]>(
    'select status, count(*) as n, count(*) filter (where created_at > ?) as recent from purchases group by status order by status',
    [since],
  );
  return rows.map((r) => ({ status: r.status, all: Number(r.n ?? 0), recent: Number(r.recent ?? 0) }));
}

/** Purchases `failed` with `updated_at` after `since`, newest first, up to `limit`: id and `failure_reason`. */
export async function failedPurchasesSince(em: EntityManager, since: Date, limit = 200): Promise<{ id: number; reason: string | null }[]> {
  const rows = await em.execute<{ id: number; reason: string | null }[]>(
    "select id, failure_reason as reason from purchases where status = 'failed' and updated_at > ? order by updated_at desc limit ?",
    [since, limit],
  );
  return rows.map((r) => ({ id: Number(r.id), reason: r.reason }));
}

/**
 * Pending purchases with a Checkout Session that never received a Stripe event (`last_event_created` null), created
 * before `createdBefore`; oldest first, up to `limit`.
 */
export async function stalePendingPurchases(em: EntityManager, createdBefore: Date, limit = 200): Promise<{ id: number; createdAt: Date }[]> {
  const rows = await em.execute<{ id: number; created_at: Date | string }[]>(
    `select id, created_at from purchases where status = 'pending' and stripe_session_id is not null and last_event_created is null
       and created_at < ? order by created_at asc limit ?`,
    [createdBefore, limit],
  );
  return rows.map((r) => ({ id: Number(r.id), createdAt: new Date(r.created_at) }));
}

/** The amounts of one purchase as stored, in cents. */
export interface PurchaseAmounts {
  id: number;
  amountCents: number;
  taxCents: number;
  totalCents: number;
  currency: string;
}

/** Amounts of purchases created after `since`, newest id first, up to `limit`. */
export async function recentPurchaseAmounts(em: EntityManager, since: Date, limit = 500): Promise<PurchaseAmounts[]> {
  const rows = await em.execute<{ id: number; amount_cents: number; tax_cents: number; total_cents: number; currency: string }[]>(
    'select id, amount_cents, tax_cents, total_cents, currency from purchases where created_at > ? order by id desc limit ?',
    [since, limit],
  );
  return rows.map((r) => ({ id: Number(r.id), amountCents: Number(r.amount_cents), taxCents: Number(r.tax_cents), totalCents: Number(r.total_cents), currency: r.currency }));
}

/** Ids of `paid` purchases with no report emailed (`report_sent_at` null) and last updated before `updatedBefore`, ascending, up to `limit`. */
export async function paidWithoutReport(em: EntityManager, updatedBefore: Date, limit = 50): Promise<number[]> {
  const rows = await em.execute<{ id: number }[]>(
    "select id from purchases where status = 'paid' and report_sent_at is null and updated_at < ? order by id limit ?",
    [updatedBefore, limit],
  );
  return rows.map((r) => Number(r.id));
}

/** True when some purchase holds Stripe payment intent `paymentIntentId`. */
export async function purchaseHasPaymentIntent(em: EntityManager, paymentIntentId: string): Promise<boolean> {
  const rows = await em.execute('select 1 from purchases where stripe_payment_intent_id = ? limit 1', [paymentIntentId]);
  return rows.length > 0;
}

/** Claims the report send of a `paid` purchase whose report was never sent (`report_sent_at = at`); true when this call claimed it. */
export async function claimReportSend(em: EntityManager, purchaseId: number, at: Date): Promise<boolean> {
  const rows = await em.execute<{ id: number }[]>(
    `update purchases set report_sent_at = ? where id = ? and status = 'paid' and report_sent_at is null returning id`,
    [at, purchaseId],
  );
  return rows.length > 0;
}

/** Releases a {@link claimReportSend} claim made at `claimedAt` (`report_sent_at` back to null, only if still that claim). */
export async function releaseReportSend(em: EntityManager, purchaseId: number, claimedAt: Date): Promise<void> {
  await em.execute('update purchases set report_sent_at = null where id = ? and report_sent_at = ?', [purchaseId, claimedAt]);
}

/** Sets `report_sent_at` of a purchase to `at`, whatever it was (a resent report). */
export async function setReportSentAt(em: EntityManager, purchaseId: number, at: Date): Promise<void> {
  await em.execute('update purchases set report_sent_at = ? where id = ?', [at, purchaseId]);
}
