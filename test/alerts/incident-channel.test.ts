/**
 * Incident channels, roles and postmortems (issue #19 point 3), on the real database with Bolt's WebClient against
 * the fake Slack Web API speaking conversations.create / conversations.invite / files.uploadV2 in Slack's wire
 * format, through the real outbox poster and the incident-channel keeper:
 * - a SEV1 opens `inc-<id>-<slug>` (`-2` after `name_taken`), invites the paged on-call, makes them commander by
 *   default, and posts the intro and the timeline there; SEV3 gets no channel;
 * - `/lf incident role` records the role (timeline, audit) and the keeper invites the holder; later timeline
 *   entries (acknowledgement, resolution) follow in the channel, each once;
 * - a refused conversations.create is retried with backoff and, after 5 attempts, reported in the incident thread;
 * - `/lf incident postmortem` uploads a Markdown draft to the channel with the impact in the pipeline's figures,
 *   the root cause with the findings behind it, and the remediation with its verification.
 */
import { webApi } from '@slack/bolt';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { acknowledgeIncident, declareIncident, resolveIncident } from '../../alerts/incidents.js';
import { createIncidentChannelKeeper, ROOM_MAX_ATTEMPTS, type IncidentChannelKeeper } from '../../alerts/incident-channel.js';
import { webClientChannels, channelName } from '../../alerts/slack-channels.js';
import { createSlackPoster, webClientTransport, type SlackPoster } from '../../alerts/slack-outbox.js';
import { executeLf } from '../../bot/commands/execute.js';
import { parseLf } from '../../bot/commands/spec.js';
import type { Database } from '../../db/orm.js';
import { ManualClock } from '../../domain/clock.js';
import { createLogger } from '../../domain/logger.js';
import { getRoom } from '../../domain/queries/incident-rooms.js';
import type { Services } from '../../domain/services.js';
import { audit, recentAudit, type Actor } from '../../runbooks/actions.js';
import { DB_KIND, freshDatabase } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';
import { startFakeSlackApi, type FakeSlackApi } from '../helpers/slack.js';

interface Ctx {
  db: Database;
  services: Services;
  fake: FakeSlackApi;
  clock: ManualClock;
  poster: SlackPoster;
  keeper: IncidentChannelKeeper;
}

const test = suite<Ctx>(`incident channels, roles and postmortems through the fake Slack (${DB_KIND})`);
const OPERATOR: Actor = { id: 'slack:UOPER0001', role: 'operator', source: 'slack', display: '<@UOPER0001>' };

test.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.fake = await startFakeSlackApi();
  ctx.clock = new ManualClock('2026-03-02T10:00:00Z');
  ctx.services = await testServices(
    ctx.db,
    { SLACK_BOT_TOKEN: 'xoxb-test', SLACK_API_URL: ctx.fake.url, SLACK_INCIDENTS_CHANNEL: 'C0INCIDENTS', ESCALATION_LEVEL1: 'UONCALL01', ESCALATION_LEVEL2: 'UTEAM0001' },
    { clock: ctx.clock },
  );
  const client = new webApi.WebClient('xoxb-test', { slackApiUrl: ctx.fake.url, rejectRateLimitedCalls: true, retryConfig: { retries: 0 } });
  const logger = createLogger('silent');
  ctx.poster = createSlackPoster({ orm: ctx.db.orm, logger, clock: ctx.clock, transport: webClientTransport(client), channelGapMs: 0 });
  ctx.keeper = createIncidentChannelKeeper({ orm: ctx.db.orm, config: ctx.services.config, clock: ctx.clock, logger, channels: webClientChannels(client) });
});

test.after(async (ctx) => {
  await ctx.keeper?.stop();
  await ctx.poster?.stop();
  await ctx.fake?.close();
  await ctx.services?.close();
  await ctx.db?.close();
});

/** Runs the poster until nothing more is due (every channel's line drained). */
async function drain(ctx: Ctx): Promise<void> {
  for (let i = 0; i < 60 && (await ctx.poster.tick()) > 0; i++);
}

