/**
 * `/lf incident …`, `/lf incidents`, `/lf silence …`, `/lf silences`, `/lf unsilence` and the incident buttons over
 * signed HTTP, end to end through the Bolt app: role refusals for a viewer (audited, recorded on the incident),
 * operator declarations posted to the incidents channel through the outbox, Acknowledge / Escalate / Resolve
 * buttons claimed once (double clicks and a second person are told who acted), the timeline with actors, and
 * silences created, listed and ended.
 */
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMetrics } from '../../alerts/metrics.js';
import { getIncident } from '../../alerts/incidents.js';
import type { Database } from '../../db/orm.js';
import { createLogger } from '../../domain/logger.js';
import type { Services } from '../../domain/services.js';
import { createSlackApp, type SlackApp } from '../../bot/app.js';
import { recentAudit } from '../../runbooks/actions.js';
import { DB_KIND, freshDatabase } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';
import { signSlackRequest, slashCommandBody, startFakeSlackApi, type FakeSlackApi, type FakeSlackCall } from '../helpers/slack.js';
import { rendered } from '../helpers/outbox.js';

const SECRET = 'incident-commands-signing-secret';
const OPERATOR = 'UOPER0001';
const OPERATOR2 = 'UOPER0002';
const VIEWER = 'UVIEW0001';

interface Ctx {
  db: Database;
  services: Services;
  fake: FakeSlackApi;
  slack: SlackApp;
  server: http.Server;
  base: string;
  seq: number;
}

const test = suite<Ctx>(`/lf incident and silence subcommands and incident buttons over signed HTTP (${DB_KIND})`);

test.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.fake = await startFakeSlackApi();
  ctx.services = await testServices(ctx.db, {
    SLACK_SIGNING_SECRET: SECRET,
    SLACK_BOT_TOKEN: 'xoxb-test-token',
    SLACK_API_URL: ctx.fake.url,
    LF_OPERATORS: `${OPERATOR},${OPERATOR2}`,
    LF_DEFAULT_ROLE: 'viewer',
    SLACK_INCIDENTS_CHANNEL: '#incidents',
    ESCALATION_LEVEL1: 'UONCALL01',
    ESCALATION_LEVEL2: 'UTEAM0001,STEAMGRP1',
    ESCALATION_LEVEL4: 'UBOSS0001',
  });
  ctx.slack = createSlackApp({
    config: ctx.services.config,
    logger: createLogger('silent'),
    orm: ctx.db.orm,
    metrics: createMetrics(),
    readiness: async () => ({ ok: true, checks: {} }),
    runbookContext: runbookContext(ctx.services),
  });
  ctx.server = await ctx.slack.start(0);
  ctx.base = `http://127.0.0.1:${(ctx.server.address() as AddressInfo).port}`;
  ctx.seq = 0;
});

test.after(async (ctx) => {
  await ctx.slack?.stop();
  await ctx.fake?.close();
  await ctx.services?.close();
  await ctx.db?.close();
});

async function command(ctx: Ctx, text: string, user = VIEWER): Promise<FakeSlackCall> {
  const id = `cmd-${++ctx.seq}`;
  const body = slashCommandBody(text, user, ctx.fake.responseUrl(id));
  const res = await fetch(`${ctx.base}/slack/events`, { method: 'POST', body, headers: signSlackRequest(SECRET, body) });
  assert.is(res.status, 200);
  assert.is(await res.text(), '', 'acked with an empty body');
  return ctx.fake.waitFor((c) => c.kind === 'response_url' && c.method === id, 20_000);
}

const text = (c: FakeSlackCall) => JSON.stringify(c.body.blocks ?? []) + String(c.body.text ?? '');

