/**
 * The storefront's door, end to end on the real database, the sandbox's Stripe and SendGrid and the real adapters:
 * an outreach email goes out through delivery carrying a signed "Get the full report" link; GET on it opens one
 * Stripe Checkout Session per business (repeated and concurrent clicks reuse it: one session, one purchase) and
 * answers 303 to it; altered or expired links get a 4xx page and create nothing; the recorded
 * `checkout.session.completed` (shared/fixtures/real/stripe) makes the purchase paid, the report goes out, and the
 * funnel of `/lf purchases` counts emailed → clicked → checkout → paid → report sent.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMetrics, type Metrics } from '../../alerts/metrics.js';
import { checkArgs, UsageError } from '../../bot/cli-args.js';
import { executeLf } from '../../bot/commands/execute.js';
import { renderOpsSlack, renderOpsText, type OpsResult } from '../../bot/commands/ops-commands.js';
import { parseLf } from '../../bot/commands/spec.js';
import { storefrontRoutes } from '../../bot/webhooks/report-link.js';
import { AssessmentResult, Business, Email } from '../../db/entities/index.js';
import { sendPending } from '../../domain/delivery/send.js';
import { AppError } from '../../domain/errors.js';
import { draftEmail } from '../../domain/personalization/draft.js';
import { purchaseFunnel } from '../../domain/queries/purchases.js';
import { sandboxAdmin } from '../../domain/sandbox/index.js';
import { createReportLinkToken, ReportLinkError, verifyReportLinkToken } from '../../domain/storefront/link.js';
import type { StripeEvent } from '../../domain/providers/stripe/port.js';
import { DB_KIND } from '../helpers/db.js';
import { testIf } from '../helpers/preconditions.js';
import { runbookContext } from '../helpers/runbooks.js';
import { pipelineDeps } from '../helpers/services.js';
import type { Actor } from '../../runbooks/actions.js';
import { business, deliver, FIXTURES, fixtureEvent, HAVE_FIXTURES, nowSec, purchase, reset, setUp, tearDown, type Ctx as StoreCtx } from './harness.js';

type Ctx = StoreCtx & { door: http.Server; doorUrl: string; metrics: Metrics };
const t = suite<Ctx>(`storefront: the report link (${DB_KIND})`);

t.before(async (ctx) => {
  await setUp(ctx);
  const s = ctx.services;
  ctx.metrics = createMetrics();
  const routes = storefrontRoutes({ config: s.config, logger: s.logger, orm: s.orm, clock: s.clock, providers: s.providers, metrics: ctx.metrics });
  ctx.door = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const r = routes.find((x) => x.path === path && x.method.includes(req.method ?? 'GET'));
    if (r) r.handler(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => ctx.door.listen(0, '127.0.0.1', r));
  ctx.doorUrl = `http://127.0.0.1:${(ctx.door.address() as AddressInfo).port}`;
});
t.after(async (ctx) => {
  ctx.door.closeAllConnections();
  await new Promise<void>((r) => ctx.door.close(() => r()));
  await tearDown(ctx);
});
t.before.each(async (ctx) => {
  await reset(ctx);
  ctx.metrics.reportLinkClicks.reset();
});

const withFixtures = testIf(t, HAVE_FIXTURES, `${FIXTURES} is absent (set LF_SHARED_FIXTURES or STRIPE_FIXTURES_DIR)`);
const SECRET = 'test-report-link-secret';
const viewer: Actor = { id: 'cli:test', role: 'viewer', source: 'cli', display: 'test' };
const sql = <T = Record<string, unknown>>(ctx: Ctx, q: string, p: unknown[] = []) => ctx.db.orm.em.getConnection().execute<T[]>(q, p);
const count = async (ctx: Ctx, table: string) => Number((await sql<{ n: string }>(ctx, `select count(*) as n from ${table}`))[0]!.n);

/** A business emailed through delivery (draft → sendPending → the sandbox's SendGrid); the link from the sent text. */
async function emailed(ctx: Ctx): Promise<{ businessId: number; emailId: number; text: string; link: string }> {
  const businessId = await business(ctx);
  const em = ctx.db.orm.em.fork();
  const b = await em.findOneOrFail(Business, { id: businessId });
  const a = await em.findOneOrFail(AssessmentResult, { business: businessId });
  const d = draftEmail(b, a, 'owner@joes.example');
  const e = em.create(Email, { business: b, campaign: 'website-audit', toAddress: d.toAddress, subject: d.subject, body: d.body, spamScore: 0, status: 'pending' });
  await em.flush();
  const before = ctx.mails.length;
  const sent = await sendPending(pipelineDeps(ctx.services));
  assert.is(sent.emailed, 1);
  const text = String(ctx.mails.slice(before).find((m) => m.personalizations?.[0]?.custom_args?.email_id === String(e.id))?.content?.[0]?.value);
  const url = /Get the full report: (\S+)/.exec(text)?.[1];
  assert.ok(url, `the sent email carries the link: ${text}`);
  const u = new URL(url!);
  return { businessId, emailId: e.id, text, link: `${ctx.doorUrl}${u.pathname}${u.search}` };
}

