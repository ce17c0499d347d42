import { generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMetrics } from '../../alerts/metrics.js';
import type { WebhookDeps, WebhookRoute } from '../../bot/webhooks/index.js';
import { sendgridWebhookRoute } from '../../bot/webhooks/sendgrid.js';
import { Business, EMAIL_STATUSES, Email, type EmailStatus } from '../../db/entities/index.js';
import type { Database } from '../../db/orm.js';
import { bounceRate } from '../../domain/queries/email-figures.js';
import { verifySendGridSignature } from '../../domain/delivery/signature.js';
import { canAdvance, STATUS_RANK } from '../../domain/delivery/status.js';
import { emailHash } from '../../domain/delivery/suppression.js';
import type { Services } from '../../domain/services.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { HAVE_REAL_FIXTURES, NO_FIXTURES, realFixture } from '../helpers/fixtures.js';
import { testIf } from '../helpers/preconditions.js';
import { testServices } from '../helpers/services.js';

const FIXTURES = realFixture('sendgrid');
const VECTORS = ['single-event', 'multi-event', 'original-2020'];
const keys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const PUBLIC_KEY = keys.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');

/** `at`: the receiver's time, when a test needs it (the recorded vectors were signed in 2020). */
type Ctx = { db: Database; services: Services; server: http.Server; url: string; key: string | undefined; at?: Date };
const t = suite<Ctx>(`delivery: SendGrid signed event webhook (${DB_KIND})`);

t.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.services = await testServices(ctx.db);
  ctx.key = PUBLIC_KEY;
  const base = ctx.services.config;
  // The route reads deps.config per request, so a getter lets each test choose the verification key.
  const deps: WebhookDeps = {
    get config() {
      return { ...base, delivery: { ...base.delivery, sendgridWebhookPublicKey: ctx.key } };
    },
    logger: ctx.services.logger,
    orm: ctx.db.orm,
    clock: { now: () => ctx.at ?? ctx.services.clock.now() },
    metrics: createMetrics(),
    providers: ctx.services.providers,
  };
  const routes: WebhookRoute[] = [sendgridWebhookRoute(deps)];
  ctx.server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const r = routes.find((x) => x.path === path && x.method.includes(req.method ?? ''));
    if (r) r.handler(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((ok) => ctx.server.listen(0, '127.0.0.1', ok));
  ctx.url = `http://127.0.0.1:${(ctx.server.address() as AddressInfo).port}/webhooks/sendgrid`;
});
t.after(async (ctx) => {
  await new Promise((ok) => ctx.server.close(ok));
  await ctx.services.close();
  await ctx.db.close();
});
t.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  ctx.key = PUBLIC_KEY;
  ctx.at = undefined;
});

const sql = <T>(ctx: Ctx, q: string, p: unknown[] = []) => ctx.db.orm.em.getConnection().execute<T[]>(q, p);
const count = async (ctx: Ctx, table: string) => Number((await sql<{ n: string }>(ctx, `select count(*) as n from ${table}`))[0]!.n);

