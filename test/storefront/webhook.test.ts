import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DB_KIND } from '../helpers/db.js';
import { testIf } from '../helpers/preconditions.js';
import type { StripeEvent } from '../../domain/providers/stripe/port.js';
import { reprocessInbox } from '../../domain/storefront/webhook.js';
import {
  HAVE_FIXTURES,
  FIXTURES,
  checkout,
  deliver,
  fixtureEvent,
  inbox,
  nowSec,
  opsEvents,
  post,
  purchase,
  reset,
  sendgridRequests,
  setUp,
  shuffle,
  sign,
  tearDown,
  type Ctx,
  type Target,
} from './harness.js';

const t = suite<Ctx>(`storefront: Stripe webhook (${DB_KIND})`);
t.before((ctx) => setUp(ctx));
t.after((ctx) => tearDown(ctx));
t.before.each((ctx) => reset(ctx));

const withFixtures = testIf(t, HAVE_FIXTURES, `${FIXTURES} is absent (set LF_SHARED_FIXTURES or STRIPE_FIXTURES_DIR)`);

async function target(ctx: Ctx): Promise<Target> {
  const c = await checkout(ctx);
  return { purchaseId: c.purchaseId, sessionId: c.sessionId, paymentIntentId: `pi_test_${c.purchaseId}` };
}

/** Delivers every event three times, in a shuffled order, one at a time; returns the outcomes. */
async function deliverShuffled(ctx: Ctx, events: StripeEvent[], seed: number): Promise<string[]> {
  const outcomes: string[] = [];
  for (const e of shuffle([...events, ...events, ...events], seed)) {
    const r = await deliver(ctx, e);
    assert.is(r.status, 200, JSON.stringify(r.body));
    outcomes.push(r.body.outcome as string);
  }
  await ctx.route.idle();
  return outcomes;
}

withFixtures('each event three times, shuffled: paid once, one inbox row per event, one report email', async (ctx) => {
  for (const seed of [1, 2, 3]) {
    await reset(ctx);
    const tg = await target(ctx);
    const base = nowSec() - 60;
    const events = [fixtureEvent('succeeded', tg, base + 1), fixtureEvent('completed', tg, base + 2)];
    const outcomes = await deliverShuffled(ctx, events, seed);
    assert.is(outcomes.filter((o) => o === 'duplicate').length, 4, outcomes.join());
    const p = await purchase(ctx, tg.purchaseId);
    assert.is(p.status, 'paid');
    assert.is(p.stripe_payment_intent_id, tg.paymentIntentId);
    assert.is(p.last_event_created, base + 2);
    assert.ok(p.report_sent_at, 'report claimed');
    const rows = await inbox(ctx);
    assert.equal(rows.map((r) => r.event_id).sort(), events.map((e) => e.id).sort());
    assert.ok(rows.every((r) => r.processed_at && r.error === null));
    assert.is(await sendgridRequests(ctx), 1, 'one report email');
    const mail = ctx.mails[0]!;
    assert.is(mail.personalizations[0].to[0].email, 'buyer@example.com');
    assert.is(mail.attachments[0].type, 'application/pdf');
    assert.match(mail.attachments[0].filename, /^audit-report-joe-s-pizza-\d+-\d+\.pdf$/);
    assert.ok(Buffer.from(mail.attachments[0].content, 'base64').subarray(0, 5).toString() === '%PDF-');
  }
});

withFixtures('concurrent redeliveries, out of order (refund first): ends refunded, each event applied once', async (ctx) => {
  const tg = await target(ctx);
  const base = nowSec() - 60;
  const events = [fixtureEvent('succeeded', tg, base + 1), fixtureEvent('completed', tg, base + 2), fixtureEvent('refunded', tg, base + 30)];
  const all = shuffle([...events, ...events, ...events], 7);
  const results = await Promise.all(all.map((e) => deliver(ctx, e)));
  await ctx.route.idle();
  assert.ok(results.every((r) => r.status === 200));
  // A refund that arrives first is parked, then applied as a follow-up of the payment: its later copies are duplicates.
  const count = (o: string) => results.filter((r) => r.body.outcome === o).length;
  assert.ok(count('applied') + count('kept') <= 3 && count('duplicate') + count('parked') >= 6, results.map((r) => r.body.outcome).join());
  assert.ok((await inbox(ctx)).every((r) => r.processed_at && r.error === null));
  const p = await purchase(ctx, tg.purchaseId);
  assert.is(p.status, 'refunded');
  assert.is(p.last_event_created, base + 30);
  assert.is((await inbox(ctx)).length, 3);
  assert.ok((await sendgridRequests(ctx)) <= 1);
});