const get = (url: string, method = 'GET') => fetch(url, { method, redirect: 'manual', headers: { 'user-agent': 'door-test' } });

t('a token round-trips; altered, re-signed or expired tokens are refused with their reason', () => {
  const now = new Date('2026-12-06T10:00:00Z');
  const token = createReportLinkToken(SECRET, { businessId: 42, emailId: 7 }, 30 * 86_400_000, now);
  assert.equal(verifyReportLinkToken(SECRET, token, now), { businessId: 42, emailId: 7, expiresAt: Math.floor(now.getTime() / 1000) + 30 * 86_400 });
  assert.equal(verifyReportLinkToken(SECRET, createReportLinkToken(SECRET, { businessId: 5 }, 1000, now), now).emailId, null);
  const code = (tok: string | null, at = now) => {
    try {
      verifyReportLinkToken(SECRET, tok, at);
    } catch (err) {
      assert.instance(err, ReportLinkError);
      return `${(err as ReportLinkError).code}/${(err as ReportLinkError).status}`;
    }
    return 'ok';
  };
  const [body, sig] = token.split('.') as [string, string];
  // another business id under the same signature
  const forged = Buffer.from(JSON.stringify({ b: 43, e: 7, x: Math.floor(now.getTime() / 1000) + 99 })).toString('base64url');
  assert.is(code(`${forged}.${sig}`), 'bad_signature/400');
  assert.is(code(`${body}.${sig.slice(0, -2)}${sig.endsWith('AA') ? 'BB' : 'AA'}`), 'bad_signature/400');
  assert.is(code(createReportLinkToken('another-secret', { businessId: 42 }, 1000, now)), 'bad_signature/400');
  assert.is(code(`${body}`), 'malformed/400');
  assert.is(code(null), 'malformed/400');
  assert.is(code(token, new Date(now.getTime() + 30 * 86_400_000)), 'expired/410');
  assert.is(code(token, new Date(now.getTime() + 30 * 86_400_000 - 1000)), 'ok');
});

t('the outreach email carries the signed link of its business and no longer asks for a reply', async (ctx) => {
  const m = await emailed(ctx);
  assert.not.match(m.text, /reply to this email/i);
  assert.match(m.text, /full report explains each fix[^\n]*link below/);
  assert.ok(m.text.indexOf('Get the full report:') < m.text.indexOf('unsubscribe here'), 'the link is above the compliance footer');
  const token = new URL(m.link).searchParams.get('token');
  const claims = verifyReportLinkToken(ctx.services.config.storefront.reportLinkSecret, token, new Date());
  assert.equal([claims.businessId, claims.emailId], [m.businessId, m.emailId]);
  const ttlDays = (claims.expiresAt * 1000 - Date.now()) / 86_400_000;
  assert.ok(ttlDays > 29.9 && ttlDays <= 30, `valid REPORT_LINK_TTL_DAYS (30) from the send: ${ttlDays}`);
});

t('altered and expired links answer 400 / 410 pages and create nothing; HEAD creates nothing', async (ctx) => {
  const m = await emailed(ctx);
  const u = new URL(m.link);
  const token = u.searchParams.get('token')!;
  const tampered = `${ctx.doorUrl}/get-report?token=${encodeURIComponent(`${token.slice(0, 5)}${token[5] === 'A' ? 'B' : 'A'}${token.slice(6)}`)}`;
  const bad = await get(tampered);
  assert.is(bad.status, 400);
  assert.match(await bad.text(), /not valid[\s\S]*Nothing was charged or created/);
  const old = createReportLinkToken(ctx.services.config.storefront.reportLinkSecret, { businessId: m.businessId, emailId: m.emailId }, 1000, new Date(Date.now() - 5000));
  const expired = await get(`${ctx.doorUrl}/get-report?token=${encodeURIComponent(old)}`);
  assert.is(expired.status, 410);
  assert.match(await expired.text(), /expired/);
  assert.is((await get(`${ctx.doorUrl}/get-report`)).status, 400);
  assert.is((await get(m.link, 'HEAD')).status, 200);
  assert.is((await get(tampered, 'HEAD')).status, 400);
  assert.equal([await count(ctx, 'purchases'), await count(ctx, 'report_link_clicks'), ctx.sessions.length], [0, 0, 0]);
  const audit = await sql<{ outcome: string; input: { code: string } }>(ctx, `select outcome, input from audit_log where action = 'storefront:report_link' order by id`);
  assert.equal(audit.map((a) => `${a.outcome}:${a.input.code}`), ['refused:bad_signature', 'refused:expired', 'refused:malformed']);
});