const postsTo = (ctx: Ctx, channel: string) => ctx.fake.calls.filter((c) => c.method === 'chat.postMessage' && c.body.channel === channel).map((c) => String(c.body.text));

test('channel names follow Slack rules: lowercase, hyphens, at most 80 characters', () => {
  assert.is(channelName('inc-7', 'Yelp API is DOWN (500s) — café'), 'inc-7-yelp-api-is-down-500s-cafe');
  assert.ok(channelName('inc-7', 'x'.repeat(200)).length <= 76);
  assert.is(channelName('inc-7', '!!!'), 'inc-7');
});

test('a SEV1 opens inc-<id>-<slug> (after name_taken, -2), invites the on-call as default commander and posts the timeline there', async (ctx) => {
  const em = ctx.db.orm.em.fork();
  const inc = await declareIncident(em, { title: 'Yelp is down', severity: 'SEV1', declaredBy: 'alert:CircuitBreakerOpen', provider: 'yelp', runbook: 'external-apis' }, ctx.clock.now(), ctx.services.config);
  ctx.fake.takeChannelNames(`inc-${inc.id}-yelp-is-down`);
  const sev3 = await declareIncident(em, { title: 'minor thing', severity: 'SEV3', declaredBy: 'slack:UOPER0001' }, ctx.clock.now(), ctx.services.config);
  const t = await ctx.keeper.tick();
  assert.equal(t.opened, [inc.id], 'only the SEV1 gets a channel');
  assert.is(await getRoom(ctx.db.orm.em.fork(), sev3.id), undefined);
  const creates = ctx.fake.calls.filter((c) => c.method.startsWith('conversations.create'));
  assert.equal(creates.map((c) => c.body.name), [`inc-${inc.id}-yelp-is-down`, `inc-${inc.id}-yelp-is-down-2`]);
  const room = (await getRoom(ctx.db.orm.em.fork(), inc.id))!;
  assert.is(room.status, 'open');
  assert.is(room.name, `inc-${inc.id}-yelp-is-down-2`);
  assert.equal([...ctx.fake.channels.get(room.channelId!)!.members], ['UONCALL01'], 'the paged on-call is invited');
  await drain(ctx);
  const inRoom = postsTo(ctx, room.channelId!);
  assert.ok(inRoom[0]!.includes('commander <@UONCALL01>'), `intro names the default commander: ${inRoom[0]}`);
  assert.ok(inRoom.some((t) => /\*declared\*/.test(t)), 'the declaration is in the channel');
  assert.ok(inRoom.some((t) => /\*paged\*/.test(t)), 'the page is in the channel');
  const thread = ctx.fake.calls.filter((c) => c.method === 'chat.postMessage' && c.body.channel === 'C0INCIDENTS' && c.body.thread_ts);
  assert.ok(thread.some((c) => String(c.body.text).includes(`<#${room.channelId}|`)), 'the incidents thread links the channel');
});

test('a role set by command is on the timeline and audited; the holder is invited; later entries follow once', async (ctx) => {
  const ctxRb = runbookContext(ctx.services);
  const [inc] = await ctx.db.orm.em.fork().getConnection().execute<{ id: number }[]>(`select id from incidents where severity = 'SEV1'`);
  const id = inc!.id;
  const res = await executeLf(ctxRb, parseLf(`incident role ${id} communications <@UCOMMS001|casey>`), OPERATOR);
  assert.is(res.kind, 'chat');
  const viewer: Actor = { ...OPERATOR, id: 'slack:UVIEW0001', role: 'viewer' };
  const refused = await executeLf(ctxRb, parseLf(`incident role ${id} commander <@UVIEW0001>`), viewer);
  assert.is(refused.kind, 'refused');
  ctx.clock.advance(60_000);
  await acknowledgeIncident(ctx.db.orm.em.fork(), id, OPERATOR, ctx.clock.now(), ctx.services.config);
  await ctx.keeper.tick();
  const room = (await getRoom(ctx.db.orm.em.fork(), id))!;
  assert.equal([...ctx.fake.channels.get(room.channelId!)!.members].sort(), ['UCOMMS001', 'UONCALL01', 'UOPER0001']);
  await ctx.keeper.tick(); // nothing new: no duplicate posts
  await drain(ctx);
  const inRoom = postsTo(ctx, room.channelId!);
  assert.is(inRoom.filter((t) => t.includes('*role*') && t.includes('communications')).length, 1);
  assert.is(inRoom.filter((t) => t.includes('*acknowledged*')).length, 1);
  const rows = await recentAudit(ctx.db.orm.em.fork(), { limit: 20 });
  assert.ok(rows.some((r) => r.action === 'incident:role' && r.outcome === 'succeeded'));
  assert.ok(rows.some((r) => r.action === 'command:incident:role' && r.outcome === 'refused'), 'a viewer is refused, audited');
});