/** A block_actions payload on Slack's recorded shape, pressing an incident button shown at `level`. */
async function press(ctx: Ctx, user: string, action: 'ack' | 'resolve' | 'escalate', incident: number, level = 1): Promise<string> {
  const id = `btn-${++ctx.seq}`;
  const tpl = JSON.parse(readFileSync(new URL('../fixtures/slack/block-actions.template.json', import.meta.url), 'utf8')) as Record<string, any>;
  const blockId = `incident:${incident}:L${level}`;
  tpl.user = { id: user, username: 'someone', team_id: 'T0TEST' };
  tpl.team = { id: 'T0TEST', domain: 'leadfactory' };
  tpl.response_url = ctx.fake.responseUrl(id);
  tpl.message.blocks = [
    { type: 'section', block_id: 's1', text: { type: 'mrkdwn', text: `SEV2 incident #${incident}` } },
    { type: 'actions', block_id: blockId, elements: [{ type: 'button', action_id: `incident:${action}`, text: { type: 'plain_text', text: action }, value: String(incident) }] },
  ];
  tpl.actions = [{ action_id: `incident:${action}`, block_id: blockId, text: { type: 'plain_text', text: action }, value: String(incident), type: 'button', action_ts: '1678252216.469172' }];
  const body = new URLSearchParams({ payload: JSON.stringify(tpl) }).toString();
  const res = await fetch(`${ctx.base}/slack/events`, { method: 'POST', body, headers: signSlackRequest(SECRET, body) });
  assert.is(res.status, 200);
  return id;
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function incidentEvents(ctx: Ctx, id: number) {
  return ctx.db.orm.em.getConnection().execute<{ kind: string; actor: string; detail: string }[]>('select kind, actor, detail from incident_events where incident_id = ? order by id', [id]);
}
async function outbox(ctx: Ctx) {
  return rendered(await ctx.db.orm.em.getConnection().execute<{ kind: string; channel: string; ref: string | null; text: string; blocks: unknown[] | null }[]>('select kind, channel, ref, text, blocks, body from slack_outbox order by id'));
}

test('a viewer cannot declare (refused, audited); an operator declares: answered in the channel, posted to the incidents channel paging Level 1', async (ctx) => {
  const refused = await command(ctx, 'incident declare SEV2 Pipeline stalled', VIEWER);
  assert.is(refused.body.response_type, 'ephemeral');
  assert.match(text(refused), /`incident declare` needs the operator role/);
  assert.ok((await recentAudit(ctx.db.orm.em.fork(), { action: 'command:incident:declare' })).some((r) => r.outcome === 'refused' && r.actor === `slack:${VIEWER}`));
  assert.is((await ctx.db.orm.em.getConnection().execute<{ n: number }[]>('select count(*)::int as n from incidents'))[0]?.n, 0, 'nothing declared');

  const declared = await command(ctx, 'incident declare sev2 Yelp is refusing every call provider=yelp', OPERATOR);
  assert.is(declared.body.response_type, 'in_channel');
  assert.match(text(declared), /<@UOPER0001> declared SEV2 incident #1: Yelp is refusing every call/);
  const inc = (await getIncident(ctx.db.orm.em.fork(), 1))!;
  assert.is(inc.provider, 'yelp');
  assert.is(inc.declaredBy, `slack:${OPERATOR}`);
  const box = await outbox(ctx);
  const post = box.find((r) => r.kind === 'post')!;
  assert.is(post.channel, '#incidents');
  assert.is(post.ref, 'incident:1');
  assert.match(post.text, /<@UONCALL01>/);
  assert.match(JSON.stringify(post.blocks), /"action_id":"incident:ack"/);
  assert.ok(box.some((r) => r.kind === 'dm' && r.channel === 'UONCALL01'));

  const list = await command(ctx, 'incidents', VIEWER);
  assert.is(list.body.response_type, 'ephemeral');
  assert.match(text(list), /#1\* SEV2/);
  const bare = await command(ctx, 'incident', VIEWER);
  assert.match(text(bare), /incident declare <SEV1-4>/);
  const bad = await command(ctx, 'incident declare SEV9 nope', OPERATOR);
  assert.match(text(bad), /:warning: `bad_request`.*SEV1, SEV2, SEV3, SEV4/);
});

test('buttons: a viewer is refused (ephemeral, on the timeline); the operator’s ack is claimed once, a second person is told who acked; escalate once per shown level; resolve', async (ctx) => {
  const viewer = await press(ctx, VIEWER, 'ack', 1);
  const v = await ctx.fake.waitFor((c) => c.method === viewer, 10_000);
  assert.is(v.body.response_type, 'ephemeral');
  assert.is(v.body.replace_original, false);
  assert.match(text(v), /ack needs the operator role/);
  assert.is((await getIncident(ctx.db.orm.em.fork(), 1))!.status, 'open', 'nothing changed');

  // two operators press Acknowledge at once: one transition, the other is told who acked
  const [a, b] = await Promise.all([press(ctx, OPERATOR, 'ack', 1), press(ctx, OPERATOR2, 'ack', 1)]);
  const told = await ctx.fake.waitFor((c) => c.method === a || c.method === b, 10_000);
  assert.is(told.body.response_type, 'ephemeral');
  assert.match(text(told), /already acknowledged by slack:UOPER000[12]/);
  const acked = await until('acknowledged', async () => {
    const i = await getIncident(ctx.db.orm.em.fork(), 1);
    return i?.status === 'acknowledged' && i;
  });
  assert.match(acked.acknowledgedBy ?? '', /^slack:UOPER000[12]$/);
  await new Promise((r) => setTimeout(r, 200));
  assert.not.ok(ctx.fake.calls.some((c) => (c.method === a || c.method === b) && c !== told), 'the winner gets no ephemeral notice');
  let ev = await incidentEvents(ctx, 1);
  assert.is(ev.filter((e) => e.kind === 'acknowledged').length, 1);
  assert.ok(ev.some((e) => e.kind === 'refused' && e.actor === `slack:${VIEWER}`));
  const box = await outbox(ctx);
  assert.ok(box.some((r) => r.kind === 'update' && r.ref === 'incident:1'), 'the message is updated in place through the outbox');
  assert.ok(box.some((r) => r.kind === 'reply' && r.ref === 'incident:1' && /Acknowledged by <@UOPER000[12]> \(button\)/.test(r.text)));

  // escalate from the message showing Level 1: once; the same stale message again is a duplicate
  await press(ctx, OPERATOR, 'escalate', 1, 1);
  await until('level 2', async () => (await getIncident(ctx.db.orm.em.fork(), 1))?.level === 2);
  const again = await press(ctx, OPERATOR2, 'escalate', 1, 1);
  const dup = await ctx.fake.waitFor((c) => c.method === again, 10_000);
  assert.match(text(dup), /already at Level 2 — team \(escalated by slack:UOPER0001/);
  assert.is((await getIncident(ctx.db.orm.em.fork(), 1))!.level, 2);
  assert.ok((await outbox(ctx)).some((r) => r.kind === 'reply' && /<@UTEAM0001> <!subteam\^STEAMGRP1>/.test(r.text)), 'Level 2 paged in the thread');
  assert.ok((await outbox(ctx)).some((r) => r.kind === 'dm' && r.channel === 'UTEAM0001'));

  await press(ctx, OPERATOR2, 'resolve', 1, 2);
  await until('resolved', async () => (await getIncident(ctx.db.orm.em.fork(), 1))?.status === 'resolved');
  const late = await command(ctx, 'incident ack 1', OPERATOR);
  assert.is(late.body.response_type, 'ephemeral');
  assert.match(text(late), /already resolved by slack:UOPER0002/);
  ev = await incidentEvents(ctx, 1);
  assert.ok(ev.some((e) => e.kind === 'resolved' && e.actor === `slack:${OPERATOR2}`));
  const audits = await recentAudit(ctx.db.orm.em.fork());
  assert.ok(audits.some((r) => r.action === 'incident:ack' && r.outcome === 'refused' && r.actor === `slack:${VIEWER}`));
  assert.ok(audits.some((r) => r.action === 'incident:escalate' && r.outcome === 'duplicate' && r.actor === `slack:${OPERATOR2}`));
  assert.ok(audits.some((r) => r.action === 'incident:resolve' && r.outcome === 'succeeded' && r.actor === `slack:${OPERATOR2}`));
});

test('commands: escalate and note by an operator; timeline for a viewer lists who did what; an unknown incident is not_found', async (ctx) => {
  const d = await command(ctx, 'incident declare SEV3 Bounce rate high', OPERATOR);
  const id = Number(/incident #(\d+)/.exec(text(d))![1]);
  const esc = await command(ctx, `incident escalate ${id}`, OPERATOR2);
  assert.is(esc.body.response_type, 'in_channel');
  assert.match(text(esc), /escalated to Level 2/);
  const viewerEsc = await command(ctx, `incident escalate ${id}`, VIEWER);
  assert.match(text(viewerEsc), /`incident escalate` needs the operator role/);
  await command(ctx, `incident note ${id} SendGrid confirms a blocklist hit`, OPERATOR);
  await command(ctx, `incident ack #${id}`, OPERATOR);
  const tl = await command(ctx, `incident timeline ${id}`, VIEWER);
  assert.is(tl.body.response_type, 'ephemeral');
  const t = text(tl);
  for (const needle of ['declared', 'paged', 'escalated', 'note', 'acknowledged', '<@UOPER0001>', '<@UOPER0002>', 'SendGrid confirms a blocklist hit'])
    assert.ok(t.includes(needle), `timeline mentions ${needle}`);
  assert.ok(t.indexOf('*declared*') < t.indexOf('*escalated*') && t.indexOf('*escalated*') < t.indexOf('*acknowledged*'), 'in order');
  const missing = await command(ctx, 'incident timeline 999', VIEWER);
  assert.match(text(missing), /`not_found` incident #999 not found/);
  const noId = await command(ctx, 'incident ack', OPERATOR);
  assert.match(text(noId), /`bad_request` usage: incident ack <id>/);
});

test('silences: a viewer cannot silence; an operator silences by name and label for a duration; listed; ended; bad input explained', async (ctx) => {
  const refused = await command(ctx, 'silence PipelineDown 2h', VIEWER);
  assert.match(text(refused), /`silence` needs the operator role/);
  const made = await command(ctx, 'silence PipelineDown severity=critical 2h planned maintenance', OPERATOR);
  assert.is(made.body.response_type, 'in_channel');
  assert.match(text(made), /silenced `alertname=PipelineDown severity=critical`/);
  const rows = await ctx.db.orm.em.getConnection().execute<{ id: number; matchers: Record<string, string>; created_by: string; comment: string; starts_at: Date; ends_at: Date }[]>('select * from silences');
  assert.is(rows.length, 1);
  assert.equal(rows[0]!.matchers, { alertname: 'PipelineDown', severity: 'critical' });
  assert.is(rows[0]!.created_by, `slack:${OPERATOR}`);
  assert.is(rows[0]!.comment, 'planned maintenance');
  assert.is(new Date(rows[0]!.ends_at).getTime() - new Date(rows[0]!.starts_at).getTime(), 2 * 3600_000);
  const list = await command(ctx, 'silences', VIEWER);
  assert.is(list.body.response_type, 'ephemeral');
  assert.match(text(list), /#1\* `alertname=PipelineDown severity=critical`/);
  const noDuration = await command(ctx, 'silence PipelineDown', OPERATOR);
  assert.match(text(noDuration), /`bad_request` usage: silence .*no duration/);
  const viewerUn = await command(ctx, 'unsilence 1', VIEWER);
  assert.match(text(viewerUn), /needs the operator role/);
  const ended = await command(ctx, 'unsilence 1', OPERATOR);
  assert.match(text(ended), /ended silence #1/);
  const again = await command(ctx, 'unsilence 1', OPERATOR);
  assert.match(text(again), /not in force/);
  assert.match(text(await command(ctx, 'silences', VIEWER)), /No active silences/);
  const audits = await recentAudit(ctx.db.orm.em.fork());
  assert.ok(audits.some((r) => r.action === 'silence:create' && r.outcome === 'succeeded' && r.actor === `slack:${OPERATOR}`));
  assert.ok(audits.some((r) => r.action === 'silence:expire' && r.outcome === 'succeeded'));
  assert.ok(audits.some((r) => r.action === 'command:silence' && r.outcome === 'refused'));
});

test.run();