t('repeated and concurrent GETs: one Checkout Session, one purchase, every answer a 303 to it, every click recorded', async (ctx) => {
  const m = await emailed(ctx);
  const first = await get(m.link);
  assert.is(first.status, 303);
  const location = first.headers.get('location');
  assert.match(location ?? '', /^https:\/\/checkout\.stripe\.com\/c\/pay\/cs_test_/);
  const again = await Promise.all([...Array.from({ length: 5 }, () => get(m.link)), get(m.link), get(m.link)]);
  assert.equal(again.map((r) => [r.status, r.headers.get('location')]), again.map(() => [303, location]));
  assert.is(ctx.sessions.length, 1, 'one POST /v1/checkout/sessions');
  assert.is(ctx.sessions[0]!.params.customer_email, 'owner@joes.example');
  const purchases = await sql<{ id: number; status: string; business_id: number }>(ctx, 'select id, status, business_id from purchases');
  assert.equal(purchases.map((p) => [p.status, p.business_id]), [['pending', m.businessId]]);
  const clicks = await sql<{ outcome: string; purchase_id: number; email_id: number; user_agent: string }>(ctx, 'select outcome, purchase_id, email_id, user_agent from report_link_clicks order by id');
  assert.equal(clicks.map((c) => c.outcome), ['checkout_created', ...Array(7).fill('checkout_reused')]);
  assert.ok(clicks.every((c) => c.purchase_id === purchases[0]!.id && c.email_id === m.emailId && c.user_agent === 'door-test'));
  const counted = (await ctx.metrics.reportLinkClicks.get()).values.map((v) => [v.labels.outcome, v.value]);
  assert.equal(Object.fromEntries(counted), { checkout_created: 1, checkout_reused: 7 });
  assert.is(Number((await sql<{ n: string }>(ctx, `select count(*) as n from audit_log where action = 'storefront:report_link' and outcome = 'succeeded'`))[0]!.n), 8);
});

t('an expired session is replaced by a new checkout on the next click; the old purchase is marked expired', async (ctx) => {
  const m = await emailed(ctx);
  const first = await get(m.link);
  const [{ id, stripe_session_id: session }] = await sql<{ id: number; stripe_session_id: string }>(ctx, 'select id, stripe_session_id from purchases');
  const res = await fetch(`${ctx.sandbox.url}/sandbox/stripe/checkout`, { method: 'POST', body: JSON.stringify({ session, outcome: 'expired' }) });
  assert.is(res.status, 200);
  const next = await get(m.link);
  assert.is(next.status, 303);
  assert.is.not(next.headers.get('location'), first.headers.get('location'));
  const rows = await sql<{ id: number; status: string }>(ctx, 'select id, status from purchases order by id');
  assert.equal(rows.map((r) => [r.id === id, r.status]), [[true, 'expired'], [false, 'pending']]);
  assert.is(ctx.sessions.length, 2);
});

