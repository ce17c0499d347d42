/**
 * Paging beyond Slack against the sandbox's PagerDuty and Opsgenie (their wire formats, validated) and SendGrid
 * through the gateway, on the real database: a page goes out as one PagerDuty trigger and one Opsgenie create per
 * incident however often it is re-paged (escalation), an email per paged person and level; our acknowledgement
 * sends PagerDuty acknowledge and Opsgenie acknowledge once (a second ack sends nothing); a 429 from PagerDuty is
 * retried, not lost.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { acknowledgeIncident, declareIncident, escalateIncident, resolveIncident } from '../../alerts/incidents.js';
import { deliverDuePages, type PageDispatcherDeps } from '../../alerts/paging/dispatcher.js';
import { incidentKey } from '../../alerts/paging/enqueue.js';
import type { Database } from '../../db/orm.js';
import { ManualClock } from '../../domain/clock.js';
import { createLogger } from '../../domain/logger.js';
import { addRotation, setContact, type ScheduleActor } from '../../domain/oncall/schedule.js';
import { pagingClientsFor } from '../../domain/providers/paging/http.js';
import type { Services } from '../../domain/services.js';
import type { Actor } from '../../runbooks/actions.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { testServices } from '../helpers/services.js';

type Ctx = { db: Database; services: Services; clock: ManualClock };
const test = suite<Ctx>(`paging by email, PagerDuty and Opsgenie (${DB_KIND})`);
const ADMIN: ScheduleActor = { id: 'cli:admin', role: 'admin', source: 'cli' };
const OPERATOR: Actor = { id: 'slack:UOPER0001', role: 'operator', source: 'slack', display: '<@UOPER0001>' };

test.before(async (c) => {
  c.db = await freshDatabase();
  c.clock = new ManualClock('2026-03-02T09:30:00Z');
  c.services = await testServices(c.db, { SLACK_INCIDENTS_CHANNEL: '#inc' }, { clock: c.clock });
});
test.after(async (c) => {
  await c.services?.close();
  await c.db?.close();
});
test.before.each(async (c) => {
  await truncateAll(c.db);
  await fetch(`${c.services.sandboxUrl}/sandbox/paging`, { method: 'DELETE' });
});

const em = (c: Ctx) => c.db.orm.em.fork();
const deps = (c: Ctx): PageDispatcherDeps => ({ em: () => em(c), clock: c.clock, logger: createLogger('silent'), clients: pagingClientsFor(c.services.config, c.services.sandboxUrl), sendgrid: c.services.providers.sendgrid, from: 'ops@leadfactory.example' });
type Recorded = { pagerduty: { calls: { body: Record<string, unknown>; status: number }[]; incidents: Record<string, { status: string }> }; opsgenie: { calls: { path: string; body: Record<string, unknown>; status: number }[]; alerts: Record<string, { status: string; count: number }> } };
const recorded = async (c: Ctx): Promise<Recorded> => (await (await fetch(`${c.services.sandboxUrl}/sandbox/paging`)).json()) as Recorded;
async function drain(c: Ctx): Promise<void> {
  for (let i = 0; i < 5; i++) if ((await deliverDuePages(deps(c), c.clock.now())).sent === 0) return;
}

async function schedule(c: Ctx): Promise<void> {
  const start = new Date('2026-03-01T00:00:00Z');
  await addRotation(em(c), { name: 'p', layer: 'primary', handoff: 'weekly', members: ['UPRIM0001'], timeZone: 'UTC', time: '09:00', start }, ADMIN, start);
  await addRotation(em(c), { name: 's', layer: 'secondary', handoff: 'weekly', members: ['USEC00001'], timeZone: 'UTC', time: '09:00', start }, ADMIN, start);
  await setContact(em(c), 'UPRIM0001', 'prim@example.com', ADMIN, start);
  await setContact(em(c), 'USEC00001', 'sec@example.com', ADMIN, start);
}

test('one PagerDuty trigger and one Opsgenie create per incident across re-pages; an email per person and level', async (c) => {
  await schedule(c);
  const inc = await declareIncident(em(c), { title: 'Yelp is down', severity: 'SEV1', declaredBy: 'alert:X', provider: 'yelp' }, c.clock.now(), c.services.config);
  await drain(c);
  await escalateIncident(em(c), inc.id, OPERATOR, c.clock.now(), c.services.config);
  await escalateIncident(em(c), inc.id, OPERATOR, c.clock.now(), c.services.config);
  await drain(c);
  const r = await recorded(c);
  const triggers = r.pagerduty.calls.filter((x) => x.body.event_action === 'trigger');
  assert.is(triggers.length, 1, 'one trigger across three pages');
  assert.is(triggers[0]!.status, 202);
  assert.is(triggers[0]!.body.dedup_key, incidentKey(inc.id));
  assert.is((triggers[0]!.body.payload as Record<string, unknown>).severity, 'critical');
  assert.is((triggers[0]!.body.routing_key as string).length, 32);
  assert.equal(((triggers[0]!.body.payload as Record<string, unknown>).custom_details as Record<string, unknown>).oncall, { primary: 'UPRIM0001', secondary: 'USEC00001' });
  const creates = r.opsgenie.calls.filter((x) => x.path === '/opsgenie/v2/alerts');
  assert.is(creates.length, 1);
  assert.is(creates[0]!.body.alias, incidentKey(inc.id));
  assert.is(creates[0]!.body.priority, 'P1');
  const emails = await em(c).getConnection().execute<{ target: string; dedup_key: string; sent_at: Date | null; response: { messageId: string } }[]>(`select target, dedup_key, sent_at, response from page_deliveries where channel = 'email' order by id`);
  assert.equal(emails.map((e) => e.dedup_key), [`incident:${inc.id}:email:L1:prim@example.com`, `incident:${inc.id}:email:L2:sec@example.com`, `incident:${inc.id}:email:L3:sec@example.com`]);
  assert.ok(emails.every((e) => e.sent_at && e.response.messageId), 'sent through SendGrid (sandbox), with its X-Message-Id');
  const events = await em(c).getConnection().execute<{ kind: string }[]>(`select kind from incident_events where incident_id = ? and kind = 'page_sent'`, [inc.id]);
  assert.is(events.length, 5, 'each delivery on the timeline');
});

test('our acknowledgement sends PagerDuty acknowledge and Opsgenie acknowledge once; resolve closes', async (c) => {
  const inc = await declareIncident(em(c), { title: 'Stripe webhooks failing', severity: 'SEV2', declaredBy: 'alert:Y' }, c.clock.now(), c.services.config);
  await drain(c);
  await acknowledgeIncident(em(c), inc.id, OPERATOR, c.clock.now(), c.services.config, { via: 'button' });
  await acknowledgeIncident(em(c), inc.id, OPERATOR, c.clock.now(), c.services.config, { via: 'command' });
  await drain(c);
  let r = await recorded(c);
  assert.equal(r.pagerduty.calls.map((x) => x.body.event_action), ['trigger', 'acknowledge']);
  assert.is(r.pagerduty.incidents[incidentKey(inc.id)]!.status, 'acknowledged');
  assert.equal(r.opsgenie.calls.map((x) => x.path), ['/opsgenie/v2/alerts', `/opsgenie/v2/alerts/${incidentKey(inc.id)}/acknowledge?identifierType=alias`]);
  assert.is(r.opsgenie.alerts[incidentKey(inc.id)]!.status, 'acknowledged');
  await resolveIncident(em(c), inc.id, OPERATOR, c.clock.now(), c.services.config);
  await drain(c);
  r = await recorded(c);
  assert.is(r.pagerduty.incidents[incidentKey(inc.id)]!.status, 'resolved');
  assert.is(r.opsgenie.alerts[incidentKey(inc.id)]!.status, 'closed');
});

test('a PagerDuty 429 (fault injected) is retried with backoff, then delivered', async (c) => {
  await fetch(`${c.services.sandboxUrl}/sandbox/faults/pagerduty`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ fault: 'rate_limit', count: 1 }) });
  const inc = await declareIncident(em(c), { title: 'OpenAI slow', severity: 'SEV3', declaredBy: 'alert:Z' }, c.clock.now(), c.services.config);
  const first = await deliverDuePages(deps(c), c.clock.now());
  assert.is(first.retried, 1, 'PagerDuty answered 429');
  const row = await em(c).getConnection().execute<{ last_error: string; attempts: number }[]>(`select last_error, attempts from page_deliveries where channel = 'pagerduty'`);
  assert.match(row[0]!.last_error, /429 Requests for this service are arriving too quickly/);
  c.clock.advance(10_000);
  await drain(c);
  const r = await recorded(c);
  assert.equal(r.pagerduty.calls.map((x) => x.status), [429, 202]);
  assert.is(r.pagerduty.incidents[incidentKey(inc.id)]!.status, 'triggered');
});

test.run();
