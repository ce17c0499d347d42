/**
 * Incidents on a real database with an accelerated clock (ManualClock): declaration pages Level 1, an
 * unacknowledged incident escalates exactly at its deadline, a fresh "process" (new deps, same database) carries
 * the timer on, acknowledgement stops escalation, Level 3 names the vendor, resolution, the timeline with actors,
 * two replicas ticking together escalate once, silences mute pages, and the outbox delivers in order.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  acknowledgeIncident,
  addIncidentNote,
  declareIncident,
  escalateIncident,
  escalationTick,
  getIncident,
  incidentSeverityFor,
  incidentTimeline,
  listIncidents,
  resolveIncident,
  type EscalationDeps,
} from '../../alerts/incidents.js';
import { createSilence } from '../../alerts/silences.js';
import { createSlackPoster, type SlackTransport } from '../../alerts/slack-outbox.js';
import type { Database } from '../../db/orm.js';
import { ACK_DEADLINE_MS } from '../../domain/alerting/config.js';
import { ManualClock } from '../../domain/clock.js';
import { loadConfig, type AppConfig } from '../../domain/config.js';
import { createLogger } from '../../domain/logger.js';
import { recentAudit, type Actor } from '../../runbooks/actions.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { rendered } from '../helpers/outbox.js';
import { renderSlackMessage } from '../../bot/render/slack-messages.js';

type Ctx = { db: Database; config: AppConfig };
const test = suite<Ctx>(`incidents and escalation (${DB_KIND})`);

const OPERATOR: Actor = { id: 'slack:UOPER0001', role: 'operator', source: 'slack', display: '<@UOPER0001>' };
const OTHER: Actor = { id: 'slack:UOPER0002', role: 'operator', source: 'slack', display: '<@UOPER0002>' };
const T0 = '2026-03-02T09:00:00Z';

test.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    SLACK_INCIDENTS_CHANNEL: '#inc',
    ESCALATION_LEVEL1: 'UONCALL01',
    ESCALATION_LEVEL2: 'UTEAM0001,STEAMGRP1',
    ESCALATION_LEVEL4: 'UBOSS0001',
  });
});
test.after(async (ctx) => {
  await ctx.db?.close();
});
test.before.each(async (ctx) => {
  await truncateAll(ctx.db);
});

/** A fresh "process": its own em factory, logger and clock reading the same database. */
function deps(ctx: Ctx, clock: ManualClock): EscalationDeps {
  return { em: () => ctx.db.orm.em.fork(), config: ctx.config, clock, logger: createLogger('silent') };
}

type OutboxRow = { id: number; kind: string; channel: string; ref: string | null; text: string; blocks: unknown[] | null; dedup_key: string };
async function outbox(ctx: Ctx): Promise<OutboxRow[]> {
  return rendered(await ctx.db.orm.em.getConnection().execute<OutboxRow[]>('select id, kind, channel, ref, text, blocks, body, dedup_key from slack_outbox order by id'));
}
async function events(ctx: Ctx, id: number): Promise<{ kind: string; actor: string; detail: string; data: Record<string, unknown> }[]> {
  return ctx.db.orm.em.getConnection().execute('select kind, actor, detail, data from incident_events where incident_id = ? order by id', [id]);
}

/** A firing CircuitBreakerOpen alert row with a stored automatic diagnosis (as alerts/dispatch.ts leaves it). */
async function fireBreakerAlert(ctx: Ctx, clock: ManualClock, fingerprint = 'fp-breaker-yelp'): Promise<void> {
  await ctx.db.orm.em.getConnection().execute(
    `insert into alerts (fingerprint, group_key, source, name, severity, status, labels, annotations, runbook, starts_at, flap_count, updated_at, diagnosis)
     values (?, ?, 'internal', 'CircuitBreakerOpen', 'critical', 'firing', ?::jsonb, ?::jsonb, 'external-apis', ?, 0, ?, ?::jsonb)`,
    [
      fingerprint,
      fingerprint,
      JSON.stringify({ provider: 'yelp' }),
      JSON.stringify({ summary: 'Circuit breaker for yelp is open' }),
      clock.now(),
      clock.now(),
      JSON.stringify({ runbook: 'external-apis', title: 'External APIs', results: [{ finding: { status: 'problem' } }], rootCauses: [{ id: 'yelp-down', title: 'Yelp is failing' }] }),
    ],
  );
}

