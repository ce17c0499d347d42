import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { StripeEvent } from '../../domain/providers/stripe/port.js';
import { sandboxAdmin } from '../../domain/sandbox/index.js';
import { deliverReport, loadReportData, renderAuditReport, resendReport } from '../../domain/storefront/report.js';
import { replayEvents } from '../../domain/storefront/replay.js';
import { DB_KIND } from '../helpers/db.js';
import { checkout, deliver, inbox, opsEvents, purchase, reset, sendgridRequests, setUp, tearDown, type Ctx } from './harness.js';

const t = suite<Ctx>(`storefront: report and replay (${DB_KIND})`);
t.before((ctx) => setUp(ctx));
t.after((ctx) => tearDown(ctx));
t.before.each((ctx) => reset(ctx));

/** Plays the customer on the sandbox's hosted page; returns the events Stripe recorded. */
async function pay(ctx: Ctx, session: string, outcome: 'paid' | 'failed' | 'expired' | 'refunded' = 'paid'): Promise<StripeEvent[]> {
  const res = await fetch(`${ctx.sandbox.url}/sandbox/stripe/checkout`, { method: 'POST', body: JSON.stringify({ session, outcome }) });
  assert.is(res.status, 200);
  return ((await res.json()) as { events: StripeEvent[] }).events;
}

const markPaid = (ctx: Ctx, id: number) => ctx.db.orm.em.getConnection().execute("update purchases set status = 'paid' where id = ?", [id]);

