import { webApi } from '@slack/bolt';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMetrics } from '../../alerts/metrics.js';
import { createNotifier } from '../../alerts/notifier.js';
import { consoleTransport, createSlackPoster, webClientTransport, type SlackTransport } from '../../alerts/slack-outbox.js';
import { renderSlackMessage } from '../../bot/render/slack-messages.js';
import type { Database } from '../../db/orm.js';
import { systemClock } from '../../domain/clock.js';
import { loadConfig } from '../../domain/config.js';
import { recordOpsEvent } from '../../domain/events.js';
import { createLogger } from '../../domain/logger.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { startFakeSlackApi, type FakeSlackApi } from '../helpers/slack.js';

type Ctx = { db: Database; slack: FakeSlackApi };
const notifier = suite<Ctx>(`notifier (${DB_KIND})`);
const config = loadConfig({ SLACK_STATUS_CHANNEL: '#lf-status' });
const logger = createLogger('silent');

notifier.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.slack = await startFakeSlackApi();
});
notifier.after(async (ctx) => {
  await ctx.slack.close();
  await ctx.db.close();
});
notifier.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  ctx.slack.calls.length = 0;
});

const client = (slack: FakeSlackApi) =>
  new webApi.WebClient('xoxb-test-token', { slackApiUrl: slack.url, rejectRateLimitedCalls: true, retryConfig: { retries: 0 } });

function makeNotifier(ctx: Ctx) {
  return createNotifier({ orm: ctx.db.orm, logger, metrics: createMetrics(), config, clock: systemClock });
}

/** The outbox poster the notifier hands its posts to (the service's one Slack exit). */
function makePoster(ctx: Ctx, transport: SlackTransport = webClientTransport(client(ctx.slack))) {
  return createSlackPoster({ orm: ctx.db.orm, logger, clock: systemClock, transport, render: renderSlackMessage, channelGapMs: 0 });
}

/** Ticks the poster until nothing more is due. */
async function drain(poster: ReturnType<typeof makePoster>): Promise<number> {
  let n = 0;
  for (let sent = await poster.tick(); sent > 0; sent = await poster.tick()) n += sent;
  return n;
}

notifier('posts each ops event once to the status channel through the Slack Web API', async (ctx) => {
  const em = ctx.db.orm.em.fork();
  const ev = { type: 'pipeline.run_finished', severity: 'info' as const, payload: { runId: 7, durationMs: 4200, counts: { sourced: 12, emailed: 9 } } };
  assert.ok(await recordOpsEvent(em, { ...ev, dedupKey: 'pipeline.run_finished:7' }));
  assert.not.ok(await recordOpsEvent(em, { ...ev, dedupKey: 'pipeline.run_finished:7' }), 'dedup key holds');
  await recordOpsEvent(em, { type: 'pipeline.run_failed', severity: 'critical', dedupKey: 'f:8', payload: { runId: 8, error: 'boom' } });

  const a = makeNotifier(ctx);
  const b = makeNotifier(ctx);
  const posted = (await Promise.all([a.tick(), b.tick()])).reduce((s, n) => s + n, 0);
  assert.is(posted, 2, 'two notifiers racing hand each event over once');
  await a.tick();
  assert.is(await drain(makePoster(ctx)), 2, 'the outbox poster delivers both');
  const posts = ctx.slack.calls.filter((c) => c.path.endsWith('chat.postMessage'));
  assert.is(posts.length, 2);
  assert.is(posts[0]!.body.channel, '#lf-status');
  assert.match(String(posts[0]!.body.text), 'Pipeline run #7 finished');
  assert.match(String(posts[0]!.body.text), 'sourced 12');
  assert.ok(Array.isArray(posts[0]!.body.blocks) && (posts[0]!.body.blocks as unknown[]).length > 0, 'Block Kit sent');
  assert.match(String(posts[1]!.body.text), 'FAILED: boom');
  assert.is(posts[0]!.headers.authorization, 'Bearer xoxb-test-token');
  const [{ n }] = await ctx.db.orm.em.getConnection().execute<{ n: string }[]>('select count(*) as n from ops_events where posted_at is null');
  assert.is(Number(n), 0);
});

notifier('a failed post is kept in the outbox and delivered on a later tick (the outbox retries, not the notifier)', async (ctx) => {
  await recordOpsEvent(ctx.db.orm.em.fork(), { type: 'pipeline.run_started', severity: 'info', dedupKey: 's:1', payload: { runId: 1, trigger: 'test' } });
  ctx.slack.refuse({ method: 'chat.postMessage', error: 'internal_error', status: 503, times: 1 });
  assert.is(await makeNotifier(ctx).tick(), 1);
  const poster = makePoster(ctx);
  assert.is(await poster.tick(), 0, 'Slack answered 503');
  const [row] = await ctx.db.orm.em.getConnection().execute<{ last_error: string; sent_at: Date | null; route: string }[]>('select last_error, sent_at, route from slack_outbox');
  assert.match(row!.last_error, 'http_503');
  assert.is(row!.sent_at, null);
  assert.is(row!.route, 'status');
  await ctx.db.orm.em.getConnection().execute('update slack_outbox set not_before = null');
  assert.is(await poster.tick(), 1);
  assert.is(ctx.slack.calls.filter((c) => c.path.endsWith('chat.postMessage') && !c.method.includes('#')).length, 1);
});

notifier('a recovery is routed to the recoveries channel (SLACK_ROUTES), other events to status', async (ctx) => {
  const routedConfig = loadConfig({ SLACK_STATUS_CHANNEL: '#lf-status', SLACK_ROUTES: 'recoveries=#lf-recoveries' });
  const em = ctx.db.orm.em.fork();
  await recordOpsEvent(em, { type: 'breaker.closed', severity: 'info', dedupKey: 'c:1', payload: { provider: 'yelp', reason: '3 successful probes' } });
  await recordOpsEvent(em, { type: 'pipeline.run_started', severity: 'info', dedupKey: 's:3', payload: { runId: 3, trigger: 'cron' } });
  await createNotifier({ orm: ctx.db.orm, logger, metrics: createMetrics(), config: routedConfig, clock: systemClock }).tick();
  await drain(makePoster(ctx));
  const posts = ctx.slack.calls.filter((c) => c.method === 'chat.postMessage');
  assert.equal(posts.map((p) => [p.body.channel, /recovered/.test(String(p.body.text))]).sort(), [['#lf-recoveries', true], ['#lf-status', false]]);
});

notifier('without a bot token the same message goes to the console', async (ctx) => {
  await recordOpsEvent(ctx.db.orm.em.fork(), { type: 'pipeline.run_started', severity: 'info', dedupKey: 's:2', payload: { runId: 2, trigger: 'start' } });
  const lines: string[] = [];
  assert.is(await makeNotifier(ctx).tick(), 1);
  assert.is(await drain(makePoster(ctx, consoleTransport((l) => lines.push(l)))), 1);
  assert.equal(lines, ['[slack #lf-status] :large_blue_circle: Pipeline run #2 started (start).']);
});

notifier.run();