test('severity policy: critical → SEV2 and warning → none by default', (ctx) => {
  assert.is(incidentSeverityFor('critical', ctx.config), 'SEV2');
  assert.is(incidentSeverityFor('warning', ctx.config), undefined);
  assert.is(incidentSeverityFor('info', ctx.config), undefined);
  const strict = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', INCIDENT_FOR_CRITICAL: 'SEV1', INCIDENT_FOR_WARNING: 'SEV3' });
  assert.is(incidentSeverityFor('critical', strict), 'SEV1');
  assert.is(incidentSeverityFor('warning', strict), 'SEV3');
});

test('SEV2 from an alert: Level 1 paged, not acknowledged → Level 2 at its deadline (not before) → a restart keeps the timer → Level 3 names the vendor → ack stops escalation → resolve; timeline with actors', async (ctx) => {
  const clock = new ManualClock(T0);
  await fireBreakerAlert(ctx, clock);
  const em = ctx.db.orm.em.fork();
  const inc = await declareIncident(em, { title: 'Yelp breaker open', severity: 'SEV2', declaredBy: 'alert:CircuitBreakerOpen', alertFingerprint: 'fp-breaker-yelp' }, clock.now(), ctx.config);
  assert.ok(inc.created);
  assert.is(inc.level, 1);
  assert.is(inc.status, 'open');
  assert.is(inc.provider, 'yelp', 'provider taken from the alert label');
  assert.is(inc.runbook, 'external-apis');
  assert.is(inc.ackDeadline?.getTime(), clock.now().getTime() + ACK_DEADLINE_MS.SEV2);

  // the post: incidents channel, ref, Level 1 mention, three buttons carrying the id; a DM to the on-call user
  let box = await outbox(ctx);
  const post = box.find((r) => r.kind === 'post')!;
  assert.is(post.channel, '#inc');
  assert.is(post.ref, `incident:${inc.id}`);
  assert.match(post.text, /<@UONCALL01>/);
  const actions = (post.blocks as { type: string; block_id?: string; elements?: { action_id: string; value: string }[] }[]).find((b) => b.type === 'actions')!;
  assert.equal(actions.elements!.map((e) => e.action_id), ['incident:ack', 'incident:resolve', 'incident:escalate']);
  assert.ok(actions.elements!.every((e) => e.value === String(inc.id)));
  assert.is(actions.block_id, `incident:${inc.id}:L1`);
  assert.equal(box.filter((r) => r.kind === 'dm').map((r) => r.channel), ['UONCALL01']);
  const alertRow = await ctx.db.orm.em.getConnection().execute<{ incident_id: number }[]>(`select incident_id from alerts where fingerprint = 'fp-breaker-yelp'`);
  assert.is(alertRow[0]?.incident_id, inc.id, 'the alert links its incident');

  // idempotent for the alert
  const again = await declareIncident(ctx.db.orm.em.fork(), { title: 'again', severity: 'SEV1', declaredBy: 'alert:CircuitBreakerOpen', alertFingerprint: 'fp-breaker-yelp' }, clock.now(), ctx.config);
  assert.is(again.id, inc.id);
  assert.not.ok(again.created);
  assert.is((await outbox(ctx)).length, box.length, 'nothing new posted');

  // one second before the deadline: nothing
  clock.advance(ACK_DEADLINE_MS.SEV2 - 1000);
  const p1 = deps(ctx, clock);
  assert.equal(await escalationTick(p1, clock.now()), { escalated: [], exhausted: [] });
  assert.is((await getIncident(ctx.db.orm.em.fork(), inc.id))!.level, 1);

  // at the deadline: Level 2 paged in the thread (users and the group) and DMed (users only)
  clock.advance(1000);
  const r2 = await escalationTick(p1, clock.now());
  assert.equal(r2.escalated, [{ id: inc.id, from: 1, to: 2 }]);
  const at2 = (await getIncident(ctx.db.orm.em.fork(), inc.id))!;
  assert.is(at2.level, 2);
  assert.is(at2.ackDeadline?.getTime(), clock.now().getTime() + ACK_DEADLINE_MS.SEV2, 'a fresh deadline for Level 2');
  box = await outbox(ctx);
  const page2 = box.find((r) => r.kind === 'reply' && r.dedup_key.includes(':page:L2'))!;
  assert.is(page2.ref, `incident:${inc.id}`);
  assert.match(page2.text, /<@UTEAM0001>/);
  assert.match(page2.text, /<!subteam\^STEAMGRP1>/);
  assert.match(page2.text, /Level 2/);
  assert.equal(box.filter((r) => r.kind === 'dm').map((r) => r.channel), ['UONCALL01', 'UTEAM0001']);
  assert.ok(box.some((r) => r.kind === 'update' && r.ref === `incident:${inc.id}`), 'the incident message is edited in place');

  // a restart: a new process (fresh deps) continues the timer from the database
  clock.advance(ACK_DEADLINE_MS.SEV2 - 1);
  const p2 = deps(ctx, clock);
  assert.equal((await escalationTick(p2)).escalated, [], 'the Level 2 deadline has not passed yet');
  clock.advance(1);
  assert.equal((await escalationTick(p2)).escalated, [{ id: inc.id, from: 2, to: 3 }]);
  box = await outbox(ctx);
  const page3 = box.find((r) => r.kind === 'reply' && r.dedup_key.includes(':page:L3'))!;
  assert.match(page3.text, /Level 3 — vendor/);
  assert.match(page3.text, /Yelp Fusion support/, 'the failing provider’s vendor contact is named');
  assert.match(page3.text, /<@UTEAM0001>/);

  // acknowledged: escalation stops (the next deadline passes quietly)
  clock.advance(5 * 60_000);
  const ack = await acknowledgeIncident(ctx.db.orm.em.fork(), inc.id, OPERATOR, clock.now(), ctx.config, { via: 'button' });
  assert.is(ack.status, 'done');
  assert.is(ack.incident.status, 'acknowledged');
  assert.is(ack.incident.ackDeadline, null);
  const twice = await acknowledgeIncident(ctx.db.orm.em.fork(), inc.id, OTHER, clock.now(), ctx.config);
  assert.is(twice.status, 'duplicate');
  assert.match(twice.detail, /already acknowledged by slack:UOPER0001/);
  clock.advance(2 * ACK_DEADLINE_MS.SEV2);
  assert.equal(await escalationTick(deps(ctx, clock)), { escalated: [], exhausted: [] });
  assert.is((await getIncident(ctx.db.orm.em.fork(), inc.id))!.level, 3);
  assert.ok((await outbox(ctx)).some((r) => r.kind === 'reply' && /Acknowledged by <@UOPER0001>/.test(r.text)));

  await addIncidentNote(ctx.db.orm.em.fork(), inc.id, OPERATOR, 'Yelp says their API is degraded', clock.now(), ctx.config);
  const res = await resolveIncident(ctx.db.orm.em.fork(), inc.id, OTHER, clock.now(), ctx.config);
  assert.is(res.status, 'done');
  assert.is(res.incident.resolvedBy, 'slack:UOPER0002');
  const lastUpdate = (await outbox(ctx)).filter((r) => r.kind === 'update').at(-1)!;
  assert.not.match(JSON.stringify(lastUpdate.blocks), /"type":"actions"/, 'a resolved incident has no buttons');
  assert.is((await resolveIncident(ctx.db.orm.em.fork(), inc.id, OPERATOR, clock.now(), ctx.config)).status, 'duplicate');
  assert.equal(await listIncidents(ctx.db.orm.em.fork()), []);

  const { entries } = await incidentTimeline(ctx.db.orm.em.fork(), inc.id);
  const lines = entries.map((e) => `${e.kind} ${e.actor}`);
  assert.equal(lines, [
    'alert_fired alert:CircuitBreakerOpen',
    'diagnosis runbook:external-apis',
    'declared alert:CircuitBreakerOpen',
    'paged escalation',
    'escalated escalation',
    'paged escalation',
    'escalated escalation',
    'paged escalation',
    'acknowledged slack:UOPER0001',
    'duplicate slack:UOPER0002',
    'note slack:UOPER0001',
    'resolved slack:UOPER0002',
    'duplicate slack:UOPER0001',
  ]);
  for (let i = 1; i < entries.length; i++) assert.ok(entries[i]!.at >= entries[i - 1]!.at, 'ordered by time');
  assert.is(entries.find((e) => e.kind === 'acknowledged')!.data.via, 'button');
  assert.match(entries.filter((e) => e.kind === 'paged')[2]!.detail, /Yelp Fusion support/);
  assert.match(entries.find((e) => e.kind === 'diagnosis')!.detail, /root cause Yelp is failing/);

  const audits = await recentAudit(ctx.db.orm.em.fork());
  assert.ok(audits.some((a) => a.action === 'incident:ack' && a.outcome === 'succeeded' && a.actor === 'slack:UOPER0001'));
  assert.ok(audits.some((a) => a.action === 'incident:ack' && a.outcome === 'duplicate' && a.actor === 'slack:UOPER0002'));
  assert.ok(audits.some((a) => a.action === 'incident:resolve' && a.outcome === 'succeeded'));
  assert.ok(audits.some((a) => a.action === 'incident:declare' && a.actor === 'alert:CircuitBreakerOpen'));
});

