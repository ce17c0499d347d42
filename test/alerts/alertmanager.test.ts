import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  AlertmanagerPayloadSchema,
  alertRunbook,
  labelsFingerprint,
  mapSeverity,
  parseAlertmanagerPayload,
  toObservations,
  type AlertmanagerPayload,
} from '../../alerts/alertmanager.js';
import { createMetrics } from '../../alerts/metrics.js';
import { alertIdentity } from '../../alerts/source.js';
import type { AlertObservation } from '../../alerts/store.js';
import {
  ALERTMANAGER_WEBHOOK_PATH,
  alertDepsFrom,
  alertmanagerWebhookRoute,
  bearerMatches,
  processPendingAlertmanagerDeliveries,
  type AlertmanagerWebhookRoute,
  type ProcessObservations,
} from '../../bot/webhooks/alertmanager.js';
import type { WebhookDeps } from '../../bot/webhooks/index.js';
import type { Database } from '../../db/orm.js';
import { ManualClock } from '../../domain/clock.js';
import type { Services } from '../../domain/services.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { HAVE_REAL_FIXTURES, NO_FIXTURES, realFixture } from '../helpers/fixtures.js';
import { testIf } from '../helpers/preconditions.js';
import { testServices } from '../helpers/services.js';

const SHARED = realFixture('alertmanager');
const OWN = resolve(import.meta.dirname, '../fixtures/alertmanager');
const TWELVE = 'webhook-v4.firing.12-alerts.prometheus-msteams.json';
const MIXED = 'webhook-v4.firing-and-resolved-mixed.bougou-adapter.json';
const TOKEN = 'am-test-token-0123456789';

const raw = (dir: string, name: string) => readFileSync(`${dir}/${name}`, 'utf8');
const payloadOf = (text: string): AlertmanagerPayload => {
  const r = parseAlertmanagerPayload(JSON.parse(text));
  if (!r.ok) throw new Error(r.error);
  return r.payload;
};

// ---------------------------------------------------------------------------------------------------------------
// Parsing and mapping (no database)
// ---------------------------------------------------------------------------------------------------------------
const parse = suite('alertmanager: v4 payload schema and toObservations');

parse("the project's own recorded payloads parse and map", () => {
  const files = readdirSync(OWN).filter((f) => f.endsWith('.json'));
  assert.ok(files.length >= 2, 'own fixtures present');
  for (const f of files) {
    const r = parseAlertmanagerPayload(JSON.parse(raw(OWN, f)));
    assert.ok(r.ok, `${f}: ${r.ok ? '' : r.error}`);
    if (r.ok) assert.is(toObservations(r.payload).length, r.payload.alerts.length, f);
  }
});

const withShared = testIf(parse, HAVE_REAL_FIXTURES, NO_FIXTURES);

withShared('every recorded Alertmanager payload parses and maps one observation per alert', () => {
  const files = readdirSync(SHARED).filter((f) => f.endsWith('.json'));
  assert.ok(files.length >= 8, `recorded payloads: ${files.length}`);
  for (const f of files) {
    const r = parseAlertmanagerPayload(JSON.parse(raw(SHARED, f)));
    assert.ok(r.ok, `${f}: ${r.ok ? '' : r.error}`);
    if (!r.ok) continue;
    const obs = toObservations(r.payload, new Date('2026-01-01T00:00:00Z'));
    assert.is(obs.length, r.payload.alerts.length, f);
    assert.is(new Set(obs.map((o) => o.fingerprint)).size, obs.length, `${f}: one fingerprint per alert`);
    for (const o of obs) {
      assert.is(o.source, 'alertmanager');
      assert.is(o.groupKey, r.payload.groupKey);
      assert.ok(['critical', 'warning', 'info'].includes(o.severity));
      assert.ok(!Number.isNaN(o.startsAt.getTime()) && o.startsAt.getUTCFullYear() > 2000, `${f}: startsAt`);
    }
    // the recorded files say in their name whether they fire or resolve
    if (f.includes('.firing.')) assert.ok(obs.every((o) => o.status === 'firing'), `${f}: all firing`);
    if (f.includes('.resolved.')) assert.ok(obs.every((o) => o.status === 'resolved'), `${f}: all resolved`);
  }
});

