/**
 * The Slack outbox cannot jam (issue 13, point 6), against a fake Slack speaking the Web API through Bolt's
 * WebClient: `channel_not_found` and `msg_blocks_too_long` do not hold the channel (the next post goes out in the
 * same virtual minute), a refused message is degraded once (text only plus the full detail as a file) or
 * dead-lettered; a reply whose parent never posted is posted in the channel with its context; a message failing
 * with 503s is taken out of its channel's line within two minutes; nothing is left pending after a restart; alert
 * messages built from realistic data (12.7k–17.6k characters of block text) pass the size guard and are accepted by
 * a fake that refuses more than 12,000 characters, as real Slack does.
 * Time is a ManualClock: every "within N minutes" is virtual time, no test waits on the wall clock.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { webApi } from '@slack/bolt';
import type { Database } from '../../db/orm.js';
import { ManualClock } from '../../domain/clock.js';
import { createLogger } from '../../domain/logger.js';
import { alertGroupBody } from '../../alerts/dispatch.js';
import { renderSlackMessage } from '../../bot/render/slack-messages.js';
import { blockTextLength } from '../../alerts/slack-guard.js';
import { createSlackPoster, enqueueSlack, LINE_BUDGET_MS, webClientTransport, type OutboxMessage, type SlackPoster } from '../../alerts/slack-outbox.js';
import type { AlertRow } from '../../alerts/store.js';
import { diagnose } from '../../runbooks/define.js';
import { findRunbook } from '../../runbooks/index.js';
import type { Services } from '../../domain/services.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { HAVE_REAL_FIXTURES, NO_FIXTURES, REAL_FIXTURES } from '../helpers/fixtures.js';
import { testIf } from '../helpers/preconditions.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';
import { blocksTooLong, startFakeSlackApi, type FakeSlackApi } from '../helpers/slack.js';

type Ctx = { db: Database; clock: ManualClock; fake: FakeSlackApi; poster: SlackPoster };
const test = suite<Ctx>(`slack outbox cannot jam (${DB_KIND})`);
const logger = createLogger('silent');

test.before(async (ctx) => {
  ctx.db = await freshDatabase();
});
test.after(async (ctx) => {
  await ctx.db.close();
});
test.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  ctx.clock = new ManualClock('2026-12-05T08:00:00Z');
  ctx.fake = await startFakeSlackApi();
  ctx.poster = newPoster(ctx);
});
test.after.each(async (ctx) => {
  await ctx.fake.close();
});

function newPoster(ctx: Ctx): SlackPoster {
  const client = new webApi.WebClient('xoxb-test', { slackApiUrl: ctx.fake.url, rejectRateLimitedCalls: true, retryConfig: { retries: 0 } });
  return createSlackPoster({ orm: ctx.db.orm, logger, clock: ctx.clock, transport: webClientTransport(client), channelGapMs: 0, render: renderSlackMessage });
}
const enqueue = (ctx: Ctx, m: Partial<OutboxMessage> & { dedupKey: string }) =>
  enqueueSlack(ctx.db.orm.em.fork(), { kind: 'post', channel: '#alerts', text: m.dedupKey, ...m }, ctx.clock.now());
async function ticks(ctx: Ctx, n = 6): Promise<void> {
  for (let i = 0; i < n; i++) await ctx.poster.tick();
}
const rows = (ctx: Ctx) =>
  ctx.db.orm.em
    .getConnection()
    .execute<{ dedup_key: string; sent_at: Date | null; dead_at: Date | null; degraded_at: Date | null; detached: boolean; last_error: string | null }[]>(
      'select dedup_key, sent_at, dead_at, degraded_at, detached, last_error from slack_outbox order by id',
    );
const posts = (ctx: Ctx, channel: string) => ctx.fake.calls.filter((c) => c.method === 'chat.postMessage' && c.body.channel === channel);
const bigBlocks = (chars: number) => Array.from({ length: Math.ceil(chars / 2900) }, (_, i) => ({ type: 'section', text: { type: 'mrkdwn', text: `${i}:${'x'.repeat(2897)}` } }));

test('channel_not_found: dead-lettered with its error after one attempt; the next post to the channel goes out at once', async (ctx) => {
  ctx.fake.refuse({ method: 'chat.postMessage', error: 'channel_not_found', times: 1 });
  await enqueue(ctx, { dedupKey: 'first', ref: 'alert:1' });
  await enqueue(ctx, { dedupKey: 'second' });
  await ticks(ctx);
  const [first, second] = await rows(ctx);
  assert.ok(first!.dead_at, 'dead-lettered');
  assert.match(first!.last_error ?? '', /channel_not_found/);
  assert.ok(second!.sent_at, 'the next post went out');
  assert.is(new Date(second!.sent_at!).getTime() - ctx.clock.now().getTime(), 0, 'within the same virtual instant (no backoff held the channel)');
  assert.is(ctx.fake.calls.filter((c) => c.method === 'chat.postMessage#channel_not_found').length, 1, 'tried once, not 20 times');
});

test('a reply whose parent was dead-lettered is posted in the channel with its context', async (ctx) => {
  ctx.fake.refuse({ method: 'chat.postMessage', error: 'invalid_blocks', when: (b) => b.blocks !== undefined });
  ctx.fake.refuse({ method: 'chat.postMessage', error: 'is_archived', when: (b) => String(b.text).includes('Shortened for Slack') });
  await enqueue(ctx, { dedupKey: 'parent', ref: 'alert:2', text: 'CircuitBreakerOpen yelp — text only', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'x' } }] });
  await enqueue(ctx, { dedupKey: 'reply', kind: 'reply', ref: 'alert:2', text: ':white_check_mark: CircuitBreakerOpen resolved.' });
  await ticks(ctx);
  const [parent, reply] = await rows(ctx);
  assert.ok(parent!.degraded_at, 'degraded once first');
  assert.ok(parent!.dead_at, 'then dead-lettered');
  assert.ok(reply!.sent_at, 'the reply went out');
  const sent = posts(ctx, '#alerts').find((c) => String(c.body.text).includes('resolved'))!;
  assert.is(sent.body.thread_ts, undefined, 'in the channel, not in a thread');
  assert.match(String(sent.body.text), /Reply to "CircuitBreakerOpen yelp/);
  assert.match(String(sent.body.text), /could not be posted/);
});

test('msg_blocks_too_long: degraded once to text only with the full detail uploaded as a file; the channel moves on', async (ctx) => {
  ctx.fake.refuse({ method: 'chat.postMessage', error: 'msg_blocks_too_long', times: 1 });
  await enqueue(ctx, { dedupKey: 'big', ref: 'alert:3', text: '[FIRING:1] HighBounceRate', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'bounce detail 🧑🏽‍💻 end' } }] });
  await enqueue(ctx, { dedupKey: 'next' });
  await ticks(ctx);
  const [big, next] = await rows(ctx);
  assert.ok(big!.degraded_at && big!.sent_at && !big!.dead_at, 'sent in its degraded form');
  assert.ok(next!.sent_at, 'the next post went out');
  const degraded = posts(ctx, '#alerts').find((c) => String(c.body.text).startsWith('[FIRING:1] HighBounceRate'))!;
  assert.is(degraded.body.blocks, undefined, 'text only');
  assert.match(String(degraded.body.text), /full detail is in the attached file/);
  assert.is(ctx.fake.files.length, 1, 'one file');
  assert.match(ctx.fake.files[0]!.content, /bounce detail 🧑🏽‍💻 end/);
  assert.is(ctx.fake.files[0]!.threadTs, (await ctx.db.orm.em.getConnection().execute<{ ts: string }[]>(`select ts from slack_messages where ref = 'alert:3'`))[0]!.ts, 'in the thread of the message');
});

test('503s: the failing message holds its channel at most LINE_BUDGET, later posts go out within 2 minutes, it is delivered when Slack is back', async (ctx) => {
  ctx.fake.refuse({ method: 'chat.postMessage', error: 'service_unavailable', status: 503, when: (b) => b.text === 'stuck' });
  await enqueue(ctx, { dedupKey: 'stuck' });
  await enqueue(ctx, { dedupKey: 'behind' });
  await enqueue(ctx, { dedupKey: 'other', channel: '#status' });
  const start = ctx.clock.now().getTime();
  let behindAt: number | undefined;
  for (let s = 0; s <= 180 && behindAt === undefined; s += 5) {
    await ticks(ctx, 2);
    if ((await rows(ctx))[1]!.sent_at) behindAt = ctx.clock.now().getTime() - start;
    ctx.clock.advance(5000);
  }
  assert.ok(behindAt !== undefined && behindAt <= 120_000, `the message behind went out after ${behindAt} ms of virtual time`);
  assert.ok(behindAt! >= LINE_BUDGET_MS, 'order was kept while the failure was short');
  assert.ok(posts(ctx, '#status').length === 1, 'another channel never waited');
  assert.ok((await rows(ctx))[0]!.detached, 'the failing one left the line');
  ctx.fake.clearRefusals();
  ctx.clock.advance(5 * 60_000);
  await ticks(ctx);
  assert.ok((await rows(ctx))[0]!.sent_at, 'delivered once Slack answered again');
});

test('a restart finds nothing stuck: held, degraded and orphaned rows are all settled by a new poster', async (ctx) => {
  ctx.fake.refuse({ method: 'chat.postMessage', error: 'not_in_channel', when: (b) => b.channel === '#gone' });
  await enqueue(ctx, { dedupKey: 'gone-post', channel: '#gone', ref: 'inc:1' });
  await enqueue(ctx, { dedupKey: 'gone-update', kind: 'update', channel: '#gone', ref: 'inc:1' });
  await enqueue(ctx, { dedupKey: 'a1', ref: 'alert:9', blocks: bigBlocks(20_000) });
  await enqueue(ctx, { dedupKey: 'a1-reply', kind: 'reply', ref: 'alert:9' });
  await enqueue(ctx, { dedupKey: 'orphan', kind: 'reply', ref: 'alert:never' });
  await ctx.poster.tick(); // one attempt, then "the process dies"
  ctx.poster = newPoster(ctx);
  ctx.clock.advance(91_000);
  await ticks(ctx, 10);
  const pending = (await rows(ctx)).filter((r) => !r.sent_at && !r.dead_at);
  assert.equal(pending, [], 'nothing pending');
  const dead = (await rows(ctx)).filter((r) => r.dead_at).map((r) => r.dedup_key);
  assert.equal(dead, ['gone-post', 'gone-update'], 'only the channel the bot is not in is dead-lettered');
  assert.ok(fakeAccepted(ctx).every((c) => blockTextLength(c.body.blocks as unknown[] | undefined) <= 12_000), 'every accepted message under 12,000 characters of block text');
});

function fakeAccepted(ctx: Ctx) {
  return ctx.fake.calls.filter((c) => c.method === 'chat.postMessage' || c.method === 'chat.update');
}

const FIXTURES = pathToFileURL(`${REAL_FIXTURES}/`);
const fixture = (rel: string) => readFileSync(new URL(rel, FIXTURES), 'utf8');

/** Twelve Alertmanager alerts (recorded payload) whose descriptions carry real provider error bodies. */
function realisticAlerts(errorsPerAlert: number): AlertRow[] {
  const am = JSON.parse(fixture('alertmanager/webhook-v4.firing.12-alerts.prometheus-msteams.json')) as { alerts: { labels: Record<string, string>; annotations: Record<string, string>; startsAt: string }[] };
  const bodies = ['pagespeed', 'openai', 'sendgrid', 'stripe']
    .flatMap((dir) => readdirSync(new URL(`${dir}/`, FIXTURES)).filter((f) => f.startsWith('error') || f.startsWith('mail-send.error')).map((f) => fixture(`${dir}/${f}`)))
    .filter((b) => b.length < 700);
  return am.alerts.map((a, i) => ({
    id: i + 1,
    fingerprint: `fp${i}`,
    groupKey: 'g',
    source: 'alertmanager',
    sourceStatus: { alertmanager: 'firing' },
    name: a.labels.alertname ?? 'alert',
    severity: 'critical',
    status: 'firing',
    labels: { ...a.labels, provider: ['yelp', 'pagespeed', 'openai', 'sendgrid'][i % 4]! },
    annotations: { ...a.annotations, summary: `${a.annotations.description ?? ''} Last errors: ${Array.from({ length: errorsPerAlert }, (_, k) => bodies[(i * errorsPerAlert + k) % bodies.length]!.replace(/\s+/g, ' ')).join(' | ')}` },
    runbook: 'external-apis',
    pendingSince: null,
    startsAt: new Date(a.startsAt),
    endsAt: null,
    flapCount: 0,
    diagnosis: null,
    incidentId: null,
    messageRef: 'alert:realistic',
  }));
}