test('two replicas ticking at once escalate once: one level, one page, one DM each', async (ctx) => {
  const clock = new ManualClock(T0);
  const inc = await declareIncident(ctx.db.orm.em.fork(), { title: 'Stripe webhooks failing', severity: 'SEV1', declaredBy: 'cli:alice', provider: 'stripe' }, clock.now(), ctx.config);
  clock.advance(ACK_DEADLINE_MS.SEV1);
  const results = await Promise.all([escalationTick(deps(ctx, clock)), escalationTick(deps(ctx, clock)), escalationTick(deps(ctx, clock))]);
  assert.is(results.flatMap((r) => r.escalated).length, 1);
  assert.is((await getIncident(ctx.db.orm.em.fork(), inc.id))!.level, 2);
  const ev = await events(ctx, inc.id);
  assert.is(ev.filter((e) => e.kind === 'escalated').length, 1);
  assert.is(ev.filter((e) => e.kind === 'paged').length, 2, 'Level 1 at declaration, Level 2 once');
  const dms = (await outbox(ctx)).filter((r) => r.kind === 'dm').map((r) => r.channel);
  assert.equal(dms, ['UONCALL01', 'UTEAM0001']);
});

test('manual escalation pages the next level now; a stale second click is a duplicate; Level 4 is the top; past it the deadline is cleared', async (ctx) => {
  const clock = new ManualClock(T0);
  const inc = await declareIncident(ctx.db.orm.em.fork(), { title: 'Database unavailable', severity: 'SEV1', declaredBy: 'cli:alice' }, clock.now(), ctx.config);
  clock.advance(60_000);
  const up = await escalateIncident(ctx.db.orm.em.fork(), inc.id, OPERATOR, clock.now(), ctx.config, { via: 'button', fromLevel: 1 });
  assert.is(up.status, 'done');
  assert.is(up.incident.level, 2);
  assert.is(up.incident.ackDeadline?.getTime(), clock.now().getTime() + ACK_DEADLINE_MS.SEV1, 'deadline restarts for the new level');
  const stale = await escalateIncident(ctx.db.orm.em.fork(), inc.id, OTHER, clock.now(), ctx.config, { via: 'button', fromLevel: 1 });
  assert.is(stale.status, 'duplicate');
  assert.match(stale.detail, /already at Level 2 .*escalated by slack:UOPER0001/);
  assert.is((await escalateIncident(ctx.db.orm.em.fork(), inc.id, OPERATOR, clock.now(), ctx.config)).incident.level, 3);
  const l3 = (await outbox(ctx)).find((r) => r.dedup_key.includes(':page:L3:thread'))!;
  assert.match(l3.text, /no failing provider recorded/);
  assert.is((await escalateIncident(ctx.db.orm.em.fork(), inc.id, OPERATOR, clock.now(), ctx.config)).incident.level, 4);
  assert.ok((await outbox(ctx)).some((r) => r.kind === 'dm' && r.channel === 'UBOSS0001'), 'Level 4 emergency contact DMed');
  const top = await escalateIncident(ctx.db.orm.em.fork(), inc.id, OPERATOR, clock.now(), ctx.config);
  assert.is(top.status, 'refused');
  assert.match(top.detail, /no higher level/);
  clock.advance(ACK_DEADLINE_MS.SEV1);
  const r = await escalationTick(deps(ctx, clock));
  assert.equal(r.exhausted, [inc.id]);
  const after = (await getIncident(ctx.db.orm.em.fork(), inc.id))!;
  assert.is(after.level, 4);
  assert.is(after.ackDeadline, null);
  clock.advance(ACK_DEADLINE_MS.SEV1);
  assert.equal(await escalationTick(deps(ctx, clock)), { escalated: [], exhausted: [] });
  assert.ok((await outbox(ctx)).some((r) => r.kind === 'reply' && /still not acknowledged at Level 4/.test(r.text)));
});