withShared('recorded details: a firing alert keeps no endsAt (AM resolve-timeout guess); zero endsAt on a resolved alert is unset; "major" is critical', () => {
  const bot = toObservations(payloadOf(raw(SHARED, 'webhook-v4.firing.alertmanager-bot.json')), new Date('2026-01-01T00:00:00Z'));
  assert.is(bot[0]!.status, 'firing', 'own status, though endsAt (2018) is past');
  assert.is(bot[0]!.endsAt, undefined);
  assert.is(bot[0]!.name, 'Fire');
  assert.is(bot[0]!.severity, 'critical');
  const botResolved = toObservations(payloadOf(raw(SHARED, 'webhook-v4.resolved.alertmanager-bot.json')));
  assert.is(botResolved[0]!.fingerprint, bot[0]!.fingerprint, 'the same alert (label fingerprint) fires and resolves');
  assert.is(botResolved[0]!.endsAt?.toISOString(), '2018-11-04T21:48:13.283Z');
  const resolved = toObservations(payloadOf(raw(SHARED, 'webhook-v4.resolved.3-alerts.alertmonitor.json')));
  assert.ok(resolved.every((o) => o.status === 'resolved' && o.endsAt === undefined && o.severity === 'critical'));
  const firing = toObservations(payloadOf(raw(SHARED, 'webhook-v4.firing.3-alerts.alertmonitor.json')));
  assert.equal(firing.map((o) => o.fingerprint), resolved.map((o) => o.fingerprint), 'firing and resolved deliveries name the same alerts');
});

parse('12 alerts in one group: 12 firing observations, distinct fingerprints, the group key, severity default warning', () => {
  const p = payloadOf(raw(OWN, TWELVE));
  assert.is(p.truncatedAlerts, 0, 'absent truncatedAlerts defaults to 0');
  const obs = toObservations(p);
  assert.is(obs.length, 12);
  assert.is(new Set(obs.map((o) => o.fingerprint)).size, 12);
  assert.ok(obs.every((o) => o.status === 'firing' && o.groupKey === '{}:{alertname="high_memory_load"}' && o.severity === 'warning'));
  assert.equal(obs.slice(0, 3).map((o) => o.name), ['high_memory_load', 'high_memory_load2', 'high_memory_load3']);
  assert.is(obs[0]!.startsAt.toISOString(), '2018-03-07T11:33:21.873Z', 'nanoseconds and offset parsed');
  assert.is(obs[0]!.annotations.summary, 'Server High Memory usage');
  assert.is(obs[0]!.fingerprint, alertIdentity('high_memory_load', {}), 'the identity: name + labels, whoever evaluated it');
});

parse('mixed firing/resolved group under a top-level "firing": only the resolved alert is resolved', () => {
  const p = payloadOf(raw(OWN, MIXED));
  assert.is(p.status, 'firing');
  const obs = toObservations(p);
  assert.equal(obs.map((o) => o.status), ['firing', 'resolved', 'firing', 'firing']);
  assert.equal(obs.map((o) => o.severity), ['warning', 'warning', 'critical', 'info']);
  assert.is(obs[1]!.endsAt?.toISOString(), '2021-03-30T13:17:50.814Z', 'resolved alert keeps its endsAt');
  assert.ok(obs.filter((o) => o.status === 'firing').every((o) => o.endsAt === undefined), 'zero endsAt is unset');
  // the relay sent one constant fingerprint for four different label sets: the identity never uses it
  assert.is(new Set(obs.map((o) => o.fingerprint)).size, 4, 'four label sets, four identities');
  assert.ok(obs.every((o, i) => o.fingerprint === alertIdentity(o.name, p.alerts[i]!.labels)));
});

parse("the payload's fingerprint does not decide identity: name + sorted labels do (issue #14)", () => {
  const p = payloadOf(raw(OWN, MIXED));
  const single = { ...p, alerts: [p.alerts[0]!, { ...p.alerts[1]!, fingerprint: 'abcdef0123456789' }] };
  const obs = toObservations(single);
  assert.is(obs[1]!.fingerprint, alertIdentity(obs[1]!.name, p.alerts[1]!.labels));
  assert.is.not(obs[1]!.fingerprint, 'abcdef0123456789');
});

parse('labelsFingerprint is Alertmanager\'s (prometheus/common model.LabelSet.Fingerprint test vectors)', () => {
  assert.is(BigInt(`0x${labelsFingerprint({})}`).toString(), '14695981039346656037');
  assert.is(BigInt(`0x${labelsFingerprint({ name: 'garland, briggs', fear: 'love is not enough' })}`).toString(), '5799056148416392346');
  assert.is(labelsFingerprint({ a: '1', b: '2' }), labelsFingerprint({ b: '2', a: '1' }), 'label order does not matter');
});