async function post(ctx: Ctx, body: Buffer | string, headers: Record<string, string>): Promise<{ status: number; json: any }> {
  const res = await fetch(ctx.url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}
function signed(body: string, ts = String(Math.floor(Date.now() / 1000))): Record<string, string> {
  const sig = sign('sha256', Buffer.concat([Buffer.from(ts), Buffer.from(body)]), keys.privateKey).toString('base64');
  return { 'X-Twilio-Email-Event-Webhook-Signature': sig, 'X-Twilio-Email-Event-Webhook-Timestamp': ts };
}
const postEvents = (ctx: Ctx, events: unknown[]) => {
  const body = JSON.stringify(events) + '\r\n';
  return post(ctx, body, signed(body));
};

let seq = 0;
async function sentEmail(ctx: Ctx, to: string, sentAt = new Date(Date.now() - 3600_000)): Promise<{ id: number; msg: string }> {
  const em = ctx.db.orm.em.fork();
  seq++;
  const b = em.create(Business, { yelpId: `w-${seq}`, name: `Biz ${seq}`, status: 'emailed' });
  const msg = `msg${seq}xxxxxxxxxxxxxxxx`.slice(0, 22);
  const e = em.create(Email, { business: b, campaign: 'c', toAddress: to, subject: 's', body: 'b', spamScore: 0, status: 'sent', providerMessageId: msg, sentAt });
  await em.flush();
  return { id: e.id, msg };
}
const statuses = async (ctx: Ctx) => (await sql<{ status: string }>(ctx, 'select status from emails order by id')).map((r) => r.status);

const withVectors = testIf(t, HAVE_REAL_FIXTURES, NO_FIXTURES);
const vectors = HAVE_REAL_FIXTURES
  ? VECTORS.map((name) => ({
      name,
      v: JSON.parse(readFileSync(`${FIXTURES}/signed-event-webhook.vector.${name}.sendgrid-nodejs.json`, 'utf8')),
      body: readFileSync(`${FIXTURES}/signed-event-webhook.vector.${name}.sendgrid-nodejs.body.txt`),
    }))
  : [];

withVectors('the recorded signed vectors verify; a changed byte, timestamp, key or signature does not', () => {
  for (const { name, v, body } of vectors) {
    assert.ok(verifySendGridSignature(v.public_key, v.signature, v.timestamp, body), `${name} verifies`);
    assert.ok(verifySendGridSignature(v.public_key_pem, v.signature, v.timestamp, body), `${name} (PEM key)`);
    const flipped = Buffer.from(body);
    flipped[10] = flipped[10]! ^ 1;
    assert.not.ok(verifySendGridSignature(v.public_key, v.signature, v.timestamp, flipped), `${name}: one changed byte`);
    assert.not.ok(verifySendGridSignature(v.public_key, v.signature, String(Number(v.timestamp) + 1), body), `${name}: timestamp`);
    assert.not.ok(verifySendGridSignature(v.negative_cases_from_spec.wrong_public_key, v.signature, v.timestamp, body), `${name}: key`);
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(body.toString())));
    if (!reserialised.equals(body)) assert.not.ok(verifySendGridSignature(v.public_key, v.signature, v.timestamp, reserialised), `${name}: re-serialised`);
    if (v.negative_cases_from_spec.bad_signature)
      assert.not.ok(verifySendGridSignature(v.public_key, v.negative_cases_from_spec.bad_signature, v.timestamp, body), `${name}: signature`);
    assert.not.ok(verifySendGridSignature(v.public_key, undefined, v.timestamp, body));
    assert.not.ok(verifySendGridSignature('not a key', v.signature, v.timestamp, body));
  }
  const multi = vectors.find((x) => x.name === 'multi-event')!;
  assert.not.ok(verifySendGridSignature(multi.v.public_key, multi.v.signature, multi.v.timestamp, multi.body.subarray(0, -2)), 'without the CRLF');
});

withVectors('over HTTP: tampered posts get 403 and store nothing; the exact recorded bytes are stored', async (ctx) => {
  for (const { name, v, body } of vectors) {
    await truncateAll(ctx.db);
    ctx.key = v.public_key;
    // received a minute after SendGrid signed it: inside the age window (domain/signature-window.ts)
    ctx.at = new Date((Number(v.timestamp) + 60) * 1000);
    const h = v.headers as Record<string, string>;
    const flipped = Buffer.from(body);
    flipped[5] = flipped[5]! ^ 1;
    assert.is((await post(ctx, flipped, h)).status, 403, `${name}: changed byte`);
    assert.is((await post(ctx, body, { ...h, 'X-Twilio-Email-Event-Webhook-Timestamp': String(Number(v.timestamp) - 1) })).status, 403);
    assert.is((await post(ctx, body, {})).status, 403, 'unsigned');
    ctx.key = v.negative_cases_from_spec.wrong_public_key;
    assert.is((await post(ctx, body, h)).status, 403, 'wrong key');
    assert.is(await count(ctx, 'email_events'), 0, 'nothing stored');
    assert.is(await count(ctx, 'email_suppressions'), 0, 'nothing suppressed');
    ctx.key = v.public_key;
    const ok = await post(ctx, body, h);
    assert.is(ok.status, 200, name);
    const n = name === 'multi-event' ? 2 : name === 'single-event' ? 1 : 0;
    assert.is(ok.json.stored, n);
    assert.is(ok.json.unmatched, n);
    assert.is(await count(ctx, 'email_events'), n);
  }
  // single-event is a `dropped` for "Bounced Address": suppressed even though it matches no email of ours
  await truncateAll(ctx.db);
  const single = vectors[0]!;
  ctx.key = single.v.public_key;
  ctx.at = new Date((Number(single.v.timestamp) + 60) * 1000);
  await post(ctx, single.body, single.v.headers);
  const [row] = await sql<{ reason: string }>(ctx, 'select reason from email_suppressions where email_hash = ?', [emailHash('hello@world.com')]);
  assert.is(row?.reason, 'bounce');
});

