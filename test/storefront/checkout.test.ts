import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ProviderError } from '../../domain/errors.js';
import { sandboxAdmin } from '../../domain/sandbox/index.js';
import { createCheckout } from '../../domain/storefront/checkout.js';
import { DB_KIND } from '../helpers/db.js';
import { business, checkout, purchase, reset, setUp, tearDown, type Ctx } from './harness.js';

const t = suite<Ctx>(`storefront: checkout (${DB_KIND})`);
t.before((ctx) => setUp(ctx));
t.after((ctx) => tearDown(ctx));
t.before.each((ctx) => reset(ctx));

t('creates a pending purchase and a 30-minute Checkout Session with metadata and an Idempotency-Key', async (ctx) => {
  const before = Math.floor(Date.now() / 1000);
  const r = await checkout(ctx, ' Buyer@Example.com ');
  assert.match(r.sessionId, /^cs_test_/);
  assert.match(r.url, /^https:\/\/checkout\.stripe\.com\/c\/pay\/cs_test_/);
  assert.is(r.totalCents, 10692);

  assert.is(ctx.sessions.length, 1);
  const { params, idempotencyKey } = ctx.sessions[0]!;
  assert.is(idempotencyKey, `checkout:${r.purchaseId}`);
  assert.is(params.mode, 'payment');
  const ttl = Number(params.expires_at) - before;
  assert.ok(ttl >= 30 * 60 && ttl <= 30 * 60 + 120, `expires_at is now + 30 min (+ margin): ${ttl}s`);
  assert.is(r.expiresAt, Number(params.expires_at));
  assert.equal(params.metadata, { purchase_id: String(r.purchaseId), business_id: params.metadata.business_id });
  assert.match(params.metadata.business_id, /^\d+$/);
  assert.equal(params.payment_intent_data.metadata, params.metadata);
  assert.is(params.client_reference_id, `purchase_${r.purchaseId}`);
  assert.is(params.customer_email, 'Buyer@Example.com');
  assert.match(params.success_url, /\{CHECKOUT_SESSION_ID\}/);
  assert.ok(params.cancel_url);
  assert.is(params.line_items.length, 2);
  assert.equal(params.line_items[0].price_data.unit_amount, '9900');
  assert.equal(params.line_items[0].price_data.currency, 'usd');
  assert.match(params.line_items[0].price_data.product_data.name, /Website audit report: Joe's Pizza/);
  assert.equal(params.line_items[1].price_data.unit_amount, '792');

  const row = await purchase(ctx, r.purchaseId);
  assert.is(row.status, 'pending');
  assert.is(row.stripe_session_id, r.sessionId);
  assert.equal([row.amount_cents, row.tax_cents, row.total_cents], [9900, 792, 10692]);
  assert.is(row.customer_email, 'Buyer@Example.com');

  const s = await ctx.services.providers.stripe.retrieveCheckoutSession(r.sessionId);
  assert.equal([s.id, s.status, s.paymentStatus, s.amountTotalCents, s.paymentIntentId], [r.sessionId, 'open', 'unpaid', 10692, null]);
  assert.is(s.metadata.purchase_id, String(r.purchaseId));
});

t('the same Idempotency-Key returns the first session; another body with it is refused', async (ctx) => {
  const stripe = ctx.services.rawProviders.stripe;
  const params = {
    currency: 'usd',
    lineItems: [{ name: 'Report', unitAmountCents: 100, quantity: 1 }],
    expiresAt: Math.floor(Date.now() / 1000) + 3600,
    metadata: { purchase_id: '1' },
    successUrl: 'https://x.example/ok',
    cancelUrl: 'https://x.example/no',
  };
  const a = await stripe.createCheckoutSession(params, { idempotencyKey: 'checkout:idem-1' });
  const b = await stripe.createCheckoutSession(params, { idempotencyKey: 'checkout:idem-1' });
  assert.is(b.id, a.id);
  const err = await stripe.createCheckoutSession({ ...params, metadata: { purchase_id: '2' } }, { idempotencyKey: 'checkout:idem-1' }).catch((e: unknown) => e);
  assert.instance(err, ProviderError);
  assert.is((err as ProviderError).status, 400);
  assert.is((err as ProviderError).providerCode, 'idempotency_error');
});

t('Stripe refuses expires_at under 30 minutes (why checkout adds a margin); unknown session → 404', async (ctx) => {
  const stripe = ctx.services.rawProviders.stripe;
  const err = await stripe
    .createCheckoutSession(
      { currency: 'usd', lineItems: [{ name: 'R', unitAmountCents: 1, quantity: 1 }], expiresAt: Math.floor(Date.now() / 1000) + 29 * 60, metadata: {}, successUrl: 'https://x.example/ok', cancelUrl: 'https://x.example/no' },
      { idempotencyKey: 'short' },
    )
    .catch((e: unknown) => e);
  assert.instance(err, ProviderError);
  assert.is((err as ProviderError).status, 400);
  assert.match((err as Error).message, /at least 30 minutes/);
  const missing = await stripe.retrieveCheckoutSession('cs_test_nope').catch((e: unknown) => e);
  assert.is((missing as ProviderError).status, 404);
  assert.is((missing as ProviderError).providerCode, 'resource_missing');
});

t('a refused session marks the purchase failed; bad input is refused before any call', async (ctx) => {
  await sandboxAdmin(ctx.sandbox.url).setFault('stripe', { fault: 'invalid_key' });
  const id = await business(ctx);
  const err = await createCheckout(ctx.services, { businessId: id, customerEmail: 'a@b.co' }).catch((e: unknown) => e);
  assert.instance(err, ProviderError);
  const rows = await ctx.db.orm.em.getConnection().execute<{ status: string; failure_reason: string }[]>('select status, failure_reason from purchases');
  assert.is(rows.length, 1);
  assert.is(rows[0]!.status, 'failed');
  assert.match(rows[0]!.failure_reason, /checkout session not created/);
  await sandboxAdmin(ctx.sandbox.url).clearFaults();
  const e1 = await createCheckout(ctx.services, { businessId: id, customerEmail: 'not-an-email' }).catch((e: unknown) => e);
  assert.match((e1 as Error).message, /not an email address/);
  const e2 = await createCheckout(ctx.services, { businessId: 999_999, customerEmail: 'a@b.co' }).catch((e: unknown) => e);
  assert.match((e2 as Error).message, /no business with id/);
  assert.is(ctx.sessions.length, 0);
});

t.run();
