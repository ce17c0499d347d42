/**
 * Acknowledgements coming back from PagerDuty (signed v3 webhooks) and Opsgenie (Webhook integration, bearer token),
 * on the real database, through the real routes served over HTTP: the sandbox plays a person acknowledging in
 * PagerDuty/Opsgenie and POSTs the provider's webhook (signed with the subscription secret) to our route, and it
 * echoes our own acknowledge/close back as the real providers do. Recorded deliveries (test/fixtures/pagerduty,
 * opsgenie) are posted too, signed over the exact bytes sent.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { acknowledgeIncident, declareIncident, escalateIncident } from '../../alerts/incidents.js';
import { createMetrics, type Metrics } from '../../alerts/metrics.js';
import { deliverDuePages, type PageDispatcherDeps } from '../../alerts/paging/dispatcher.js';
import { incidentKey } from '../../alerts/paging/enqueue.js';
import { parseOpsgenieWebhook, parsePagerDutyWebhook } from '../../alerts/paging/inbound.js';
import type { WebhookDeps, WebhookRoute } from '../../bot/webhooks/index.js';
import { opsgenieWebhookRoute, OPSGENIE_WEBHOOK_PATH } from '../../bot/webhooks/opsgenie.js';
import { pagerdutyWebhookRoute, PAGERDUTY_WEBHOOK_PATH } from '../../bot/webhooks/pagerduty.js';
import type { Database } from '../../db/orm.js';
import { ManualClock } from '../../domain/clock.js';
import { createLogger } from '../../domain/logger.js';
import { pagingClientsFor } from '../../domain/providers/paging/http.js';
import { signPagerDuty, verifyPagerDutySignature } from '../../domain/providers/paging/signature.js';
import type { Services } from '../../domain/services.js';
import type { Actor } from '../../runbooks/actions.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { testServices } from '../helpers/services.js';

const SECRET = 'pd-subscription-secret-0123456789abcdef';
const TOKEN = 'og-webhook-token-0123456789';
const OWN = resolve(import.meta.dirname, '../fixtures');
const fixture = (name: string) => readFileSync(resolve(OWN, name), 'utf8');
const OPERATOR: Actor = { id: 'slack:UOPER0001', role: 'operator', source: 'slack', display: '<@UOPER0001>' };

// ---------------------------------------------------------------------------------------------------------------
// Signatures and parsing (no database)
// ---------------------------------------------------------------------------------------------------------------
const unit = suite('paging webhooks: PagerDuty signatures and both providers’ bodies');

unit('the recorded PagerDuty signature vectors verify, and their negative cases do not', () => {
  for (const name of ['webhook-v3.signature.vector.go-pagerduty', 'webhook-v3.signature.vector.ping.aldaviva']) {
    const v = JSON.parse(fixture(`pagerduty/${name}.json`)) as { secret: string; valid_header: string; negative_cases: { header: string; body?: string }[] };
    const body = Buffer.from(fixture(`pagerduty/${name}.body.txt`), 'utf8');
    assert.ok(verifyPagerDutySignature(body, v.valid_header, v.secret), name);
    assert.is(signPagerDuty(body, v.secret), v.valid_header, `${name}: we sign as PagerDuty does`);
    for (const n of v.negative_cases) assert.not.ok(verifyPagerDutySignature(n.body !== undefined ? Buffer.from(n.body) : body, n.header, v.secret), `${name}: ${n.header}`);
    // during a secret rotation PagerDuty lists several signatures: any match accepts
    assert.ok(verifyPagerDutySignature(body, `v1=${'0'.repeat(64)}, ${v.valid_header}`, v.secret), `${name}: second of two`);
    assert.not.ok(verifyPagerDutySignature(body, v.valid_header, `${v.secret}x`), `${name}: other secret`);
  }
});

unit('recorded PagerDuty and Opsgenie deliveries parse into the action they ask for', () => {
  const ack = parsePagerDutyWebhook(JSON.parse(fixture('pagerduty/webhook-v3.incident.acknowledged.aldaviva.json')));
  assert.ok(ack.ok);
  if (ack.ok) assert.equal(ack.event, { provider: 'pagerduty', eventId: '01FKZSRAQJLP9S3OPM2VALGUPJ', type: 'incident.acknowledged', action: 'acknowledge', key: 'dfead9d88e0649e8b7dee514b1875756', externalId: 'Q2CKYRLH85UNN4', agent: 'Example User' });
  const res = parsePagerDutyWebhook(JSON.parse(fixture('pagerduty/webhook-v3.incident.resolved.aldaviva.json')));
  assert.is(res.ok && res.event.action, 'resolve');
  const ping = parsePagerDutyWebhook(JSON.parse(fixture('pagerduty/webhook-v3.signature.vector.ping.aldaviva.body.txt')));
  assert.ok(ping.ok && ping.event.action === undefined && ping.event.agent === 'PVE0ZR9', 'a ping asks nothing');
  assert.not.ok(parsePagerDutyWebhook({ messages: [] }).ok, 'a v2 webhook body is refused');
  const raw = fixture('opsgenie/webhook.acknowledge.opsgenie-docs.json');
  const og = parseOpsgenieWebhook(JSON.parse(raw), Buffer.from(raw));
  assert.ok(og.ok);
  if (og.ok) {
    assert.is(og.event.action, 'acknowledge');
    assert.is(og.event.key, 'aliastest');
    assert.is(og.event.externalId, '052652ac-5d1c-464a-812a-7dd18bbfba8c');
    assert.is(og.event.agent, 'user@example.com');
    assert.match(og.event.eventId, /^052652ac-5d1c-464a-812a-7dd18bbfba8c:Acknowledge:\d+$/);
  }
  const close = parseOpsgenieWebhook({ ...JSON.parse(raw), action: 'Close' }, Buffer.from(raw));
  assert.is(close.ok && close.event.action, 'resolve');
  const un = parseOpsgenieWebhook({ ...JSON.parse(raw), action: 'UnAcknowledge' }, Buffer.from(raw));
  assert.is(un.ok && un.event.action, undefined);
});

unit.run();

// ---------------------------------------------------------------------------------------------------------------
// End to end on PostgreSQL
// ---------------------------------------------------------------------------------------------------------------
type Ctx = { db: Database; services: Services; clock: ManualClock; metrics: Metrics; deps: WebhookDeps; server?: http.Server; origin: string; secret: string | undefined };
const test = suite<Ctx>(`paging webhooks: acknowledgements from PagerDuty and Opsgenie (${DB_KIND})`);

test.before(async (c) => {
  c.db = await freshDatabase();
  c.clock = new ManualClock('2026-03-02T09:30:00Z');
  c.services = await testServices(c.db, { SLACK_INCIDENTS_CHANNEL: '#inc', PAGERDUTY_WEBHOOK_SECRET: SECRET, OPSGENIE_WEBHOOK_TOKEN: TOKEN }, { clock: c.clock });
  c.metrics = createMetrics();
  c.secret = SECRET;
  const base = c.services.config;
  c.deps = {
    // read per request, so a test can remove the secret
    get config() {
      return { ...base, oncall: { ...base.oncall, pagerduty: { ...base.oncall.pagerduty, inboundSecret: c.secret } } };
    },
    logger: c.services.logger,
    orm: c.db.orm,
    clock: c.clock,
    metrics: c.metrics,
    providers: c.services.providers,
  };
  const routes: WebhookRoute[] = [pagerdutyWebhookRoute(c.deps), opsgenieWebhookRoute(c.deps)];
  c.server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const route = routes.find((r) => r.path === path && r.method.includes(req.method ?? ''));
    if (route) route.handler(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((ok) => c.server!.listen(0, '127.0.0.1', ok));
  c.origin = `http://127.0.0.1:${(c.server.address() as AddressInfo).port}`;
});
test.after(async (c) => {
  if (c.server) await new Promise((ok) => c.server!.close(ok));
  await c.services?.close();
  await c.db?.close();
});
test.before.each(async (c) => {
  c.secret = SECRET;
  await truncateAll(c.db);
  await fetch(`${c.services.sandboxUrl}/sandbox/paging`, { method: 'DELETE' });
  await sandbox(c, 'PUT', '/sandbox/paging/webhooks', { pagerduty: { url: `${c.origin}${PAGERDUTY_WEBHOOK_PATH}`, secret: SECRET }, opsgenie: { url: `${c.origin}${OPSGENIE_WEBHOOK_PATH}`, token: TOKEN } });
});

const em = (c: Ctx) => c.db.orm.em.fork();
const sql = <T>(c: Ctx, q: string, p: unknown[] = []) => c.db.orm.em.getConnection().execute<T[]>(q, p);
const deps = (c: Ctx): PageDispatcherDeps => ({ em: () => em(c), clock: c.clock, logger: createLogger('silent'), clients: pagingClientsFor(c.services.config, c.services.sandboxUrl), sendgrid: c.services.providers.sendgrid, from: 'ops@leadfactory.example' });
async function sandbox<T = Record<string, unknown>>(c: Ctx, method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const res = await fetch(`${c.services.sandboxUrl}${path}`, { method, headers: { 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, json: (await res.json()) as T };
}
type Recorded = {
  pagerduty: { calls: { body: Record<string, unknown> }[]; incidents: Record<string, { status: string; id: string }> };
  opsgenie: { calls: { path: string }[]; alerts: Record<string, { status: string }> };
  webhooks: { provider: string; type: string; status: number; body: string }[];
};
/** Delivers the paging outbox, then waits for the webhooks the sandbox echoes back. */
async function drain(c: Ctx): Promise<Recorded> {
  for (let i = 0; i < 5; i++) if ((await deliverDuePages(deps(c), c.clock.now())).sent === 0) break;
  await sandbox(c, 'POST', '/sandbox/paging/settle');
  return (await sandbox<Recorded>(c, 'GET', '/sandbox/paging')).json;
}
async function postSigned(c: Ctx, body: string, signature = signPagerDuty(body, SECRET)) {
  const res = await fetch(`${c.origin}${PAGERDUTY_WEBHOOK_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-pagerduty-signature': signature }, body });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}
const incident = async (c: Ctx, id: number) => (await sql<{ status: string; acknowledged_by: string | null; resolved_by: string | null }>(c, 'select status, acknowledged_by, resolved_by from incidents where id = ?', [id]))[0]!;
const events = (c: Ctx, id: number) => sql<{ kind: string; actor: string; data: Record<string, unknown> }>(c, `select kind, actor, data from incident_events where incident_id = ? order by id`, [id]);
const ogPaths = (r: Recorded) => r.opsgenie.calls.map((x) => x.path.replace(/\?.*/, '').replace(/^\/opsgenie\/v2\/alerts\/?/, '') || 'create');
async function declared(c: Ctx, title = 'Yelp is down') {
  const inc = await declareIncident(em(c), { title, severity: 'SEV1', declaredBy: 'alert:X', provider: 'yelp' }, c.clock.now(), c.services.config);
  await drain(c);
  return inc;
}

test('an acknowledgement in PagerDuty (signed v3 webhook) acknowledges ours once; Opsgenie is told once, PagerDuty never', async (c) => {
  const inc = await declared(c);
  const key = incidentKey(inc.id);
  const acked = await sandbox<{ webhook: { status: number; body: string } }>(c, 'POST', `/sandbox/paging/pagerduty/incidents/${key}/acknowledge`, { agent: 'Example User' });
  assert.is(acked.status, 200);
  assert.is(acked.json.webhook.status, 200, acked.json.webhook.body);
  assert.equal(JSON.parse(acked.json.webhook.body), { received: true, outcome: 'acknowledged', incident: inc.id });
  const row = await incident(c, inc.id);
  assert.is(row.status, 'acknowledged');
  assert.is(row.acknowledged_by, 'pagerduty:Example User');
  const r = await drain(c);
  assert.equal(r.pagerduty.calls.map((x) => x.body.event_action), ['trigger'], 'nothing sent back to PagerDuty');
  assert.equal(ogPaths(r), ['create', `${key}/acknowledge`], 'one Opsgenie acknowledge');
  assert.is(r.opsgenie.alerts[key]!.status, 'acknowledged');
  // Opsgenie echoes our acknowledge back to us: already acknowledged, nothing more anywhere
  const echo = r.webhooks.filter((w) => w.provider === 'opsgenie');
  assert.is(echo.length, 1);
  assert.equal(JSON.parse(echo[0]!.body), { received: true, outcome: 'already', incident: inc.id });
  const ev = await events(c, inc.id);
  const acks = ev.filter((e) => e.kind === 'acknowledged');
  assert.is(acks.length, 1, 'one timeline entry');
  assert.is(acks[0]!.actor, 'pagerduty:Example User');
  assert.is(acks[0]!.data.via, 'pagerduty');
  assert.is(ev.filter((e) => e.kind === 'duplicate').length, 0, 'the echo leaves no noise on the timeline');
  const after = await drain(c);
  assert.is(after.opsgenie.calls.length, 2, 'still one acknowledge after another pass');
  const audit = await sql<{ actor: string; outcome: string }>(c, `select actor, outcome from audit_log where action = 'incident:ack'`);
  assert.equal(audit, [{ actor: 'pagerduty:Example User', outcome: 'succeeded' }]);
});

test('the same signed delivery twice changes nothing the second time', async (c) => {
  const inc = await declared(c);
  // the recorded delivery, for our incident: PagerDuty's incident_key of an Events API incident is our dedup_key
  const body = fixture('pagerduty/webhook-v3.incident.acknowledged.aldaviva.json').replace('"dfead9d88e0649e8b7dee514b1875756"', JSON.stringify(incidentKey(inc.id)));
  const first = await postSigned(c, body);
  assert.equal(first, { status: 200, json: { received: true, outcome: 'acknowledged', incident: inc.id } });
  const og = (await drain(c)).opsgenie.calls.length;
  const before = { ev: await events(c, inc.id), og };
  const again = await postSigned(c, body);
  assert.equal(again, { status: 200, json: { received: true, outcome: 'duplicate' } });
  assert.equal(await events(c, inc.id), before.ev, 'timeline unchanged');
  assert.is((await drain(c)).opsgenie.calls.length, before.og, 'nothing more sent');
  const inbox = await sql<{ event_id: string; processed_at: Date | null }>(c, `select event_id, processed_at from webhook_inbox where provider = 'pagerduty'`);
  assert.is(inbox.length, 1);
  assert.is(inbox[0]!.event_id, '01FKZSRAQJLP9S3OPM2VALGUPJ');
  assert.ok(inbox[0]!.processed_at);
  // the PagerDuty incident id is remembered: a later event without incident_key still finds ours
  const resolved = fixture('pagerduty/webhook-v3.incident.resolved.aldaviva.json').replace(',"incident_key":"dfead9d88e0649e8b7dee514b1875756"', '');
  assert.not.match(resolved, 'incident_key');
  assert.equal(await postSigned(c, resolved), { status: 200, json: { received: true, outcome: 'resolved', incident: inc.id } });
  assert.is((await incident(c, inc.id)).resolved_by, 'pagerduty:Example User');
});

test('a bad signature is refused with 403: nothing stored or changed, audited and counted; no secret answers 503', async (c) => {
  const inc = await declared(c);
  const body = fixture('pagerduty/webhook-v3.incident.acknowledged.aldaviva.json').replace('"dfead9d88e0649e8b7dee514b1875756"', JSON.stringify(incidentKey(inc.id)));
  const bad = await postSigned(c, body, signPagerDuty(body, 'another-secret'));
  assert.equal(bad, { status: 403, json: { error: 'invalid signature' } });
  const tampered = await postSigned(c, body.replace('Example User', 'Someone Else'), signPagerDuty(body, SECRET));
  assert.is(tampered.status, 403, 'signature over other bytes');
  assert.is((await postSigned(c, body, '')).status, 403, 'no signature');
  assert.is((await incident(c, inc.id)).status, 'open');
  assert.is((await sql(c, `select 1 from webhook_inbox where provider = 'pagerduty'`)).length, 0);
  const audit = await sql<{ actor: string; outcome: string }>(c, `select actor, outcome from audit_log where action = 'intake:pagerduty:signature'`);
  assert.is(audit.length, 3);
  assert.equal(audit[0], { actor: 'webhook:pagerduty', outcome: 'refused' });
  const counted = (await c.metrics.webhookSignatureFailures.get()).values.find((v) => v.labels.provider === 'pagerduty');
  assert.is(counted?.value, 3);
  c.secret = undefined;
  const unconfigured = await postSigned(c, body);
  assert.is(unconfigured.status, 503);
  assert.match(String(unconfigured.json.error), 'PAGERDUTY_WEBHOOK_SECRET');
  assert.is((await incident(c, inc.id)).status, 'open');
});

test('an Opsgenie Close resolves ours and sends PagerDuty one resolve, nothing back to Opsgenie; a wrong token is refused', async (c) => {
  const inc = await declared(c);
  const key = incidentKey(inc.id);
  const wrong = await fetch(`${c.origin}${OPSGENIE_WEBHOOK_PATH}`, { method: 'POST', headers: { authorization: 'Bearer nope', 'content-type': 'application/json' }, body: fixture('opsgenie/webhook.acknowledge.opsgenie-docs.json') });
  assert.is(wrong.status, 401);
  assert.is((await sql(c, `select 1 from audit_log where action = 'intake:opsgenie:token'`)).length, 1);
  const closed = await sandbox<{ webhook: { status: number; body: string } }>(c, 'POST', `/sandbox/paging/opsgenie/alerts/${key}/close`, { user: 'oncall@example.com' });
  assert.equal(JSON.parse(closed.json.webhook.body), { received: true, outcome: 'resolved', incident: inc.id });
  const row = await incident(c, inc.id);
  assert.is(row.status, 'resolved');
  assert.is(row.resolved_by, 'opsgenie:oncall@example.com');
  const r = await drain(c);
  assert.equal(r.pagerduty.calls.map((x) => x.body.event_action), ['trigger', 'resolve'], 'one PagerDuty resolve');
  assert.is(r.pagerduty.incidents[key]!.status, 'resolved');
  assert.equal(ogPaths(r), ['create'], 'nothing sent back to Opsgenie');
  // PagerDuty echoes the resolve as incident.resolved: already resolved here
  const echo = r.webhooks.filter((w) => w.provider === 'pagerduty');
  assert.equal(echo.map((w) => [w.type, JSON.parse(w.body).outcome]), [['incident.resolved', 'already']]);
  const ev = await events(c, inc.id);
  assert.equal(ev.filter((e) => e.kind === 'resolved').map((e) => [e.actor, e.data.via]), [['opsgenie:oncall@example.com', 'opsgenie']]);
  // a redelivery of the same Opsgenie body is a duplicate (key: alertId, action, updatedAt)
  const inbox = await sql<{ event_id: string }>(c, `select event_id from webhook_inbox where provider = 'opsgenie'`);
  assert.is(inbox.length, 1);
});

test('a re-page after an acknowledgement in PagerDuty sends no new trigger or create', async (c) => {
  const inc = await declared(c);
  const key = incidentKey(inc.id);
  await sandbox(c, 'POST', `/sandbox/paging/pagerduty/incidents/${key}/acknowledge`, { agent: 'Example User' });
  const esc = await escalateIncident(em(c), inc.id, OPERATOR, c.clock.now(), c.services.config);
  assert.is(esc.status, 'done', 'escalated by hand (Level 2 paged in Slack)');
  const again = await acknowledgeIncident(em(c), inc.id, OPERATOR, c.clock.now(), c.services.config, { via: 'button' });
  assert.is(again.status, 'duplicate');
  const r = await drain(c);
  assert.equal(r.pagerduty.calls.map((x) => x.body.event_action), ['trigger'], 'one trigger, no acknowledge echo');
  assert.is(r.pagerduty.incidents[key]!.status, 'acknowledged', 'not re-triggered');
  assert.equal(ogPaths(r), ['create', `${key}/acknowledge`]);
  const sent = await sql<{ channel: string; action: string }>(c, `select channel, action from page_deliveries where channel <> 'email' order by id`);
  assert.equal(sent, [
    { channel: 'pagerduty', action: 'trigger' },
    { channel: 'opsgenie', action: 'trigger' },
    { channel: 'opsgenie', action: 'acknowledge' },
  ]);
});

test('an event for an incident that is not ours is acknowledged and ignored', async (c) => {
  await declared(c);
  const res = await postSigned(c, fixture('pagerduty/webhook-v3.incident.acknowledged.aldaviva.json'));
  assert.equal(res, { status: 200, json: { received: true, outcome: 'unmatched' } });
  const ping = await postSigned(c, fixture('pagerduty/webhook-v3.signature.vector.ping.aldaviva.body.txt'));
  assert.equal(ping, { status: 200, json: { received: true, outcome: 'ignored' } });
  assert.equal((await sql<{ status: string }>(c, 'select status from incidents')).map((x) => x.status), ['open']);
});

test.run();