test('a silence matching the alert mutes pages (no mentions, no DMs) while escalation state goes on; a resolved incident lets the alert declare a new one', async (ctx) => {
  const clock = new ManualClock(T0);
  await fireBreakerAlert(ctx, clock, 'fp-silenced');
  await createSilence(ctx.db.orm.em.fork(), { matchers: { alertname: 'CircuitBreakerOpen' }, durationMs: 3 * 3600_000, createdBy: 'slack:UOPER0001' }, clock.now());
  const inc = await declareIncident(ctx.db.orm.em.fork(), { title: 'muted', severity: 'SEV2', declaredBy: 'alert:CircuitBreakerOpen', alertFingerprint: 'fp-silenced' }, clock.now(), ctx.config);
  clock.advance(ACK_DEADLINE_MS.SEV2);
  await escalationTick(deps(ctx, clock));
  const box = await outbox(ctx);
  assert.is(box.filter((r) => r.kind === 'dm').length, 0);
  assert.not.match(box.find((r) => r.kind === 'post')!.text, /<@UONCALL01>/);
  assert.is(box.filter((r) => r.dedup_key.includes(':page:')).length, 0);
  const paged = (await events(ctx, inc.id)).filter((e) => e.kind === 'paged');
  assert.is(paged.length, 2);
  assert.ok(paged.every((e) => /muted by silence #1/.test(e.detail)));
  await resolveIncident(ctx.db.orm.em.fork(), inc.id, OPERATOR, clock.now(), ctx.config);
  const next = await declareIncident(ctx.db.orm.em.fork(), { title: 'again', severity: 'SEV2', declaredBy: 'alert:CircuitBreakerOpen', alertFingerprint: 'fp-silenced' }, clock.now(), ctx.config);
  assert.ok(next.created);
  assert.is.not(next.id, inc.id);
});

test('the outbox delivers the incident post first, then edits and thread replies against its ts, and the DMs', async (ctx) => {
  const clock = new ManualClock(T0);
  const inc = await declareIncident(ctx.db.orm.em.fork(), { title: 'Pipeline down', severity: 'SEV3', declaredBy: 'cli:alice' }, clock.now(), ctx.config);
  clock.advance(ACK_DEADLINE_MS.SEV3);
  await escalationTick(deps(ctx, clock));
  await acknowledgeIncident(ctx.db.orm.em.fork(), inc.id, OPERATOR, clock.now(), ctx.config);
  const calls: string[] = [];
  const transport: SlackTransport = {
    kind: 'slack',
    async post(channel, text, _b, threadTs) {
      calls.push(`${threadTs ? `reply@${threadTs}` : 'post'} ${channel} ${text.slice(0, 40)}`);
      return { channel, ts: '111.222' };
    },
    async update(channel, ts) {
      calls.push(`update@${ts} ${channel}`);
    },
    async dm(user) {
      calls.push(`dm ${user}`);
      return { channel: user, ts: '333.444' };
    },
    async upload(channel) {
      calls.push(`upload ${channel}`);
    },
  };
  const poster = createSlackPoster({ orm: ctx.db.orm, logger: createLogger('silent'), clock, transport, channelGapMs: 0, render: renderSlackMessage });
  for (let i = 0; i < 20 && (await poster.tick()) > 0; i++);
  const inChannel = calls.filter((c) => !c.startsWith('dm'));
  assert.match(inChannel[0]!, /^post #inc .*SEV3 incident #1/);
  assert.ok(inChannel.slice(1).every((c) => c.includes('@111.222')), 'edits and replies target the posted message');
  assert.ok(inChannel.some((c) => c.startsWith('reply@111.222') && /Level 2/.test(c)));
  assert.equal(calls.filter((c) => c.startsWith('dm')), ['dm UONCALL01', 'dm UTEAM0001']);
  const unsent = await ctx.db.orm.em.getConnection().execute<{ n: number }[]>('select count(*)::int as n from slack_outbox where sent_at is null');
  assert.is(unsent[0]?.n, 0);
});

test.run();
