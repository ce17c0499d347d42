/**
 * Shared set-up of the storefront suites: a fresh database, a real sandbox, real adapters through the gateway
 * (testServices), the Stripe webhook route on a real HTTP server, and builders for signed Stripe events made from
 * the recorded Stripe fixtures (`shared/fixtures/real/stripe` beside the checkout, see test/helpers/fixtures.ts;
 * rewritten to hit our purchases).
 */
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import type { Metrics } from '../../alerts/metrics.js';
import { stripeWebhookRoute, type StripeWebhookRoute } from '../../bot/webhooks/stripe.js';
import { AssessmentResult, Business } from '../../db/entities/index.js';
import type { Database } from '../../db/orm.js';
import { parseStripeForm } from '../../domain/sandbox/stripe-checkout.js';
import { sandboxAdmin, startSandbox, type Sandbox } from '../../domain/sandbox/index.js';
import type { Services } from '../../domain/services.js';
import { createCheckout, type CheckoutResult } from '../../domain/storefront/checkout.js';
import type { StripeEvent } from '../../domain/providers/stripe/port.js';
import { freshDatabase, truncateAll } from '../helpers/db.js';
import { realFixture } from '../helpers/fixtures.js';
import { testServices } from '../helpers/services.js';

export const SECRET = 'whsec_test_storefront_secret';
export const FIXTURES = process.env.STRIPE_FIXTURES_DIR ?? realFixture('stripe');
export const HAVE_FIXTURES = existsSync(FIXTURES);

/** A mail/send body that reached the sandbox handler. */
export type SentMail = Record<string, any>;
/** A POST /v1/checkout/sessions request that reached the sandbox handler. */
export interface SessionRequest {
  params: Record<string, any>;
  idempotencyKey: string | undefined;
}

export interface Ctx {
  db: Database;
  sandbox: Sandbox;
  services: Services;
  route: StripeWebhookRoute;
  server: http.Server;
  url: string;
  mails: SentMail[];
  sessions: SessionRequest[];
}

/** Starts everything; `env` adds config variables. */
export async function setUp(ctx: Ctx, env: Record<string, string> = {}): Promise<void> {
  ctx.db = await freshDatabase();
  ctx.sandbox = await startSandbox({ seed: 11 });
  ctx.mails = [];
  ctx.sessions = [];
  ctx.sandbox.interceptors.push((route, req) => {
    if (route.path === '/sendgrid/v3/mail/send') ctx.mails.push(JSON.parse(req.body.toString('utf8')) as SentMail);
    if (route.path === '/v1/checkout/sessions' && req.method === 'POST') {
      const key = req.headers['idempotency-key'];
      ctx.sessions.push({ params: parseStripeForm(new URLSearchParams(req.body.toString('utf8'))), idempotencyKey: typeof key === 'string' ? key : undefined });
    }
    return undefined;
  });
  ctx.services = await testServices(ctx.db, {
    SANDBOX_URL: ctx.sandbox.url,
    STRIPE_WEBHOOK_SECRET: SECRET,
    TAX_RATE: '0.08',
    AUDIT_REPORT_PRICE_CENTS: '9900',
    GATEWAY_RETRY_BASE_MS: '5',
    ...env,
  });
  const s = ctx.services;
  // The Stripe route never touches metrics.
  ctx.route = stripeWebhookRoute({ config: s.config, logger: s.logger, orm: s.orm, clock: s.clock, providers: s.providers, metrics: {} as Metrics });
  ctx.server = http.createServer(ctx.route.handler);
  await new Promise<void>((r) => ctx.server.listen(0, '127.0.0.1', r));
  ctx.url = `http://127.0.0.1:${(ctx.server.address() as AddressInfo).port}/webhooks/stripe`;
}

export async function tearDown(ctx: Ctx): Promise<void> {
  await ctx.route.idle();
  ctx.server.closeAllConnections();
  await new Promise<void>((r) => ctx.server.close(() => r()));
  await ctx.services.close();
  await ctx.sandbox.close();
  await ctx.db.close();
}

let purchaseIds = 0;
export async function reset(ctx: Ctx): Promise<void> {
  await ctx.route.idle();
  await truncateAll(ctx.db);
  // truncate restarts ids; Stripe (and the sandbox) keep Idempotency-Keys for 24 h, so `checkout:<purchase id>`
  // must not repeat with other parameters: continue the purchase ids across tests.
  purchaseIds += 1000;
  await ctx.db.orm.em.getConnection().execute(`alter sequence purchases_id_seq restart with ${purchaseIds}`);
  await sandboxAdmin(ctx.sandbox.url).clearFaults();
  await sandboxAdmin(ctx.sandbox.url).resetStats();
  ctx.mails.length = 0;
  ctx.sessions.length = 0;
}

let seq = 0;
/** A business with an assessment; returns its id. */
export async function business(ctx: Ctx, name = `Joe's Pizza ${++seq}`): Promise<number> {
  const em = ctx.db.orm.em.fork();
  const b = em.create(Business, { yelpId: `yelp-${name}-${seq}`, name, website: 'https://joes.example', city: 'Springfield', status: 'emailed' });
  em.create(AssessmentResult, {
    business: b,
    status: 'completed',
    url: 'https://joes.example/',
    performanceScore: 42,
    accessibilityScore: 88,
    bestPracticesScore: 75,
    seoScore: 91,
    insight: 'Slow on mobile; images dominate load time.',
    opportunities: [{ id: 'uses-optimized-images', title: 'Efficiently encode images', savingsMs: 2400 }],
    recommendations: [{ title: 'Compress hero images', impact: 'high', effort: 'low' }],
  });
  await em.flush();
  return b.id;
}