t('without a key nothing can be verified, so posts are refused and nothing is stored', async (ctx) => {
  ctx.key = undefined;
  const r = await post(ctx, '[{"email":"a@b.co","event":"bounce","timestamp":1700000000}]', {});
  assert.is(r.status, 503);
  const [{ n }] = await ctx.db.orm.em.getConnection().execute<{ n: string }[]>('select count(*) as n from email_events');
  assert.is(Number(n), 0);
  const [{ s }] = await ctx.db.orm.em.getConnection().execute<{ s: string }[]>('select count(*) as s from email_suppressions');
  assert.is(Number(s), 0);
});

function batchFor(a: { id: number; msg: string }, b: { id: number; msg: string }, c: { id: number; msg: string }) {
  const T = 1_700_000_000;
  return [
    { email: 'a@shop.example', event: 'processed', timestamp: T, sg_event_id: 'ev-a1', sg_message_id: `${a.msg}.f1`, email_id: String(a.id) },
    { email: 'a@shop.example', event: 'delivered', timestamp: T + 5, sg_event_id: 'ev-a2', sg_message_id: `${a.msg}.f1`, email_id: String(a.id) },
    { email: 'a@shop.example', event: 'open', timestamp: T + 60, sg_event_id: 'ev-a3', sg_message_id: `${a.msg}.f1`, email_id: String(a.id) },
    { email: 'b@shop.example', event: 'deferred', timestamp: T + 1, sg_event_id: 'ev-b1', sg_message_id: `${b.msg}.f2`, reason: '421 try later' },
    { email: 'b@shop.example', event: 'bounce', type: 'bounce', timestamp: T + 9, sg_event_id: 'ev-b2', sg_message_id: `${b.msg}.f2`, reason: '550 5.1.1 no such user' },
    { email: 'c@shop.example', event: 'delivered', timestamp: T + 2, sg_event_id: 'ev-c1', sg_message_id: `${c.msg}.f3`, email_id: String(c.id) },
    { email: 'c@shop.example', event: 'spamreport', timestamp: T + 90, sg_event_id: 'ev-c2', sg_message_id: `${c.msg}.f3`, email_id: String(c.id) },
    { email: 'a@shop.example', event: 'group_unsubscribe', timestamp: T + 100, asm_group_id: 1, email_id: String(a.id) },
  ];
}
function shuffled<T>(xs: T[], seed: number): T[] {
  const out = [...xs];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
async function snapshot(ctx: Ctx) {
  return {
    emails: await sql(ctx, 'select id, status, bounce_reason, delivered_at, bounced_at, last_event_at from emails order by id'),
    suppressions: await sql(ctx, 'select email_hash, reason from email_suppressions order by email_hash'),
    events: await count(ctx, 'email_events'),
  };
}

t('each delivery three times and in shuffled orders changes state exactly once, to the same final state', async (ctx) => {
  let reference: unknown;
  for (const seed of [0, 1, 2, 3]) {
    await truncateAll(ctx.db);
    const a = await sentEmail(ctx, 'a@shop.example');
    const b = await sentEmail(ctx, 'b@shop.example');
    const c = await sentEmail(ctx, 'c@shop.example');
    const batch = batchFor(a, b, c);
    const order = seed === 0 ? batch : shuffled(batch, seed);
    const first = await postEvents(ctx, order);
    assert.is(first.status, 200);
    assert.is(first.json.stored, 8);
    assert.is(first.json.duplicates, 0);
    const snap = await snapshot(ctx);
    for (let i = 0; i < 2; i++) {
      const again = await postEvents(ctx, shuffled(order, seed + 10 + i));
      assert.equal([again.json.stored, again.json.duplicates, again.json.applied], [0, 8, 0]);
    }
    assert.equal(await snapshot(ctx), snap, 'redeliveries change nothing');
    assert.equal(await statuses(ctx), ['unsubscribed', 'bounced', 'spam_reported']);
    // same for the reference run (ids differ per run: compare without them)
    const norm = JSON.parse(JSON.stringify(snap, (k, v) => (k === 'id' ? undefined : v)));
    if (reference === undefined) reference = norm;
    else assert.equal(norm, reference, `order ${seed} ends in the same state`);
  }
  const [b] = await sql<{ bounce_reason: string }>(ctx, "select bounce_reason from emails where status = 'bounced'");
  assert.is(b!.bounce_reason, '550 5.1.1 no such user');
  const reasons = await sql<{ reason: string }>(ctx, 'select reason from email_suppressions order by reason');
  assert.equal(reasons.map((r) => r.reason), ['bounce', 'spamreport', 'unsubscribe']);
});

t('a copy with a new sg_event_id (same message/event/timestamp/email) is not double-counted; an id-less group_unsubscribe is kept once', async (ctx) => {
  const a = await sentEmail(ctx, 'a@shop.example');
  const ev = { email: 'a@shop.example', event: 'delivered', timestamp: 1_700_000_100, sg_event_id: 'first-id', sg_message_id: `${a.msg}.x` };
  assert.is((await postEvents(ctx, [ev])).json.stored, 1);
  const copy = await postEvents(ctx, [{ ...ev, sg_event_id: 'another-id' }, { ...ev, email: ' A@Shop.Example', sg_event_id: 'third' }]);
  assert.equal([copy.json.stored, copy.json.duplicates], [0, 2]);
  const gu = { email: 'a@shop.example', event: 'group_unsubscribe', timestamp: 1_700_000_200, sg_message_id: `${a.msg}.x`, asm_group_id: 9 };
  assert.is((await postEvents(ctx, [gu, gu])).json.stored, 1);
  assert.is((await postEvents(ctx, [gu])).json.duplicates, 1);
  assert.is(await count(ctx, 'email_events'), 2);
  assert.is(await count(ctx, 'email_suppressions'), 1);
  assert.equal(await statuses(ctx), ['unsubscribed']);
});

t('concurrent redeliveries (and a copy with a new sg_event_id) race: each event is stored once', async (ctx) => {
  const a = await sentEmail(ctx, 'a@shop.example');
  const b = await sentEmail(ctx, 'b@shop.example');
  const c = await sentEmail(ctx, 'c@shop.example');
  const batch = batchFor(a, b, c);
  const copies = batch.map((e) => ('sg_event_id' in e ? { ...e, sg_event_id: `${e.sg_event_id}-copy` } : e));
  const results = await Promise.all([postEvents(ctx, batch), postEvents(ctx, shuffled(batch, 5)), postEvents(ctx, copies)]);
  assert.ok(results.every((r) => r.status === 200));
  assert.is(results.reduce((n, r) => n + r.json.stored, 0), 8);
  assert.is(await count(ctx, 'email_events'), 8);
  assert.is(await count(ctx, 'email_suppressions'), 3);
  assert.equal(await statuses(ctx), ['unsubscribed', 'bounced', 'spam_reported']);
});

t('statuses never move backwards', async (ctx) => {
  for (const from of EMAIL_STATUSES)
    for (const to of EMAIL_STATUSES)
      if (to !== 'deferred' && STATUS_RANK[to] <= STATUS_RANK[from]) assert.not.ok(canAdvance(from, to), `${from} → ${to}`);
  assert.ok(canAdvance('sent', 'deferred'));
  for (const s of EMAIL_STATUSES) if (s !== 'sent') assert.not.ok(canAdvance(s as EmailStatus, 'deferred'), `${s} → deferred`);

  const x = await sentEmail(ctx, 'x@shop.example');
  const y = await sentEmail(ctx, 'y@shop.example');
  const T = 1_700_001_000;
  const e = (who: { msg: string }, to: string, event: string, dt: number, extra = {}) => ({
    email: to, event, timestamp: T + dt, sg_event_id: `${who.msg}-${event}-${dt}`, sg_message_id: `${who.msg}.z`, ...extra,
  });
  // x: bounced first, then a later "delivered" and older processed/deferred arrive: stays bounced
  await postEvents(ctx, [e(x, 'x@shop.example', 'bounce', 20, { type: 'bounce', reason: 'gone' })]);
  await postEvents(ctx, [e(x, 'x@shop.example', 'delivered', 30), e(x, 'x@shop.example', 'processed', 1), e(x, 'x@shop.example', 'deferred', 2, { reason: 'later' })]);
  // y: delivered, then older processed and deferred arrive: stays delivered; a blocked bounce is not suppressed
  await postEvents(ctx, [e(y, 'y@shop.example', 'delivered', 10)]);
  await postEvents(ctx, [e(y, 'y@shop.example', 'processed', 5), e(y, 'y@shop.example', 'deferred', 6)]);
  assert.equal(await statuses(ctx), ['bounced', 'delivered']);
  const [rx] = await sql<{ bounce_reason: string; last_event_at: Date }>(ctx, 'select bounce_reason, last_event_at from emails where id = ?', [x.id]);
  assert.is(rx!.bounce_reason, 'gone');
  assert.is(new Date(rx!.last_event_at).getTime(), (T + 30) * 1000, 'last_event_at only grows');
  await postEvents(ctx, [e(y, 'y@shop.example', 'bounce', 40, { type: 'blocked', reason: '552 over quota' })]);
  assert.equal(await statuses(ctx), ['bounced', 'bounced']);
  assert.is(await count(ctx, 'email_suppressions'), 1, 'only the hard bounce is suppressed');
});

t('bounce rate over 24 h: above 10 % with enough sends records one critical ops event', async (ctx) => {
  const sent: { id: number; msg: string }[] = [];
  for (let i = 0; i < 25; i++) sent.push(await sentEmail(ctx, `r${i}@shop.example`));
  await sentEmail(ctx, 'old@shop.example', new Date(Date.now() - 30 * 3600_000));
  const em = ctx.db.orm.em.fork();
  const settings = ctx.services.config.delivery;
  const bounce = (i: number) => ({ email: `r${i}@shop.example`, event: 'bounce', type: 'bounce', timestamp: 1_700_002_000 + i, sg_event_id: `b${i}`, sg_message_id: `${sent[i]!.msg}.q` });
  await postEvents(ctx, [bounce(0), bounce(1)]);
  let r = await bounceRate(em, new Date(), settings);
  assert.equal([r.sent, r.bounced, r.aboveThreshold], [25, 2, false]);
  assert.is(await count(ctx, 'ops_events'), 0);
  await postEvents(ctx, [bounce(2)]);
  r = await bounceRate(em, new Date(), settings);
  assert.equal([r.sent, r.bounced, r.threshold, r.aboveThreshold], [25, 3, 0.1, true]);
  assert.ok(Math.abs(r.rate - 0.12) < 1e-9);
  await postEvents(ctx, [bounce(3)]);
  const events = await sql<{ type: string; severity: string; payload: any; dedup_key: string }>(ctx, 'select type, severity, payload, dedup_key from ops_events');
  assert.is(events.length, 1, 'one per UTC hour');
  assert.is(events[0]!.type, 'delivery.bounce_rate_high');
  assert.is(events[0]!.severity, 'critical');
  assert.match(events[0]!.dedup_key, /^delivery\.bounce_rate_high:\d{4}-\d\d-\d\dT\d\d$/);
  assert.is(events[0]!.payload.sent, 25);
  // too few sends: 3 of 5 is not judged (BOUNCE_RATE_MIN_SENDS 20)
  const few = await bounceRate(em, new Date(), { bounceRateThreshold: 0.1, bounceRateMinSends: 30 });
  assert.is(few.aboveThreshold, false);
});

t.run();