testIf(test, HAVE_REAL_FIXTURES, NO_FIXTURES)('realistic alert messages (12.7k–17.6k characters of block text) are guarded and accepted by a Slack that refuses over 12,000', async (ctx) => {
  const services: Services = await testServices(ctx.db, {});
  try {
    const rb = findRunbook('external-apis')!;
    const diagnosis = await diagnose(rb, runbookContext(services));
    ctx.fake.refuse(blocksTooLong('chat.postMessage'));
    const sizes: number[] = [];
    for (const n of [3, 4]) {
      const group = alertGroupBody(realisticAlerts(n), { runbook: rb.id, diagnosis, nonce: 'n', issuedAt: ctx.clock.now().toISOString() });
      const msg = renderSlackMessage(group.body, group.text) as { text: string; blocks: unknown[] };
      const size = blockTextLength(msg.blocks);
      sizes.push(size);
      await enqueue(ctx, { dedupKey: `realistic-${n}`, ref: `alert:r${n}`, text: msg.text, blocks: msg.blocks });
    }
    assert.ok(sizes.every((s) => s >= 12_700 && s <= 17_600), `realistic sizes ${sizes.join(', ')}`);
    await ticks(ctx);
    assert.is(ctx.fake.calls.filter((c) => c.method.endsWith('#msg_blocks_too_long')).length, 0, 'never refused');
    const sent = posts(ctx, '#alerts');
    assert.is(sent.length, 2);
    for (const c of sent) {
      const blocks = c.body.blocks as unknown[];
      assert.ok(blocks.length <= 50 && blockTextLength(blocks) < 12_000, `guarded to ${blockTextLength(blocks)} characters`);
      assert.not.match(JSON.stringify(blocks), /\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])/i, 'no lone surrogate from a cut');
    }
  } finally {
    await services.close();
  }
});

test.run();