parse('an alert without a status: resolved only when endsAt is set and past (AM Resolved())', () => {
  const base = { labels: { alertname: 'X' }, annotations: {}, startsAt: '2026-01-01T00:00:00Z' };
  const p = AlertmanagerPayloadSchema.parse({
    version: '4',
    groupKey: 'g',
    status: 'firing',
    alerts: [
      { ...base, endsAt: '0001-01-01T00:00:00Z' },
      { ...base, labels: { alertname: 'Y' }, endsAt: '2026-01-01T00:10:00Z' },
      { ...base, labels: { alertname: 'Z' }, endsAt: '2026-01-01T02:00:00Z' },
    ],
  });
  assert.equal(toObservations(p, new Date('2026-01-01T01:00:00Z')).map((o) => o.status), ['firing', 'resolved', 'firing']);
});

parse('severity words map to critical | warning | info, default warning', () => {
  assert.is(mapSeverity('critical'), 'critical');
  assert.is(mapSeverity('Major'), 'critical');
  assert.is(mapSeverity('page'), 'critical');
  assert.is(mapSeverity('warning'), 'warning');
  assert.is(mapSeverity('minor'), 'warning');
  assert.is(mapSeverity('info'), 'info');
  assert.is(mapSeverity('informational'), 'info');
  assert.is(mapSeverity(undefined), 'warning');
  assert.is(mapSeverity('whatever'), 'warning');
});

parse('runbook: a label or annotation naming a runbook, else the internal rule of the same name, else none', () => {
  assert.is(alertRunbook({ alertname: 'X', runbook: 'email' }, {}), 'email-delivery', 'label, by alias');
  assert.is(alertRunbook({ alertname: 'X' }, { runbook_id: 'payment-issues' }), 'payment-issues');
  assert.is(alertRunbook({ alertname: 'X' }, { runbook: 'DB' }), 'database-performance');
  assert.is(alertRunbook({ alertname: 'X' }, { runbook_url: 'https://wiki.example/runbooks/memory-resources.md' }), 'memory-resources', 'URL by its last segment');
  assert.is(alertRunbook({ alertname: 'HighBounceRate' }, { runbook: 'https://github.com/bzon/prometheus-msteams' }), 'email-delivery', 'a URL naming no runbook: the rule');
  assert.is(alertRunbook({ alertname: 'CircuitBreakerOpen', runbook: 'nope' }, {}), 'external-apis');
  assert.is(alertRunbook({ alertname: 'high_memory_load' }, { runbook: 'https://github.com/bzon/prometheus-msteams' }), undefined);
  const obs = toObservations(AlertmanagerPayloadSchema.parse({ version: '4', groupKey: 'g', status: 'firing', alerts: [{ labels: { alertname: 'PipelineDown' }, startsAt: '2026-01-01T00:00:00Z' }] }));
  assert.is(obs[0]!.runbook, 'pipeline-not-processing');
});

parse('invalid payloads are refused with the field named', () => {
  const good = JSON.parse(raw(OWN, MIXED));
  const bad = (mutate: (p: any) => void) => {
    const p = structuredClone(good);
    mutate(p);
    const r = parseAlertmanagerPayload(p);
    assert.not.ok(r.ok);
    return r.ok ? '' : r.error;
  };
  assert.match(bad((p) => (p.version = '3')), 'version');
  assert.match(bad((p) => delete p.groupKey), 'groupKey');
  assert.match(bad((p) => (p.alerts = {})), 'alerts');
  assert.match(bad((p) => (p.alerts[1].status = 'gone')), 'alerts.1.status');
  assert.match(bad((p) => (p.alerts[0].labels.n = 5)), 'alerts.0.labels.n');
  assert.match(bad((p) => (p.alerts[2].startsAt = 'yesterday')), 'alerts.2.startsAt');
  assert.not.ok(parseAlertmanagerPayload([]).ok);
});

parse('bearer token check', () => {
  assert.ok(bearerMatches(`Bearer ${TOKEN}`, TOKEN));
  assert.ok(bearerMatches(`bearer ${TOKEN}`, TOKEN), 'scheme is case-insensitive');
  assert.not.ok(bearerMatches(`Bearer ${TOKEN}x`, TOKEN));
  assert.not.ok(bearerMatches(`Basic ${TOKEN}`, TOKEN));
  assert.not.ok(bearerMatches(undefined, TOKEN));
  assert.not.ok(bearerMatches('Bearer ', TOKEN));
});

parse.run();

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