test('conversations.create refused: retried with backoff, then reported in the incident thread after 5 attempts', async (ctx) => {
  ctx.fake.refuse({ method: 'conversations.create', error: 'restricted_action' });
  const inc = await declareIncident(ctx.db.orm.em.fork(), { title: 'Stripe webhooks failing', severity: 'SEV2', declaredBy: 'slack:UOPER0001' }, ctx.clock.now(), ctx.services.config);
  for (let i = 0; i < ROOM_MAX_ATTEMPTS + 2; i++) {
    await ctx.keeper.tick();
    ctx.clock.advance(10 * 60_000);
  }
  ctx.fake.clearRefusals();
  const room = (await getRoom(ctx.db.orm.em.fork(), inc.id))!;
  assert.is(room.status, 'failed');
  assert.is(room.attempts, ROOM_MAX_ATTEMPTS);
  assert.is(ctx.fake.calls.filter((c) => c.method === 'conversations.create#restricted_action').length, ROOM_MAX_ATTEMPTS);
  await drain(ctx);
  assert.ok(postsTo(ctx, 'C0INCIDENTS').some((t) => t.includes('No incident channel could be opened') && t.includes('restricted_action')));
});

test('/lf incident postmortem uploads a Markdown draft to the channel with impact, root cause, actions and follow-ups', async (ctx) => {
  const em = ctx.db.orm.em.fork();
  const conn = em.getConnection();
  const [inc] = await conn.execute<{ id: number; alert_fingerprint: string | null; declared_at: Date }[]>(`select id, alert_fingerprint, declared_at from incidents where severity = 'SEV1'`);
  const id = inc!.id;
  const before = new Date(new Date(inc!.declared_at).getTime() - 3600_000);
  // the pipeline during the incident: 3 businesses stuck before assessment, 1 failed, 2 emails unsent, 1 purchase failed
  for (let i = 0; i < 3; i++)
    await conn.execute(`insert into businesses (yelp_id, name, status, created_at, updated_at, status_changed_at) values (?, ?, 'assessment_pending', ?, ?, ?)`, [`y-${i}`, `Biz ${i}`, before, before, before]);
  await conn.execute(`insert into businesses (yelp_id, name, status, created_at, updated_at, status_changed_at) values ('y-f', 'Failed biz', 'assessment_failed', ?, ?, ?)`, [before, ctx.clock.now(), ctx.clock.now()]);
  await conn.execute(`insert into businesses (yelp_id, name, status, created_at, updated_at, status_changed_at) values ('y-ok', 'Emailed biz', 'emailed', ?, ?, ?)`, [before, before, before]);
  const [biz] = await conn.execute<{ id: number }[]>(`select id from businesses where yelp_id = 'y-ok'`);
  for (const status of ['pending', 'failed', 'sent'])
    await conn.execute(`insert into emails (business_id, campaign, to_address, subject, body, spam_score, status, created_at, updated_at, sent_at) values (?, ?, 'a@example.com', 's', 'b', 0, ?, ?, ?, ?)`, [
      biz!.id,
      `c-${status}`,
      status,
      before,
      ctx.clock.now(),
      status === 'sent' ? before : null,
    ]);
  await conn.execute(`insert into purchases (business_id, amount_cents, total_cents, status, created_at, updated_at) values (?, 9900, 9900, 'failed', ?, ?)`, [biz!.id, ctx.clock.now(), ctx.clock.now()]);
  // its alert's stored diagnosis, and a remediation with its verification
  const diagnosis = {
    runbook: 'external-apis',
    diagnosis: {
      runbook: 'external-apis',
      title: 'External APIs',
      rootCauses: [{ id: 'yelp-down', title: 'Yelp answers 5xx', remediations: ['reset-breaker'] }],
      results: [{ id: 'breaker-states', title: 'Circuit breakers', finding: { status: 'problem', summary: 'yelp breaker open after 5 failures (HTTP 503)' } }],
    },
  };
  await conn.execute(
    `insert into alerts (fingerprint, group_key, source, name, severity, status, labels, annotations, starts_at, diagnosis, incident_id, updated_at, runbook)
     values ('fp-yelp', 'fp-yelp', 'internal', 'CircuitBreakerOpen', 'critical', 'resolved', '{"provider":"yelp"}', '{}', ?, ?::jsonb, ?, ?, 'external-apis')`,
    [inc!.declared_at, JSON.stringify(diagnosis), id, ctx.clock.now()],
  );
  await audit(em, { at: ctx.clock.now(), actor: OPERATOR, action: 'remediation:external-apis/reset-breaker', input: { provider: 'yelp' }, outcome: 'succeeded', detail: 'breaker closed; re-check: Fixed — yelp breaker closed' });
  ctx.clock.advance(5 * 60_000);
  await resolveIncident(ctx.db.orm.em.fork(), id, OPERATOR, ctx.clock.now(), ctx.services.config);
  const res = await executeLf(runbookContext(ctx.services), parseLf(`incident postmortem ${id}`), OPERATOR);
  assert.is(res.kind, 'chat');
  const t = await ctx.keeper.tick();
  assert.is(t.uploaded.length, 1);
  await drain(ctx);
  const room = (await getRoom(ctx.db.orm.em.fork(), id))!;
  assert.is(room.status, 'closed', 'a resolved incident closes its room after the last entries');
  const file = ctx.fake.files.at(-1)!;
  assert.is(file.channel, room.channelId);
  assert.match(file.filename, new RegExp(`^postmortem-incident-${id}-\\d{4}-\\d\\d-\\d\\d\\.md$`));
  const md = file.content;
  const [stored] = await conn.execute<{ markdown: string }[]>('select markdown from incident_postmortems where incident_id = ?', [id]);
  assert.is(md, stored!.markdown, 'the upload carries the draft byte for byte');
  assert.ok(md.startsWith(`# Postmortem: SEV1 incident #${id} — Yelp is down`));
  for (const h of ['## Summary', '## Impact', '## Timeline', '## Root cause', '## Actions taken and their verification', '## Follow-ups']) assert.ok(md.includes(h), `has ${h}`);
  assert.match(md, /\| businesses not processed \| 4 \|/);
  assert.match(md, /\| emails not sent \| 2 \|/);
  assert.match(md, /\| purchases affected \| 1 \|/);
  assert.match(md, /Root cause: \*\*Yelp answers 5xx\*\*/);
  assert.match(md, /Circuit breakers \(problem\): yelp breaker open after 5 failures/);
  assert.match(md, /external-apis\/reset-breaker \| succeeded — breaker closed; re-check: Fixed/);
  assert.match(md, /\*\*Commander:\*\* <@UONCALL01>; \*\*communications:\*\* <@UCOMMS001>/);
  assert.match(md, /- \[ \] Prevent "Yelp answers 5xx" from recurring/);
  const complete = ctx.fake.calls.find((c) => c.method === 'files.completeUploadExternal');
  assert.is(complete?.body.channel_id, room.channelId);
  const [pm] = await conn.execute<{ channel_id: string | null; uploaded_at: Date | null }[]>('select channel_id, uploaded_at from incident_postmortems where incident_id = ?', [id]);
  assert.ok(pm!.uploaded_at);
  assert.is(pm!.channel_id, room.channelId);
  assert.ok(postsTo(ctx, room.channelId!).some((t) => t.includes('Postmortem draft #')), 'a line says what the file is');
});

test.run();