withFixtures('checkout.session.completed (recorded payload) → paid → report sent: in the funnel; a later click finds it bought', async (ctx) => {
  const start = new Date(Date.now() - 60_000);
  const m = await emailed(ctx);
  await emailed(ctx); // a second business emailed that never clicks
  assert.is((await get(m.link)).status, 303);
  const [p] = await sql<{ id: number; stripe_session_id: string }>(ctx, 'select id, stripe_session_id from purchases');
  // the customer pays on the (sandbox) hosted page; Stripe's event, as recorded, is delivered signed to the webhook
  const paidRes = await fetch(`${ctx.sandbox.url}/sandbox/stripe/checkout`, { method: 'POST', body: JSON.stringify({ session: p!.stripe_session_id, outcome: 'paid' }) });
  const piId = ((await paidRes.json()) as { session: { payment_intent: string } }).session.payment_intent;
  const event: StripeEvent = fixtureEvent('completed', { purchaseId: p!.id, sessionId: p!.stripe_session_id, paymentIntentId: piId }, nowSec());
  assert.is((await deliver(ctx, event)).status, 200);
  await ctx.route.idle();
  const row = await purchase(ctx, p!.id);
  assert.is(row.status, 'paid');
  assert.ok(row.report_sent_at, 'the report was emailed');
  assert.ok(ctx.mails.some((mail) => mail.personalizations?.[0]?.custom_args?.purchase_id === String(p!.id)));

  const funnel = await purchaseFunnel(ctx.db.orm.em.fork(), start, new Date(Date.now() + 1000));
  assert.equal(funnel, { emailed: 2, clicked: 1, checkout: 1, paid: 1, reportSent: 1 });
  // the same through `/lf purchases 1h` (Slack and the CLI share the executor)
  const r = await executeLf(runbookContext(ctx.services), parseLf('purchases 1h'), viewer);
  assert.is(r.kind, 'purchases');
  if (r.kind !== 'purchases') return;
  assert.equal(r.funnel.steps.map((x) => [x.stage, x.count, x.fromPrevious]), [['emailed', 2, null], ['clicked', 1, 0.5], ['checkout', 1, 1], ['paid', 1, 1], ['reportSent', 1, 1]]);
  const text = renderOpsText(r);
  assert.match(text, /Last 1h: 2 emailed, 1 paid \(50%\), 1 reports sent/);
  assert.match(text, /clicked the report link\s+1\s+50% of the step before,\s+50% of emailed/);
  const slack = renderOpsSlack(r);
  assert.is(slack.responseType, 'ephemeral');
  assert.match(JSON.stringify(slack.message.blocks), /report sent\s+1/);

  const success = await get(`${ctx.doorUrl}/checkout/success?session_id=${p!.stripe_session_id}`);
  assert.is(success.status, 200);
  assert.match(await success.text(), /emailed to o\*\*\*@joes\.example/);
  const later = await get(m.link);
  assert.is(later.status, 200);
  assert.match(await later.text(), /already have this report/);
  assert.is(await count(ctx, 'purchases'), 1);
  assert.is(ctx.sessions.length, 1);
  assert.is((await get(`${ctx.doorUrl}/checkout/cancel`)).status, 200);
  assert.is((await get(`${ctx.doorUrl}/checkout/success?session_id=cs_test_unknown`)).status, 404);
});

t('Stripe unreachable: 503 with Retry-After, the failed click recorded, nothing left pending', async (ctx) => {
  const m = await emailed(ctx);
  await sandboxAdmin(ctx.sandbox.url).setFault('stripe', { fault: 'invalid_key' });
  const r = await get(m.link);
  assert.is(r.status, 503);
  assert.ok(r.headers.get('retry-after'));
  const rows = await sql<{ status: string }>(ctx, 'select status from purchases');
  assert.equal(rows.map((x) => x.status), ['failed']);
  assert.equal((await sql<{ outcome: string }>(ctx, 'select outcome from report_link_clicks')).map((c) => c.outcome), ['failed']);
  await sandboxAdmin(ctx.sandbox.url).clearFaults();
  assert.is((await get(m.link)).status, 303, 'the link works once Stripe is back');
});

t('/lf purchases: the window is checked in the CLI spec and by the executor; an empty window counts zeros', async (ctx) => {
  assert.equal(checkArgs(['purchases', '30d']).words, ['purchases', '30d']);
  assert.equal(checkArgs(['purchases']).words, ['purchases']);
  assert.throws(() => checkArgs(['purchases', '7x']), (e: Error) => e instanceof UsageError && /"7x" is not a window of hours or days/.test(e.message));
  assert.throws(() => checkArgs(['purchases', '7d', '1h']), (e: Error) => e instanceof UsageError && /at most 1 argument/.test(e.message));
  const bad = await executeLf(runbookContext(ctx.services), parseLf('purchases 0d'), viewer).catch((e: unknown) => e);
  assert.instance(bad, AppError);
  assert.is((bad as AppError).code, 'bad_request');
  const r = await executeLf(runbookContext(ctx.services), parseLf('purchases'), viewer);
  assert.ok(r.kind === 'purchases' && r.funnel.window === '7d' && r.funnel.steps.every((x) => x.count === 0 && x.fromPrevious === null));
  assert.match(renderOpsText(r as OpsResult), /Last 7d: 0 emailed, 0 paid \(–\), 0 reports sent/);
});

t.run();