t('the report PDF: starts with %PDF, names the business, shows scores and recommendations', async (ctx) => {
  const c = await checkout(ctx);
  const data = await loadReportData(ctx.services, c.purchaseId);
  assert.match(data.businessName, /^Joe's Pizza/);
  assert.equal(data.assessment?.scores, { performance: 42, accessibility: 88, bestPractices: 75, seo: 91 });
  const pdf = await renderAuditReport(data, { compress: false });
  assert.is(pdf.subarray(0, 5).toString('latin1'), '%PDF-');
  const raw = pdf.toString('latin1');
  assert.ok(raw.includes(`(Website audit report: ${data.businessName})`), 'business name as the document title');
  // Page text: each line is a TJ array of hex glyph strings (split at kerning pairs); decode and join them.
  const lines = [...raw.matchAll(/\[(.*?)\] TJ/g)].map((m) => [...(m[1] as string).matchAll(/<([0-9a-f]*)>/g)].map((h) => Buffer.from(h[1] as string, 'hex').toString('latin1')).join(''));
  assert.ok(lines.includes(data.businessName), 'business name on the page');
  for (const expected of ['Website audit report', 'https://joes.example', 'Performance: 42 / 100', 'SEO: 91 / 100']) assert.ok(lines.includes(expected), expected);
  assert.ok(lines.some((l) => l.includes('Efficiently encode images') && l.includes('2.4 s')));
  assert.ok(lines.some((l) => l.includes('Compress hero images (impact high, effort low)')));
  const empty = await renderAuditReport({ ...data, assessment: null });
  assert.is(empty.subarray(0, 5).toString('latin1'), '%PDF-');
});

t('deliverReport sends exactly once under concurrency; resendReport sends again', async (ctx) => {
  const c = await checkout(ctx);
  assert.is(await deliverReport(ctx.services, c.purchaseId), 'not_paid');
  await markPaid(ctx, c.purchaseId);
  const outcomes = await Promise.all([1, 2, 3, 4].map(() => deliverReport(ctx.services, c.purchaseId)));
  assert.equal(outcomes.sort(), ['already_sent', 'already_sent', 'already_sent', 'sent']);
  assert.is(await sendgridRequests(ctx), 1);
  assert.ok((await purchase(ctx, c.purchaseId)).report_sent_at);
  const again = await resendReport(ctx.services, c.purchaseId);
  assert.is(again.to, 'buyer@example.com');
  assert.ok(again.bytes > 1000);
  assert.is(await sendgridRequests(ctx), 2);
  const mail = ctx.mails[1]!;
  assert.equal(mail.attachments[0].type, 'application/pdf');
  assert.equal(mail.attachments[0].disposition, 'attachment');
  assert.equal(mail.personalizations[0].custom_args, { purchase_id: String(c.purchaseId) });
});

t('a failed send releases the claim and records report.failed; resendReport refuses unpaid purchases', async (ctx) => {
  const c = await checkout(ctx);
  await markPaid(ctx, c.purchaseId);
  await sandboxAdmin(ctx.sandbox.url).setFault('sendgrid', { fault: 'invalid_key' });
  const err = await deliverReport(ctx.services, c.purchaseId).catch((e: unknown) => e);
  assert.instance(err, Error);
  assert.is((await purchase(ctx, c.purchaseId)).report_sent_at, null);
  const ops = await opsEvents(ctx, 'report.failed');
  assert.is(ops.length, 1);
  await sandboxAdmin(ctx.sandbox.url).clearFaults();
  assert.is(await deliverReport(ctx.services, c.purchaseId), 'sent');
  const other = await checkout(ctx, 'other@example.com');
  const refused = await resendReport(ctx.services, other.purchaseId).catch((e: unknown) => e);
  assert.match((refused as Error).message, /is pending, not paid/);
});

t('replayEvents applies a missing event once, without signatures; a second replay finds nothing missing', async (ctx) => {
  const since = new Date(Date.now() - 60_000);
  const c = await checkout(ctx);
  const events = await pay(ctx, c.sessionId);
  const [succeeded, completed] = events as [StripeEvent, StripeEvent];
  // The webhook delivered only the payment_intent event; checkout.session.completed was missed.
  assert.is((await deliver(ctx, succeeded)).status, 200);
  await ctx.route.idle();
  assert.is(await sendgridRequests(ctx), 1);

  const first = await replayEvents(ctx.services, { since });
  assert.is(first.listed, 2);
  assert.is(first.missing, 1);
  assert.equal(first.results.map((r) => [r.eventId, r.outcome]), [[completed.id, 'applied']]);
  const rows = await inbox(ctx);
  assert.equal(rows.map((r) => r.event_id).sort(), [succeeded.id, completed.id].sort());
  assert.ok(rows.every((r) => r.processed_at));
  const p = await purchase(ctx, c.purchaseId);
  assert.is(p.status, 'paid');
  assert.is(p.customer_email, 'buyer@example.com');

  const second = await replayEvents(ctx.services, { since });
  assert.equal([second.listed, second.missing], [2, 0]);
  assert.is(await sendgridRequests(ctx), 1, 'still one report');
});

t('replayEvents pages through the list (starting_after) and pays a purchase whose events were all missed', async (ctx) => {
  const since = new Date(Date.now() - 60_000);
  const paidIds: number[] = [];
  for (let i = 0; i < 3; i++) {
    const c = await checkout(ctx, `b${i}@example.com`);
    await pay(ctx, c.sessionId);
    paidIds.push(c.purchaseId);
  }
  const expired = await checkout(ctx);
  await pay(ctx, expired.sessionId, 'expired');
  const r = await replayEvents(ctx.services, { since });
  // The sandbox also still lists the previous tests' events (their purchases are gone: acknowledged, no effect).
  assert.ok(r.listed >= 7 && r.missing === r.listed && !r.truncated, `${r.listed} listed, ${r.missing} missing`);
  for (const id of paidIds) assert.is((await purchase(ctx, id)).status, 'paid');
  assert.is((await purchase(ctx, expired.purchaseId)).status, 'expired');
  assert.is(await sendgridRequests(ctx), 3);
  // Only events since `since` are listed.
  assert.is((await replayEvents(ctx.services, { since: new Date(Date.now() + 120_000) })).listed, 0);
  // Pages of one: starting_after walks the list.
  const page1 = await ctx.services.providers.stripe.listEvents({ limit: 1 });
  const page2 = await ctx.services.providers.stripe.listEvents({ limit: 1, startingAfter: page1.events[0]!.id });
  assert.ok(page1.hasMore && page2.events[0]!.id !== page1.events[0]!.id);
});

t.run();
