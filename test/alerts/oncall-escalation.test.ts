/**
 * Escalation pages the schedule's on-call, on the real database with an accelerated clock: Level 1 pages the
 * primary (not the configured ESCALATION_LEVEL1), an unacknowledged incident's Level 2 pages the secondary, an
 * override in force is paged instead of the rotation, a layer with nobody scheduled falls back to the configured
 * ids; each page names who is on call. Hand-offs are posted once however many passes see them. The iCalendar feed
 * over HTTP: off without a token, 401 with a wrong one, the schedule with the right one.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { acknowledgeIncident, declareIncident } from '../../alerts/incidents.js';
import { runEscalationTick } from '../../jobs/escalation-ticker.js';
import { oncallIcalRoute } from '../../bot/webhooks/oncall-ical.js';
import type { Database } from '../../db/orm.js';
import { ACK_DEADLINE_MS } from '../../domain/alerting/config.js';
import { ManualClock } from '../../domain/clock.js';
import { loadConfig, type AppConfig } from '../../domain/config.js';
import { createLogger } from '../../domain/logger.js';
import { addOverride, addRotation, type ScheduleActor } from '../../domain/oncall/schedule.js';
import type { Actor } from '../../runbooks/actions.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { rendered } from '../helpers/outbox.js';

type Ctx = { db: Database; config: AppConfig };
const test = suite<Ctx>(`escalation pages the on-call schedule (${DB_KIND})`);
const ADMIN: ScheduleActor = { id: 'cli:admin', role: 'admin', source: 'cli' };
const OPERATOR: Actor = { id: 'slack:UOPER0001', role: 'operator', source: 'slack', display: '<@UOPER0001>' };
const T0 = new Date('2026-03-02T09:30:00Z');

test.before(async (c) => {
  c.db = await freshDatabase();
  c.config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', SLACK_INCIDENTS_CHANNEL: '#inc', ESCALATION_LEVEL1: 'UFIXED001', ESCALATION_LEVEL2: 'UFIXED002', ONCALL_ICAL_TOKEN: 'feed-token' });
});
test.after(async (c) => {
  await c.db?.close();
});
test.before.each(async (c) => {
  await truncateAll(c.db);
});

const em = (c: Ctx) => c.db.orm.em.fork();
const deps = (c: Ctx, clock: ManualClock) => ({ em: () => em(c), config: c.config, clock, logger: createLogger('silent') });
async function dms(c: Ctx): Promise<string[]> {
  const rows = await em(c).getConnection().execute<{ channel: string; dedup_key: string }[]>(`select channel, dedup_key from slack_outbox where kind = 'dm' and dedup_key like 'incident:%' order by id`);
  return rows.map((r) => `${r.dedup_key.replace(/^incident:\d+:page:/, '').replace(/:dm:.*/, '')}→${r.channel}`);
}
async function rotations(c: Ctx): Promise<void> {
  const start = new Date('2026-03-01T00:00:00Z');
  await addRotation(em(c), { name: 'prim', layer: 'primary', handoff: 'weekly', members: ['UPRIM0001', 'UPRIM0002'], timeZone: 'Europe/London', time: '09:00', weekday: 1, start }, ADMIN, start);
  await addRotation(em(c), { name: 'sec', layer: 'secondary', handoff: 'daily', members: ['USEC00001', 'USEC00002'], timeZone: 'Europe/London', time: '09:00', start }, ADMIN, start);
}

test('Level 1 pages the primary on call, Level 2 (after the deadline) the secondary, each page naming both', async (c) => {
  await rotations(c);
  const clock = new ManualClock(T0);
  const inc = await declareIncident(em(c), { title: 'Yelp down', severity: 'SEV1', declaredBy: 'alert:X' }, clock.now(), c.config);
  // Monday 2 March 09:30 London: weekly shift 0 from Monday 2 March 09:00 → UPRIM0001; daily shift 1 → USEC00002
  assert.equal(await dms(c), ['L1→UPRIM0001']);
  const post = rendered(await em(c).getConnection().execute<{ text: string; blocks: unknown }[]>(`select text, blocks, body from slack_outbox where dedup_key = ?`, [`incident:${inc.id}:post`]));
  assert.match(JSON.stringify(post[0]!.blocks), /On call: primary <@UPRIM0001>, secondary <@USEC00002>/);
  clock.advance(ACK_DEADLINE_MS.SEV1);
  const r = await runEscalationTick(deps(c, clock));
  assert.equal(r.escalated, [{ id: inc.id, from: 1, to: 2 }]);
  assert.equal(await dms(c), ['L1→UPRIM0001', 'L2→USEC00002'], 'Level 2 pages the secondary, not ESCALATION_LEVEL2');
  const paged = await em(c).getConnection().execute<{ data: { mentions: string[] } }[]>(`select data from incident_events where incident_id = ? and kind = 'paged' order by id`, [inc.id]);
  assert.equal(paged.map((p) => p.data.mentions), [['<@UPRIM0001>'], ['<@USEC00002>']]);
});

test('an override in force is paged; a layer with nobody scheduled falls back to the configured ids', async (c) => {
  const clock = new ManualClock(T0);
  await addOverride(em(c), { layer: 'primary', userId: 'UOVER0001', startsAt: new Date(T0.getTime() - 60_000), durationMs: 2 * 3600_000 }, ADMIN, T0);
  const inc = await declareIncident(em(c), { title: 'Stripe down', severity: 'SEV1', declaredBy: 'alert:Y' }, clock.now(), c.config);
  clock.advance(ACK_DEADLINE_MS.SEV1);
  await runEscalationTick(deps(c, clock));
  assert.equal(await dms(c), ['L1→UOVER0001', 'L2→UFIXED002'], 'override at Level 1; no secondary scheduled → ESCALATION_LEVEL2');
  await acknowledgeIncident(em(c), inc.id, OPERATOR, clock.now(), c.config);
});

test('a hand-off is posted once, naming who takes over from whom', async (c) => {
  await rotations(c);
  const clock = new ManualClock('2026-03-03T09:00:20Z'); // Tuesday: the daily secondary hands off at 09:00 London
  await runEscalationTick(deps(c, clock));
  clock.advance(30_000);
  await runEscalationTick(deps(c, clock));
  const rows = await em(c).getConnection().execute<{ kind: string; channel: string; text: string }[]>(`select kind, channel, text from slack_outbox where dedup_key like 'oncall:handoff:%' order by id`);
  assert.equal(rows.map((r) => [r.kind, r.channel]), [['post', '#inc'], ['dm', 'USEC00001']]);
  assert.match(rows[0]!.text, /\(secondary, Levels 2-3 pages\): <@USEC00001> is on call from 2026-03-03 09:00 UTC until 2026-03-04 09:00 UTC, taking over from <@USEC00002>/);
});

test('GET /oncall.ics: off without a token, 401 with a wrong one, the schedule with the right one', async (c) => {
  await rotations(c);
  const clock = new ManualClock(T0);
  const base = { config: c.config, logger: createLogger('silent'), orm: c.db.orm, clock };
  const serve = async (config: AppConfig) => {
    const route = oncallIcalRoute({ ...base, config });
    const server = http.createServer((req, res) => route.handler(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/oncall.ics` };
  };
  const off = await serve({ ...c.config, oncall: { ...c.config.oncall, icalToken: undefined } });
  assert.is((await fetch(`${off.url}?token=x`)).status, 404);
  off.server.close();
  const on = await serve(c.config);
  try {
    assert.is((await fetch(on.url)).status, 401);
    assert.is((await fetch(`${on.url}?token=wrong-token`)).status, 401);
    const res = await fetch(`${on.url}?token=feed-token&days=2`);
    assert.is(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/calendar/);
    const body = await res.text();
    assert.match(body, /SUMMARY:On call \(primary\): UPRIM0001/);
    assert.match(body, /SUMMARY:On call \(secondary\): USEC00001/);
    assert.is((await fetch(on.url, { headers: { authorization: 'Bearer feed-token' } })).status, 200);
  } finally {
    on.server.close();
  }
});

test.run();