withFixtures('a refund that arrives before its payment is parked, then applied when the payment links it', async (ctx) => {
  const tg = await target(ctx);
  const base = nowSec() - 60;
  const refund = fixtureEvent('refunded', tg, base + 30);
  assert.is((await deliver(ctx, refund)).body.outcome, 'parked');
  assert.is((await deliver(ctx, refund)).body.outcome, 'parked');
  let row = (await inbox(ctx))[0]!;
  assert.equal([row.processed_at, (row.error ?? '').startsWith('unmatched:')], [null, true]);
  assert.equal(await reprocessInbox(ctx.services), [], 'parked rows wait for their payment intent');
  assert.is((await deliver(ctx, fixtureEvent('succeeded', tg, base + 1))).body.outcome, 'applied');
  await ctx.route.idle();
  row = (await inbox(ctx)).find((r) => r.event_id === refund.id)!;
  assert.ok(row.processed_at && row.error === null);
  assert.is((await purchase(ctx, tg.purchaseId)).status, 'refunded');
  assert.is(await sendgridRequests(ctx), 0, 'no report for a refunded purchase');
});

withFixtures('payment_failed after paid does not downgrade; expired after completed keeps paid', async (ctx) => {
  const tg = await target(ctx);
  const base = nowSec() - 60;
  assert.is((await deliver(ctx, fixtureEvent('completed', tg, base))).body.outcome, 'applied');
  assert.is((await deliver(ctx, fixtureEvent('failed', tg, base + 10))).body.outcome, 'kept');
  assert.is((await deliver(ctx, fixtureEvent('expired', tg, base + 20))).body.outcome, 'kept');
  await ctx.route.idle();
  const p = await purchase(ctx, tg.purchaseId);
  assert.is(p.status, 'paid');
  assert.is(p.failure_reason, null);
  assert.is(p.last_event_created, base);
  assert.is((await opsEvents(ctx, 'payment.failed')).length, 0);
  assert.is(await sendgridRequests(ctx), 1);
});

withFixtures('a failed payment on a pending purchase: failed with the reason, ops event; a later success pays', async (ctx) => {
  const tg = await target(ctx);
  const base = nowSec() - 60;
  const failed = fixtureEvent('failed', tg, base);
  assert.is((await deliver(ctx, failed)).body.outcome, 'applied');
  let p = await purchase(ctx, tg.purchaseId);
  assert.is(p.status, 'failed');
  assert.match(p.failure_reason ?? '', /authentication action/);
  const ops = await opsEvents(ctx, 'payment.failed');
  assert.is(ops.length, 1);
  assert.is(ops[0]!.severity, 'warning');
  assert.is(ops[0]!.payload.purchaseId, tg.purchaseId);
  await deliver(ctx, failed);
  assert.is((await opsEvents(ctx, 'payment.failed')).length, 1, 'a redelivery records nothing new');
  // The older "unpaid" completion changes nothing; the later success pays.
  assert.is((await deliver(ctx, fixtureEvent('unpaid', tg, base - 5))).body.outcome, 'kept');
  await deliver(ctx, fixtureEvent('succeeded', tg, base + 5));
  await ctx.route.idle();
  p = await purchase(ctx, tg.purchaseId);
  assert.is(p.status, 'paid');
  assert.is(p.failure_reason, null);
  assert.is(await sendgridRequests(ctx), 1);
});

withFixtures('expired applies only to a pending purchase; unknown types are stored with no effect', async (ctx) => {
  const tg = await target(ctx);
  const base = nowSec() - 60;
  await deliver(ctx, fixtureEvent('expired', tg, base));
  assert.is((await purchase(ctx, tg.purchaseId)).status, 'expired');
  const unknown = { ...fixtureEvent('succeeded', tg, base + 1), id: 'evt_test_unknown', type: 'customer.created' };
  const r = await deliver(ctx, unknown);
  assert.equal([r.status, r.body.outcome], [200, 'unhandled']);
  const row = (await inbox(ctx)).find((x) => x.event_id === 'evt_test_unknown');
  assert.ok(row?.processed_at);
  assert.is((await purchase(ctx, tg.purchaseId)).status, 'expired');
});

