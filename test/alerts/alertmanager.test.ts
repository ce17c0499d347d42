/**
 * The Alertmanager webhook over HTTP: intake (bearer token, raw bytes stored in the inbox, idempotent deliveries,
 * processing injected) and end to end through dispatch. Payload parsing and mapping are in
 * alertmanager-payload.test.ts.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMetrics } from '../../alerts/metrics.js';
import type { AlertObservation } from '../../alerts/store.js';
import {
  ALERTMANAGER_WEBHOOK_PATH,
  alertDepsFrom,
  alertmanagerWebhookRoute,
  processPendingAlertmanagerDeliveries,
  type AlertmanagerWebhookRoute,
  type ProcessObservations,
} from '../../bot/webhooks/alertmanager.js';
import type { WebhookDeps } from '../../bot/webhooks/index.js';
import type { Database } from '../../db/orm.js';
import { ManualClock } from '../../domain/clock.js';
import type { Services } from '../../domain/services.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { testServices } from '../helpers/services.js';

const OWN = resolve(import.meta.dirname, '../fixtures/alertmanager');
const TWELVE = 'webhook-v4.firing.12-alerts.prometheus-msteams.json';
const MIXED = 'webhook-v4.firing-and-resolved-mixed.bougou-adapter.json';
const TOKEN = 'am-test-token-0123456789';

const raw = (dir: string, name: string) => readFileSync(`${dir}/${name}`, 'utf8');

// ---------------------------------------------------------------------------------------------------------------
// HTTP intake (database, injected processing)
// ---------------------------------------------------------------------------------------------------------------
type Ctx = {
  db: Database;
  services: Services;
  clock: ManualClock;
  token: string | undefined;
  process: ProcessObservations;
  deps: WebhookDeps;
  server?: http.Server;
  route?: AlertmanagerWebhookRoute;
  url: string;
};

async function serve(ctx: Ctx, route: AlertmanagerWebhookRoute): Promise<void> {
  ctx.route = route;
  ctx.server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === route.path && route.method.includes(req.method ?? '')) route.handler(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((ok) => ctx.server!.listen(0, '127.0.0.1', ok));
  ctx.url = `http://127.0.0.1:${(ctx.server.address() as AddressInfo).port}${ALERTMANAGER_WEBHOOK_PATH}`;
}

async function setup(ctx: Ctx): Promise<void> {
  ctx.db = await freshDatabase();
  ctx.services = await testServices(ctx.db);
  ctx.clock = new ManualClock('2026-03-01T10:00:00Z');
  ctx.token = TOKEN;
  const base = ctx.services.config;
  ctx.deps = {
    // read per request, so a test can remove the token
    get config() {
      return { ...base, alerting: { ...base.alerting, alertmanagerToken: ctx.token } };
    },
    logger: ctx.services.logger,
    orm: ctx.db.orm,
    clock: ctx.clock,
    metrics: createMetrics(),
    providers: ctx.services.providers,
  };
}
async function teardown(ctx: Ctx): Promise<void> {
  await ctx.route?.idle();
  if (ctx.server) await new Promise((ok) => ctx.server!.close(ok));
  await ctx.services.close();
  await ctx.db.close();
}

const post = async (ctx: Ctx, body: string, auth: string | null = `Bearer ${TOKEN}`) => {
  const res = await fetch(ctx.url, { method: 'POST', headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) }, body });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined, headers: res.headers };
};
const sql = <T>(ctx: Ctx, q: string, p: unknown[] = []) => ctx.db.orm.em.getConnection().execute<T[]>(q, p);
type InboxRow = { event_id: string; type: string; processed_at: Date | null; error: string | null; received_at: Date };
const inbox = (ctx: Ctx) => sql<InboxRow>(ctx, `select event_id, type, processed_at, error, received_at from webhook_inbox where provider = 'alertmanager' order by received_at, event_id`);

const intake = suite<Ctx>(`alertmanager: webhook intake (${DB_KIND})`);
const calls: AlertObservation[][] = [];
let gate: Promise<void> = Promise.resolve();
let failNext = false;

intake.before(async (ctx) => {
  await setup(ctx);
  const probe: ProcessObservations = async (_deps, obs) => {
    calls.push(obs);
    await gate;
    if (failNext) {
      failNext = false;
      throw new Error('slack outbox unavailable');
    }
    return { transitions: [], enqueued: 0, incidents: [] };
  };
  await serve(ctx, alertmanagerWebhookRoute(ctx.deps, { process: probe }));
});
intake.after(teardown);
intake.before.each(async (ctx) => {
  await ctx.route!.idle();
  await truncateAll(ctx.db);
  ctx.token = TOKEN;
  calls.length = 0;
  gate = Promise.resolve();
  failNext = false;
});

intake('no token configured: 503 refusing, nothing stored', async (ctx) => {
  ctx.token = undefined;
  const r = await post(ctx, raw(OWN, TWELVE));
  assert.is(r.status, 503);
  assert.match(r.json.error, 'ALERTMANAGER_TOKEN');
  assert.is((await inbox(ctx)).length, 0);
});

intake('missing or wrong bearer token: 401, nothing stored', async (ctx) => {
  const missing = await post(ctx, raw(OWN, TWELVE), null);
  assert.is(missing.status, 401);
  assert.is(missing.json.error, 'missing bearer token');
  assert.match(missing.headers.get('www-authenticate') ?? '', 'Bearer');
  assert.is((await post(ctx, raw(OWN, TWELVE), 'Bearer wrong-token')).status, 401);
  assert.is((await post(ctx, raw(OWN, TWELVE), `Basic ${TOKEN}`)).status, 401);
  assert.is((await inbox(ctx)).length, 0);
  assert.is(calls.length, 0);
});

intake('bad JSON → 400; a JSON body that is not a v4 payload → 400 naming the field; nothing stored in the inbox (each dead-lettered)', async (ctx) => {
  const notJson = await post(ctx, '{"version": "4", ');
  assert.is(notJson.status, 400);
  assert.is(notJson.json.error, 'body is not JSON');
  const p = JSON.parse(raw(OWN, MIXED));
  p.alerts[0].startsAt = 42;
  const shape = await post(ctx, JSON.stringify(p));
  assert.is(shape.status, 400);
  assert.match(shape.json.error, 'not an Alertmanager v4 payload');
  assert.match(shape.json.error, 'alerts.0.startsAt');
  assert.is((await post(ctx, JSON.stringify({ version: '4' }))).status, 400);
  assert.is((await inbox(ctx)).length, 0);
});

intake('a body past the size limit → 413', async (ctx) => {
  const r = await post(ctx, `{"pad":"${'x'.repeat(5_000_001)}"}`);
  assert.is(r.status, 413);
  assert.is((await inbox(ctx)).length, 0);
});

intake('good payload: 200 at once while processing is still blocked; the inbox row is stored, then marked processed', async (ctx) => {
  let release!: () => void;
  gate = new Promise<void>((ok) => (release = ok));
  const t0 = Date.now();
  const r = await post(ctx, raw(OWN, TWELVE));
  const ms = Date.now() - t0;
  assert.is(r.status, 200);
  assert.equal(r.json, { received: true, duplicate: false, alerts: 12 });
  assert.ok(ms < 1000, `answered in ${ms} ms with processing blocked`);
  const before = await inbox(ctx);
  assert.is(before.length, 1);
  assert.is(before[0]!.type, 'alertmanager.firing');
  assert.match(before[0]!.event_id, /^[0-9a-f]{64}$/);
  assert.is(before[0]!.processed_at, null, 'not processed before the answer');
  assert.is(new Date(before[0]!.received_at).toISOString(), '2026-03-01T10:00:00.000Z');
  release();
  await ctx.route!.idle();
  assert.is(calls.length, 1);
  assert.is(calls[0]!.length, 12);
  assert.ok(calls[0]!.every((o) => o.status === 'firing' && o.source === 'alertmanager'));
  const after = await inbox(ctx);
  assert.ok(after[0]!.processed_at, 'processed_at set');
  assert.is(after[0]!.error, null);
});

intake('the same payload twice: one inbox row, processed once', async (ctx) => {
  const body = raw(OWN, MIXED);
  const a = await post(ctx, body);
  const b = await post(ctx, body);
  assert.is(a.status, 200);
  assert.is(b.status, 200);
  assert.is(a.json.duplicate, false);
  assert.is(b.json.duplicate, true);
  await ctx.route!.idle();
  assert.is((await inbox(ctx)).length, 1);
  assert.is(calls.length, 1, 'processed once');
  assert.equal(calls[0]!.map((o) => o.status), ['firing', 'resolved', 'firing', 'firing'], 'each alert on its own status');
  // a third resend after processing is still one row and no processing
  assert.is((await post(ctx, body)).json.duplicate, true);
  await ctx.route!.idle();
  assert.is(calls.length, 1);
});

intake('processing failure: the row keeps the error; start-up processes rows older than a minute again', async (ctx) => {
  failNext = true;
  assert.is((await post(ctx, raw(OWN, MIXED))).status, 200, 'still answered 200: stored');
  await ctx.route!.idle();
  let rows = await inbox(ctx);
  assert.is(rows[0]!.processed_at, null);
  assert.is(rows[0]!.error, 'slack outbox unavailable');

  // a delivery received just now (e.g. still being processed by the previous process) is left alone
  ctx.clock.advance(30_000);
  const alertDeps = alertDepsFrom(ctx.deps);
  const seen: AlertObservation[][] = [];
  const probe: ProcessObservations = async (_d, obs) => void seen.push(obs);
  assert.equal(await processPendingAlertmanagerDeliveries(alertDeps, { process: probe }), []);
  ctx.clock.advance(31_000);
  const out = await processPendingAlertmanagerDeliveries(alertDeps, { process: probe });
  assert.is(out.length, 1);
  assert.is(out[0]!.outcome, 'processed');
  assert.is(seen[0]!.length, 4);
  rows = await inbox(ctx);
  assert.ok(rows[0]!.processed_at);
  assert.is(rows[0]!.error, null);
  assert.equal(await processPendingAlertmanagerDeliveries(alertDeps, { process: probe }), [], 'nothing left');
});

intake.run();

// ---------------------------------------------------------------------------------------------------------------
// End to end through alerts/dispatch.ts (real processing, Slack outbox)
// ---------------------------------------------------------------------------------------------------------------
const e2e = suite<Ctx>(`alertmanager: end to end through dispatch (${DB_KIND})`);
type OutboxRow = { kind: string; channel: string; ref: string | null; text: string };

e2e.before(async (ctx) => {
  await setup(ctx);
  await serve(ctx, alertmanagerWebhookRoute(ctx.deps));
});
e2e.after(teardown);
e2e.before.each(async (ctx) => {
  await ctx.route!.idle();
  await truncateAll(ctx.db);
});
const outbox = (ctx: Ctx) =>
  sql<OutboxRow>(ctx, `select kind, channel, ref, text from slack_outbox where channel = ? order by id`, [ctx.deps.config.alerting.alertsChannel]);
const deliver = async (ctx: Ctx, body: string) => {
  const r = await post(ctx, body);
  assert.is(r.status, 200);
  await ctx.route!.idle();
  const rows = await inbox(ctx);
  assert.ok(rows.every((x) => x.processed_at && !x.error), `processed without error: ${rows.map((x) => x.error).join(', ')}`);
};

e2e('12 firing alerts of one group → ONE post in the alerts channel; a resend → no new post', async (ctx) => {
  const body = raw(OWN, TWELVE);
  await deliver(ctx, body);
  let rows = await outbox(ctx);
  assert.is(rows.length, 1, `one outbox entry: ${rows.map((r) => r.kind).join(',')}`);
  assert.is(rows[0]!.kind, 'post');
  assert.is(rows[0]!.channel, ctx.deps.config.alerting.alertsChannel);
  const alerts = await sql<{ status: string; message_ref: string }>(ctx, `select status, message_ref from alerts where source = 'alertmanager'`);
  assert.is(alerts.length, 12);
  assert.ok(alerts.every((a) => a.status === 'firing' && a.message_ref === rows[0]!.ref), 'the 12 alerts are shown in that one message');

  await deliver(ctx, body); // byte-identical resend (AM timed out)
  ctx.clock.advance(1000);
  const peer = JSON.parse(body);
  peer.externalURL = 'http://alertmanager-2:9093'; // an HA peer: same alerts, other bytes (prometheus/alertmanager#2657)
  await deliver(ctx, JSON.stringify(peer));
  assert.is((await inbox(ctx)).length, 2, 'two distinct deliveries stored');
  rows = await outbox(ctx);
  assert.is(rows.filter((r) => r.kind === 'post').length, 1, 'still one post');
  assert.is(rows.length, 1, 'and no update: nothing changed');
});

e2e('two HA peers posting the same group at the same moment (different bytes) → one post', async (ctx) => {
  const a = JSON.parse(raw(OWN, TWELVE));
  const b = { ...a, externalURL: 'http://alertmanager-2:9093' };
  const answers = await Promise.all([post(ctx, JSON.stringify(a)), post(ctx, JSON.stringify(b))]);
  assert.equal(answers.map((r) => r.status), [200, 200]);
  await ctx.route!.idle();
  assert.is((await inbox(ctx)).filter((r) => r.processed_at).length, 2);
  const rows = await outbox(ctx);
  assert.is(rows.length, 1);
  assert.is(rows[0]!.kind, 'post');
});

e2e('a resolved payload for alerts never seen firing, into an empty database → no post (prometheus/alertmanager#878, #1755)', async (ctx) => {
  const p = JSON.parse(raw(OWN, TWELVE));
  p.status = 'resolved';
  for (const a of p.alerts) {
    a.status = 'resolved';
    a.endsAt = '2018-03-07T07:33:21.873077559-05:00';
  }
  await deliver(ctx, JSON.stringify(p));
  await deliver(ctx, raw(OWN, 'webhook-v4.resolved.3-alerts.alertmonitor.json'));
  assert.equal(await sql(ctx, 'select * from slack_outbox'), [], 'nothing to Slack at all');
  const alerts = await sql<{ status: string }>(ctx, 'select status from alerts');
  assert.ok(alerts.length >= 12 && alerts.every((a) => a.status === 'resolved'), 'recorded as resolved');
});

e2e('mixed firing/resolved group: only the resolved alert is resolved; one post for the group', async (ctx) => {
  await deliver(ctx, raw(OWN, MIXED));
  const alerts = await sql<{ name: string; status: string }>(ctx, `select name, status from alerts order by id`);
  assert.equal(alerts.map((a) => a.status), ['firing', 'resolved', 'firing', 'firing']);
  const posts = (await outbox(ctx)).filter((r) => r.kind === 'post');
  assert.is(posts.length, 1);
});

e2e('the group later resolving one alert: no second post (a thread reply and an in-place update instead)', async (ctx) => {
  const body = JSON.parse(raw(OWN, TWELVE));
  await deliver(ctx, JSON.stringify(body));
  ctx.clock.advance(5 * 60_000);
  body.alerts[0].status = 'resolved';
  body.alerts[0].endsAt = '2018-03-07T06:43:21.873077559-05:00';
  await deliver(ctx, JSON.stringify(body)); // top-level status still "firing"
  const rows = await outbox(ctx);
  assert.is(rows.filter((r) => r.kind === 'post').length, 1);
  assert.is(rows.filter((r) => r.kind === 'reply').length, 1, 'resolution reply');
  assert.is(rows.filter((r) => r.kind === 'update').length, 1, 'message updated in place');
  assert.ok(rows.every((r) => r.ref === rows[0]!.ref), 'all on the group message');
  const firing = await sql<{ n: number }>(ctx, `select count(*)::int as n from alerts where status = 'firing'`);
  assert.is(firing[0]!.n, 11);
});

e2e.run();
