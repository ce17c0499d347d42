import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { StripeEvent } from '../../domain/providers/stripe/port.js';
import { sandboxAdmin } from '../../domain/sandbox/index.js';
import type { RunbookContext } from '../../runbooks/context.js';
import { diagnose, runDiagnostic, type Diagnosis, type Finding } from '../../runbooks/define.js';
import { runbook } from '../../runbooks/payment-issues.js';
import { DB_KIND } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { checkout, deliver, opsEvents, post, purchase, reset, sendgridRequests, setUp, sign, tearDown, type Ctx as StoreCtx } from '../storefront/harness.js';

type Ctx = StoreCtx & { rb: RunbookContext };
const t = suite<Ctx>(`runbook payment-issues (${DB_KIND})`);

t.before(async (ctx) => {
  await setUp(ctx, { PROVIDER_TIMEOUT_MS: '2000' });
  ctx.rb = runbookContext(ctx.services);
});
t.after((ctx) => tearDown(ctx));
t.before.each((ctx) => reset(ctx));

const HOUR = 3600_000;
const sql = (ctx: Ctx, q: string, params: unknown[] = []) => ctx.db.orm.em.getConnection().execute(q, params);

/** Plays the customer on the sandbox's hosted page; returns the events Stripe recorded (not delivered). */
async function pay(ctx: Ctx, session: string, outcome: 'paid' | 'failed' | 'expired' = 'paid'): Promise<StripeEvent[]> {
  const res = await fetch(`${ctx.sandbox.url}/sandbox/stripe/checkout`, { method: 'POST', body: JSON.stringify({ session, outcome }) });
  assert.is(res.status, 200);
  return ((await res.json()) as { events: StripeEvent[] }).events;
}

/** A purchase paid and delivered through the signed webhook (the report goes out). */
async function paidPurchase(ctx: Ctx): Promise<number> {
  const c = await checkout(ctx);
  for (const e of await pay(ctx, c.sessionId)) assert.is((await deliver(ctx, e)).status, 200);
  await ctx.route.idle();
  return c.purchaseId;
}

const finding = (d: Diagnosis, id: string): Finding => {
  const r = d.results.find((x) => x.id === id);
  assert.ok(r, `diagnostic ${id}`);
  return r!.finding;
};
const causes = (d: Diagnosis) => d.rootCauses.map((c) => c.id).sort();
const remediation = (id: string) => runbook.remediations.find((r) => r.id === id)!;
const diagnostic = (id: string) => runbook.diagnostics.find((d) => d.id === id)!;

