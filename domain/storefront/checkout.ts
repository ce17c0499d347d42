/**
 * Starting a purchase: a `pending` purchase row, then a Stripe Checkout Session for it — at most one checkout in
 * progress per business, so repeated clicks on a report link (domain/storefront/door.ts), double requests and
 * replicas reuse the open session instead of opening a second purchase:
 * - a `paid` purchase of the business → nothing new (`already_paid`);
 * - a `pending` purchase with a session → Stripe is asked (`GET /v1/checkout/sessions/:id`): `open` → that session
 *   again (`reused`); `complete` → `already_paid` (the webhook is on its way); `expired` → the purchase is marked
 *   `expired` and a new one is started;
 * - a `pending` purchase without a session → another request is creating it: waited for (up to
 *   {@link PENDING_WAIT_MS}); older than {@link ORPHAN_AFTER_MS} its creator died, so it is marked `failed`;
 * - a `failed` purchase (a declined card) whose session is still `open` → that session again;
 * - otherwise a new `pending` purchase (`insert … on conflict do nothing` against the unique index
 *   `purchases_one_pending_per_business`: of two racing requests one inserts, the other waits for it) and its session.
 */
import { Business, Purchase, type IBusiness } from '../../db/entities/index.js';
import { AppError } from '../errors.js';
import type { StorefrontDeps } from './deps.js';
import type { CheckoutSession } from '../providers/stripe/port.js';
import { closePendingPurchase, insertPendingPurchase, reusablePurchases, type DoorPurchase } from '../queries/purchases.js';
import { calculateTotal, type PriceBreakdown } from './pricing.js';

/**
 * Stripe accepts `expires_at` 30 minutes to 24 hours after it creates the session, measured on its clock. Exactly
 * now + 30 min computed here arrives a little under 30 min and can be refused, so a minute of margin is added.
 */
export const CHECKOUT_TTL_SECONDS = 30 * 60;
/** Margin over {@link CHECKOUT_TTL_SECONDS} for request latency and clock skew. */
export const CHECKOUT_EXPIRY_MARGIN_SECONDS = 60;

/** Product code of the single website audit report. */
export const AUDIT_REPORT_PRODUCT = 'audit_report';

/** How long a request waits for another request's session to be stored (ms). */
export const PENDING_WAIT_MS = 10_000;
/** A `pending` purchase without a session older than this (ms) was left by a creator that died. */
export const ORPHAN_AFTER_MS = 2 * 60_000;

/** Input of {@link createCheckout}. */
export interface CheckoutRequest {
  /** `businesses.id` the report is about. */
  businessId: number;
  /** Buyer's address: the report is emailed there (Stripe `customer_email`, prefilled on the hosted page). */
  customerEmail: string;
}

/** Result of {@link createCheckout}. */
export interface CheckoutResult {
  purchaseId: number;
  /** Stripe Checkout Session `id` (`cs_…`), stored in `purchases.stripe_session_id`. */
  sessionId: string;
  /** Stripe `url` of the hosted payment page to send the buyer to. */
  url: string;
  /** Stripe `expires_at`, Unix seconds. */
  expiresAt: number;
  /** Amount charged, integer cents (base + tax). */
  totalCents: number;
  /** True when an open session of the business was returned instead of a new one. */
  reused: boolean;
}