withFixtures('a failed application during a database outage (SQLSTATE 08006) keeps the error and answers 500; the next delivery (or reprocessInbox) applies it', async (ctx) => {
  const tg = await target(ctx);
  const conn = ctx.db.orm.em.getConnection();
  const breakUpdates = () =>
    conn.execute(`create or replace function sf_test_fail() returns trigger language plpgsql as $$ begin raise exception 'simulated outage' using errcode = '08006'; end $$;
      create trigger sf_test_fail before update on purchases for each row execute function sf_test_fail();`);
  const fixUpdates = () => conn.execute('drop trigger sf_test_fail on purchases');
  const base = nowSec() - 60;
  const paid = fixtureEvent('completed', tg, base);
  await breakUpdates();
  const r1 = await deliver(ctx, paid);
  assert.is(r1.status, 500);
  let row = (await inbox(ctx))[0]!;
  assert.equal([row.processed_at, (row.error ?? '').includes('simulated outage')], [null, true]);
  assert.is((await purchase(ctx, tg.purchaseId)).status, 'pending');
  await fixUpdates();
  const r2 = await deliver(ctx, paid);
  assert.equal([r2.status, r2.body.outcome], [200, 'applied']);
  row = (await inbox(ctx))[0]!;
  assert.ok(row.processed_at && row.error === null);
  await ctx.route.idle();
  assert.is((await purchase(ctx, tg.purchaseId)).status, 'paid');

  const tg2 = await target(ctx);
  await breakUpdates();
  assert.is((await deliver(ctx, fixtureEvent('completed', tg2, base))).status, 500);
  await fixUpdates();
  const again = await reprocessInbox(ctx.services);
  assert.equal(again.map((x) => [x.outcome, x.becamePaid]), [['applied', true]]);
  assert.is((await purchase(ctx, tg2.purchaseId)).status, 'paid');
  assert.is(await sendgridRequests(ctx), 2);
});

withFixtures('bad signature, stale timestamp, missing header: 400 and nothing stored; one ops event a minute', async (ctx) => {
  const tg = await target(ctx);
  const event = fixtureEvent('completed', tg, nowSec());
  const wrong = sign(event, { secret: 'whsec_someone_else' });
  assert.is((await post(ctx, wrong.payload, wrong.header)).status, 400);
  const stale = sign(event, { timestamp: nowSec() - 6 * 60 });
  assert.is((await post(ctx, stale.payload, stale.header)).status, 400);
  assert.is((await post(ctx, stale.payload, undefined)).status, 400);
  assert.is((await inbox(ctx)).length, 0);
  assert.is((await purchase(ctx, tg.purchaseId)).status, 'pending');
  const ops = await opsEvents(ctx, 'webhook.signature_failed');
  assert.ok(ops.length >= 1 && ops.length <= 2, 'deduplicated per minute');
  assert.is(ops[0]!.severity, 'warning');
  const fresh = sign(event, { timestamp: nowSec() - 4 * 60 });
  assert.is((await post(ctx, fresh.payload, fresh.header)).status, 200, 'within the 5-minute tolerance');
});

withFixtures('raw bytes: the same event re-serialised with other whitespace is rejected', async (ctx) => {
  const tg = await target(ctx);
  const { payload, header } = sign(fixtureEvent('completed', tg, nowSec()));
  const compact = JSON.stringify(JSON.parse(payload));
  assert.is((await post(ctx, compact, header)).status, 400);
  assert.is((await post(ctx, payload.replace('"object": "event"', '"object":  "event"'), header)).status, 400);
  assert.is((await inbox(ctx)).length, 0);
  assert.is((await post(ctx, payload, header)).status, 200);
  await ctx.route.idle();
});

t('sandbox-made events (no recorded files needed): paid through the hosted page, delivered twice', async (ctx) => {
  const c = await checkout(ctx);
  const res = await fetch(`${ctx.sandbox.url}/sandbox/stripe/checkout`, { method: 'POST', body: JSON.stringify({ session: c.sessionId, outcome: 'paid' }) });
  const { events } = (await res.json()) as { events: StripeEvent[] };
  assert.equal(events.map((e) => e.type), ['payment_intent.succeeded', 'checkout.session.completed']);
  for (const e of [...events, ...events.reverse()]) assert.is((await deliver(ctx, e)).status, 200);
  await ctx.route.idle();
  const p = await purchase(ctx, c.purchaseId);
  assert.is(p.status, 'paid');
  assert.match(p.stripe_payment_intent_id ?? '', /^pi_/);
  assert.is((await inbox(ctx)).length, 2);
  assert.is(await sendgridRequests(ctx), 1);
});

t('GET on the webhook path is refused', async (ctx) => {
  const res = await fetch(ctx.url);
  assert.is(res.status, 405);
});

t.run();