async function until(check: () => Promise<boolean>, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

t('a paid purchase through the webhook: no root cause, every diagnostic ok', async (ctx) => {
  const id = await paidPurchase(ctx);
  assert.is((await purchase(ctx, id)).status, 'paid');
  const d = await diagnose(runbook, ctx.rb);
  assert.equal(causes(d), [], JSON.stringify(d.rootCauses));
  for (const r of d.results) assert.is(r.finding.status, 'ok', `${r.id}: ${r.finding.summary}`);
  const wh = finding(d, 'webhook-status');
  assert.equal([wh.evidence?.secret, wh.evidence?.events, wh.evidence?.unprocessed, wh.evidence?.signatureFailures24h], ['SET', 2, 0, 0]);
  assert.not.match(JSON.stringify(d), /whsec_/);
  const pr = finding(d, 'pricing-config');
  assert.equal([pr.evidence?.baseCents, pr.evidence?.taxCents, pr.evidence?.totalCents, pr.evidence?.currency], [9900, 792, 10692, 'usd']);
  const tc = finding(d, 'total-calculation');
  assert.equal([tc.evidence?.integerHalfUp, tc.evidence?.compared, tc.evidence?.mismatches, tc.evidence?.failedCases], [true, 1, 0, []]);
  assert.equal(finding(d, 'recent-purchases').evidence?.all, { paid: 1 });
  const sc = finding(d, 'stripe-connectivity');
  assert.equal([sc.evidence?.apiKey, sc.evidence?.mode, sc.evidence?.reachable, sc.evidence?.authOk], ['MISSING', 'sandbox', true, true]);
});

t('signature failures indicate webhook-secret-mismatch; once stale, webhooks-not-arriving; replay-missed-events pays the purchase', async (ctx) => {
  const c = await checkout(ctx);
  const events = await pay(ctx, c.sessionId);
  for (const e of events) {
    const { payload, header } = sign(e, { secret: 'whsec_rotated_elsewhere' });
    assert.is((await post(ctx, payload, header)).status, 400);
  }
  await until(async () => (await opsEvents(ctx, 'webhook.signature_failed')).length > 0);
  let d = await diagnose(runbook, ctx.rb);
  assert.equal(causes(d), ['webhook-secret-mismatch']);
  const wh = finding(d, 'webhook-status');
  assert.is(wh.status, 'problem');
  assert.is(wh.evidence?.signatureFailures24h, 1, 'one ops event per minute');
  assert.match(String(wh.evidence?.lastSignatureFailure), /signature/i);
  assert.equal(d.rootCauses[0]!.remediations, ['replay-missed-events']);

  // An hour later the purchase is still pending, past the checkout lifetime, with no event applied.
  await sql(ctx, 'update purchases set created_at = ?, updated_at = ? where id = ?', [new Date(Date.now() - HOUR), new Date(Date.now() - HOUR), c.purchaseId]);
  d = await diagnose(runbook, ctx.rb);
  assert.equal(causes(d), ['webhook-secret-mismatch', 'webhooks-not-arriving']);
  const sp = finding(d, 'stale-pending');
  assert.equal([sp.status, sp.evidence?.count, sp.evidence?.ids], ['problem', 1, [c.purchaseId]]);

  const rem = remediation('replay-missed-events');
  assert.equal([rem.risk, rem.requiredRole], ['write', 'operator']);
  const input = rem.inputSchema!.parse(rem.defaultInput!({}));
  assert.equal(input, { hours: 24 });
  assert.is(rem.idempotencyKey(input), 'replay-stripe-events:24');
  const r = await rem.run(ctx.rb, input, 'slack:U7');
  assert.match(r.summary, /were missing and replayed/);
  assert.match(r.summary, /1 purchase\(s\) became paid/);
  const p = await purchase(ctx, c.purchaseId);
  assert.is(p.status, 'paid');
  assert.ok(p.report_sent_at, 'report emailed');
  assert.is(await sendgridRequests(ctx), 1);
  const recheck = (await runDiagnostic(diagnostic(rem.recheck), ctx.rb)).finding;
  assert.is(recheck.status, 'ok', recheck.summary);
  // A second replay finds nothing missing and sends nothing.
  assert.match((await rem.run(ctx.rb, input, 'slack:U7')).summary, /; 0 were missing/);
  assert.is(await sendgridRequests(ctx), 1);
});

t('a Stripe 401 indicates stripe-api-key only; the key is never shown', async (ctx) => {
  await sandboxAdmin(ctx.sandbox.url).setFault('stripe', { fault: 'invalid_key' });
  const d = await diagnose(runbook, ctx.rb);
  assert.equal(causes(d), ['stripe-api-key']);
  const f = finding(d, 'stripe-connectivity');
  assert.equal([f.status, f.evidence?.reachable, f.evidence?.authOk], ['problem', true, false]);
  assert.is((f.evidence?.auth as { status: number }).status, 401);
  assert.not.match(JSON.stringify(f), /sk_test_|sk_live_/);
});

t('a Stripe that never answers indicates stripe-unreachable', async (ctx) => {
  await sandboxAdmin(ctx.sandbox.url).setFault('stripe', { fault: 'timeout' });
  const r = await runDiagnostic(diagnostic('stripe-connectivity'), ctx.rb);
  assert.is(r.finding.status, 'problem', r.finding.summary);
  assert.is(r.finding.evidence?.reachable, false);
  assert.match(r.finding.summary, /unreachable/);
  const indicated = runbook.rootCauses.filter((c) => c.indicatedBy({ 'stripe-connectivity': r.finding })).map((c) => c.id);
  assert.equal(indicated, ['stripe-unreachable']);
});

t('a stored total that differs from the calculation indicates total-mismatch', async (ctx) => {
  const id = await paidPurchase(ctx);
  // Tax computed at 7% instead of 8%: 9900 + 693.
  await sql(ctx, 'update purchases set tax_cents = 693, total_cents = 10593 where id = ?', [id]);
  const d = await diagnose(runbook, ctx.rb);
  assert.equal(causes(d), ['total-mismatch']);
  const f = finding(d, 'total-calculation');
  assert.is(f.status, 'problem');
  assert.equal(f.evidence?.mismatchSamples, [{ id, stored: 10593, expected: 10692 }]);
  assert.match(f.summary, /10593 stored, 10692 expected/);
});

t('failed payments are listed with their reasons; checkout failures at Stripe are a problem', async (ctx) => {
  const c = await checkout(ctx, 'card@example.com');
  for (const e of await pay(ctx, c.sessionId, 'failed')) await deliver(ctx, e);
  await ctx.route.idle();
  let f = (await runDiagnostic(diagnostic('recent-purchases'), ctx.rb)).finding;
  assert.is((await purchase(ctx, c.purchaseId)).status, 'failed');
  assert.equal([f.status, f.evidence?.failed24h, f.evidence?.checkoutFailures24h, f.evidence?.failedIds], ['warn', 1, 0, [c.purchaseId]]);
  await sandboxAdmin(ctx.sandbox.url).setFault('stripe', { fault: 'server_error', status: 500 });
  await checkout(ctx).catch(() => undefined);
  f = (await runDiagnostic(diagnostic('recent-purchases'), ctx.rb)).finding;
  assert.equal([f.status, f.evidence?.failed24h, f.evidence?.checkoutFailures24h], ['problem', 2, 1]);
});

t('a paid purchase without its report indicates report-not-sent; resend-report emails it and the recheck reads ok', async (ctx) => {
  const id = await paidPurchase(ctx);
  await sql(ctx, 'update purchases set report_sent_at = null, updated_at = ? where id = ?', [new Date(Date.now() - HOUR), id]);
  const before = await sendgridRequests(ctx);
  const d = await diagnose(runbook, ctx.rb);
  assert.equal(causes(d), ['report-not-sent']);
  const rem = remediation('resend-report');
  const input = rem.inputSchema!.parse(rem.defaultInput!(Object.fromEntries(d.results.map((r) => [r.id, r.finding]))));
  assert.equal(input, { purchaseId: id });
  assert.is(rem.idempotencyKey(input), `resend-report:${id}`);
  const r = await rem.run(ctx.rb, input, 'slack:U3');
  assert.match(r.summary, new RegExp(`Report of purchase ${id} emailed again to b\\*\\*\\*@example.com`));
  assert.is(await sendgridRequests(ctx), before + 1);
  assert.ok((await purchase(ctx, id)).report_sent_at);
  assert.is((await runDiagnostic(diagnostic(rem.recheck), ctx.rb)).finding.status, 'ok');
  // A purchase that is not paid is refused.
  const other = await checkout(ctx);
  const err = await rem.run(ctx.rb, { purchaseId: other.purchaseId }, 'slack:U3').catch((e: unknown) => e);
  assert.match((err as Error).message, /not paid/);
});

t('an event that failed to apply makes the webhook status a problem without blaming the secret', async (ctx) => {
  await sql(
    ctx,
    `insert into webhook_inbox (provider, event_id, type, event_created, payload, received_at, error) values ('stripe', 'evt_x', 'payment_intent.succeeded', 1, '{}'::jsonb, ?, 'deadlock detected')`,
    [new Date(Date.now() - HOUR)],
  );
  const d = await diagnose(runbook, ctx.rb);
  const f = finding(d, 'webhook-status');
  assert.equal([f.status, f.evidence?.errored, (f.evidence?.lastError as { eventId: string }).eventId], ['problem', 1, 'evt_x']);
  assert.not.ok(causes(d).includes('webhook-secret-mismatch'));
});

t.run();