/** What {@link checkoutForBusiness} led to: a session to send the buyer to, or the report already bought. */
export type CheckoutOutcome =
  | ({ kind: 'checkout' } & CheckoutResult)
  | { kind: 'already_paid'; purchaseId: number; customerEmail: string | null; reportSentAt: Date | null };

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The business's checkout, idempotent per business (see the module comment): the open session to reuse, the
 * report already bought, or a new `pending` purchase priced from config (`storefront.auditReportPriceCents` + tax
 * at `storefront.taxRate`, {@link calculateTotal}) with a new session ({@link openSession}).
 * @throws AppError `bad_request` (bad email, bad price config), `not_found` (no such business), `internal` (another
 *   request's session never appeared); the gateway's errors when Stripe refuses or is unreachable.
 */
export async function checkoutForBusiness(deps: StorefrontDeps, req: CheckoutRequest): Promise<CheckoutOutcome> {
  const cfg = deps.config.storefront;
  const email = req.customerEmail.trim();
  if (!EMAIL.test(email)) throw new AppError('bad_request', `not an email address: ${req.customerEmail}`);
  const price = calculateTotal(cfg.auditReportPriceCents, cfg.taxRate);
  const em = deps.orm.em.fork();
  const business = await em.findOne(Business, { id: req.businessId });
  if (!business) throw new AppError('not_found', `no business with id ${req.businessId}`);
  const waitUntil = Date.now() + PENDING_WAIT_MS;
  for (;;) {
    const found = await reuse(deps, business.id);
    if (found !== 'wait' && found !== undefined) return found;
    if (found === 'wait') {
      if (Date.now() > waitUntil) throw new AppError('internal', `the checkout of business ${business.id} is being created by another request and did not appear in ${PENDING_WAIT_MS / 1000} s`);
      await sleep(150);
      continue;
    }
    const now = deps.clock.now();
    const purchaseId = await insertPendingPurchase(em, { businessId: business.id, product: AUDIT_REPORT_PRODUCT, customerEmail: email, amountCents: price.baseCents, taxCents: price.taxCents, totalCents: price.totalCents, currency: cfg.currency, now });
    if (purchaseId === null) continue; // another request inserted first: reuse (or wait for) its checkout
    return { kind: 'checkout', ...(await openSession(deps, purchaseId, business, price, email)) };
  }
}

/**
 * Creates a pending purchase's Stripe Checkout Session through the gateway: mode `payment`, one `price_data` line
 * for the report (plus a "Sales tax" line when tax > 0, automatic tax being off), `expires_at` = now + 30 min
 * (+ {@link CHECKOUT_EXPIRY_MARGIN_SECONDS}), `metadata` and `payment_intent_data.metadata`
 * `{purchase_id, business_id}`, `client_reference_id` `purchase_<id>`, `customer_email`, success/cancel URLs from
 * config, `Idempotency-Key: checkout:<purchase id>`. Stores the session id on the purchase.
 * @throws the gateway's errors when Stripe refuses or is unreachable — the purchase is then marked `failed` with
 *   `failureReason`.
 */
async function openSession(deps: StorefrontDeps, purchaseId: number, business: IBusiness, price: PriceBreakdown, email: string): Promise<CheckoutResult> {
  const cfg = deps.config.storefront;
  const em = deps.orm.em.fork();
  const purchase = await em.findOneOrFail(Purchase, { id: purchaseId });
  const metadata = { purchase_id: String(purchase.id), business_id: String(business.id) };
  const nowSec = Math.floor(deps.clock.now().getTime() / 1000);
  try {
    const session = await deps.providers.stripe.createCheckoutSession(
      {
        currency: cfg.currency,
        lineItems: [
          { name: `Website audit report: ${business.name}`, description: business.website ?? undefined, unitAmountCents: price.baseCents, quantity: 1 },
          ...(price.taxCents > 0 ? [{ name: `Sales tax (${+(cfg.taxRate * 100).toFixed(4)}%)`, unitAmountCents: price.taxCents, quantity: 1 }] : []),
        ],
        expiresAt: nowSec + CHECKOUT_TTL_SECONDS + CHECKOUT_EXPIRY_MARGIN_SECONDS,
        metadata,
        paymentIntentMetadata: metadata,
        clientReferenceId: `purchase_${purchase.id}`,
        customerEmail: email,
        successUrl: cfg.successUrl,
        cancelUrl: cfg.cancelUrl,
      },
      { idempotencyKey: `checkout:${purchase.id}` },
    );
    if (!session.url) throw new AppError('internal', `Stripe session ${session.id} has no url`);
    purchase.stripeSessionId = session.id;
    await em.flush();
    deps.logger.info({ purchaseId: purchase.id, sessionId: session.id, totalCents: price.totalCents }, 'checkout session created');
    return { purchaseId: purchase.id, sessionId: session.id, url: session.url, expiresAt: session.expiresAt, totalCents: price.totalCents, reused: false };
  } catch (err) {
    purchase.status = 'failed';
    purchase.failureReason = `checkout session not created: ${(err as Error).message}`;
    await em.flush();
    throw err;
  }
}

const asReused = (p: DoorPurchase, s: CheckoutSession): CheckoutOutcome => ({
  kind: 'checkout',
  purchaseId: p.id,
  sessionId: s.id,
  url: s.url!,
  expiresAt: s.expiresAt,
  totalCents: s.amountTotalCents ?? p.totalCents,
  reused: true,
});

/**
 * What the business's existing purchases allow (see the module comment): an outcome to return, `wait` (another
 * request is creating the session), or undefined (start a new purchase).
 */
async function reuse(deps: StorefrontDeps, businessId: number): Promise<CheckoutOutcome | 'wait' | undefined> {
  const em = deps.orm.em.fork();
  const rows = await reusablePurchases(em, businessId);
  const paid = rows.find((p) => p.status === 'paid');
  if (paid) return { kind: 'already_paid', purchaseId: paid.id, customerEmail: paid.customerEmail, reportSentAt: paid.reportSentAt };
  const now = deps.clock.now();
  for (const p of rows) {
    if (p.status === 'pending' && !p.stripeSessionId) {
      if (now.getTime() - p.createdAt.getTime() < ORPHAN_AFTER_MS) return 'wait';
      await closePendingPurchase(em, p.id, 'failed', 'checkout abandoned: its session was never stored', now);
      continue;
    }
    if (!p.stripeSessionId) continue;
    // a failed purchase older than a session's lifetime has no open session left to ask about
    if (p.status === 'failed' && now.getTime() - p.createdAt.getTime() > (CHECKOUT_TTL_SECONDS + CHECKOUT_EXPIRY_MARGIN_SECONDS) * 1000) continue;
    const s = await deps.providers.stripe.retrieveCheckoutSession(p.stripeSessionId);
    if (s.status === 'open' && s.url) return asReused(p, s);
    if (s.status === 'complete') return { kind: 'already_paid', purchaseId: p.id, customerEmail: p.customerEmail, reportSentAt: p.reportSentAt };
    if (p.status === 'pending') await closePendingPurchase(em, p.id, 'expired', null, now);
  }
  return undefined;
}

/**
 * {@link checkoutForBusiness} for callers that need a session: the open one of the business or a new one.
 * @throws AppError `bad_request` when the business already bought its report, plus everything
 *   {@link checkoutForBusiness} throws.
 */
export async function createCheckout(deps: StorefrontDeps, req: CheckoutRequest): Promise<CheckoutResult> {
  const r = await checkoutForBusiness(deps, req);
  if (r.kind === 'already_paid') throw new AppError('bad_request', `business ${req.businessId} already bought its report (purchase ${r.purchaseId})`);
  const { kind: _kind, ...result } = r;
  return result;
}
