/** Starting a purchase: a `pending` purchase row, then a Stripe Checkout Session for it. */
import { Business, Purchase } from '../../db/entities/index.js';
import { AppError } from '../errors.js';
import type { StorefrontDeps } from './deps.js';
import { calculateTotal } from './pricing.js';

/**
 * Stripe accepts `expires_at` 30 minutes to 24 hours after it creates the session, measured on its clock. Exactly
 * now + 30 min computed here arrives a little under 30 min and can be refused, so a minute of margin is added.
 */
export const CHECKOUT_TTL_SECONDS = 30 * 60;
/** Margin over {@link CHECKOUT_TTL_SECONDS} for request latency and clock skew. */
export const CHECKOUT_EXPIRY_MARGIN_SECONDS = 60;

/** Product code of the single website audit report. */
export const AUDIT_REPORT_PRODUCT = 'audit_report';

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
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * Creates a `pending` purchase priced from config (`storefront.auditReportPriceCents` + tax at `storefront.taxRate`,
 * via {@link calculateTotal}) and a Stripe Checkout Session through the gateway: mode `payment`, one `price_data`
 * line for the report (plus a "Sales tax" line when tax > 0, automatic tax being off), `expires_at` = now + 30 min
 * (+ {@link CHECKOUT_EXPIRY_MARGIN_SECONDS}), `metadata` and `payment_intent_data.metadata`
 * `{purchase_id, business_id}`, `client_reference_id` `purchase_<id>`, `customer_email`, success/cancel URLs from
 * config, `Idempotency-Key: checkout:<purchase id>`. Stores the session id on the purchase.
 * @throws AppError `bad_request` (bad email, bad price config), `not_found` (no such business); the gateway's
 *   errors when Stripe refuses or is unreachable — the purchase is then marked `failed` with `failureReason`.
 */
export async function createCheckout(deps: StorefrontDeps, req: CheckoutRequest): Promise<CheckoutResult> {
  const cfg = deps.config.storefront;
  const email = req.customerEmail.trim();
  if (!EMAIL.test(email)) throw new AppError('bad_request', `not an email address: ${req.customerEmail}`);
  const price = calculateTotal(cfg.auditReportPriceCents, cfg.taxRate);
  const em = deps.orm.em.fork();
  const business = await em.findOne(Business, { id: req.businessId });
  if (!business) throw new AppError('not_found', `no business with id ${req.businessId}`);
  const purchase = em.create(Purchase, {
    business,
    product: AUDIT_REPORT_PRODUCT,
    customerEmail: email,
    amountCents: price.baseCents,
    taxCents: price.taxCents,
    totalCents: price.totalCents,
    currency: cfg.currency,
    status: 'pending',
  });
  await em.flush();
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
    return { purchaseId: purchase.id, sessionId: session.id, url: session.url, expiresAt: session.expiresAt, totalCents: price.totalCents };
  } catch (err) {
    purchase.status = 'failed';
    purchase.failureReason = `checkout session not created: ${(err as Error).message}`;
    await em.flush();
    throw err;
  }
}