/** A business plus a real checkout through the sandbox. */
export async function checkout(ctx: Ctx, email = 'buyer@example.com'): Promise<CheckoutResult> {
  return createCheckout(ctx.services, { businessId: await business(ctx), customerEmail: email });
}

const fixture = (name: string) => JSON.parse(readFileSync(`${FIXTURES}/${name}`, 'utf8')) as Record<string, any>;

let evtSeq = 0;
/** Ids an event is rewritten with. */
export interface Target {
  purchaseId: number;
  sessionId: string;
  paymentIntentId: string;
}

/**
 * A recorded event rewritten for `t`: `kind` picks the fixture (`completed`, `expired` (derived from the completed
 * session), `succeeded`, `failed`, `refunded`); `created` in Unix seconds.
 */
export function fixtureEvent(kind: 'completed' | 'expired' | 'unpaid' | 'succeeded' | 'failed' | 'refunded', t: Target, created: number): StripeEvent {
  const file = {
    completed: 'event.checkout.session.completed.jam-coop.json',
    expired: 'event.checkout.session.completed.jam-coop.json',
    unpaid: 'event.checkout.session.completed.jam-coop.json',
    succeeded: 'event.payment_intent.succeeded.lago.json',
    failed: 'event.payment_intent.payment_failed.lago.json',
    refunded: 'event.charge.refunded.webhookdb.json',
  }[kind];
  const e = fixture(file);
  e.id = `evt_test_${kind}_${++evtSeq}_${t.purchaseId}`;
  e.created = created;
  e.livemode = false;
  const o = e.data.object;
  const metadata = { purchase_id: String(t.purchaseId), business_id: '1' };
  if (kind === 'completed' || kind === 'expired' || kind === 'unpaid') {
    Object.assign(o, { id: t.sessionId, metadata, client_reference_id: `purchase_${t.purchaseId}` });
    o.payment_intent = kind === 'completed' ? t.paymentIntentId : null;
    if (kind === 'expired') Object.assign(o, { status: 'expired', payment_status: 'unpaid', customer_details: null });
    if (kind === 'unpaid') Object.assign(o, { status: 'complete', payment_status: 'unpaid' });
    if (kind === 'expired') e.type = 'checkout.session.expired';
  } else if (kind === 'refunded') {
    Object.assign(o, { payment_intent: t.paymentIntentId, metadata: {} });
  } else {
    Object.assign(o, { id: t.paymentIntentId, metadata });
  }
  return e as StripeEvent;
}

/** Stripe's pretty-printed body and a valid header for it (`timestamp` Unix seconds, default now). */
export function sign(event: StripeEvent, opts: { secret?: string; timestamp?: number } = {}): { payload: string; header: string } {
  const payload = JSON.stringify(event, null, 2);
  const header = Stripe.webhooks.generateTestHeaderString({ payload, secret: opts.secret ?? SECRET, ...(opts.timestamp !== undefined ? { timestamp: opts.timestamp } : {}) });
  return { payload, header };
}

/** POSTs `payload` to the webhook with `Stripe-Signature: header`; resolves with status and JSON body. */
export async function post(ctx: Ctx, payload: string, header: string | undefined): Promise<{ status: number; body: any }> {
  const res = await fetch(ctx.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=utf-8', ...(header ? { 'stripe-signature': header } : {}) },
    body: payload,
  });
  return { status: res.status, body: await res.json() };
}

/** Signs and delivers an event (a fresh signature each time, as Stripe does per attempt). */
export async function deliver(ctx: Ctx, event: StripeEvent): Promise<{ status: number; body: any }> {
  const { payload, header } = sign(event);
  return post(ctx, payload, header);
}

/** Deterministic Fisher–Yates shuffle. */
export function shuffle<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let s = seed >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

export interface PurchaseRow {
  id: number;
  status: string;
  stripe_session_id: string | null;
  stripe_payment_intent_id: string | null;
  last_event_created: number | null;
  report_sent_at: Date | null;
  failure_reason: string | null;
  amount_cents: number;
  tax_cents: number;
  total_cents: number;
  customer_email: string | null;
}

export async function purchase(ctx: Ctx, id: number): Promise<PurchaseRow> {
  const rows = await ctx.db.orm.em.getConnection().execute<PurchaseRow[]>('select * from purchases where id = ?', [id]);
  return rows[0] as PurchaseRow;
}

export async function inbox(ctx: Ctx): Promise<{ event_id: string; type: string; processed_at: Date | null; error: string | null }[]> {
  return ctx.db.orm.em.getConnection().execute('select event_id, type, processed_at, error from webhook_inbox order by event_id');
}

export async function opsEvents(ctx: Ctx, type: string): Promise<{ severity: string; payload: any; dedup_key: string }[]> {
  return ctx.db.orm.em.getConnection().execute('select severity, payload, dedup_key from ops_events where type = ? order by id', [type]);
}

export const sendgridRequests = async (ctx: Ctx) => (await sandboxAdmin(ctx.sandbox.url).stats()).requests.sendgrid;
export const nowSec = () => Math.floor(Date.now() / 1000);
