import { webApi } from '@slack/bolt';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMetrics } from '../../alerts/metrics.js';
import { consoleSink, createNotifier, slackSink, type ChatClient } from '../../alerts/notifier.js';
import type { Database } from '../../db/orm.js';
import { systemClock } from '../../domain/clock.js';
import { recordOpsEvent } from '../../domain/events.js';
import { createLogger } from '../../domain/logger.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { startFakeSlackApi, type FakeSlackApi } from '../helpers/slack.js';

type Ctx = { db: Database; slack: FakeSlackApi };
const notifier = suite<Ctx>(`notifier (${DB_KIND})`);

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
  new webApi.WebClient('xoxb-test-token', { slackApiUrl: slack.url, retryConfig: { retries: 0 } }) as unknown as ChatClient;

function makeNotifier(ctx: Ctx, sink = slackSink(client(ctx.slack))) {
  return createNotifier({
    orm: ctx.db.orm,
    logger: createLogger('silent'),
    metrics: createMetrics(),
    sink,
    channel: '#lf-status',
    clock: systemClock,
  });
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
  assert.is(posted, 2, 'two notifiers racing post each event once');
  await a.tick();
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

notifier('a failed post is kept and delivered on a later tick', async (ctx) => {
  await recordOpsEvent(ctx.db.orm.em.fork(), { type: 'pipeline.run_started', severity: 'info', dedupKey: 's:1', payload: { runId: 1, trigger: 'test' } });
  let fail = true;
  const flaky = {
    kind: 'slack' as const,
    async post(channel: string, msg: { text: string; blocks: unknown[] }) {
      if (fail) throw new Error('An API error occurred: ratelimited');
      return slackSink(client(ctx.slack)).post(channel, msg);
    },
  };
  const n = makeNotifier(ctx, flaky);
  assert.is(await n.tick(), 0);
  const [row] = await ctx.db.orm.em.getConnection().execute<{ last_error: string; posted_at: Date | null }[]>('select last_error, posted_at from ops_events');
  assert.match(row!.last_error, 'ratelimited');
  assert.is(row!.posted_at, null);
  fail = false;
  assert.is(await n.tick(), 1);
  assert.is(ctx.slack.calls.filter((c) => c.path.endsWith('chat.postMessage')).length, 1);
});

notifier('without a bot token the same message goes to the console', async (ctx) => {
  await recordOpsEvent(ctx.db.orm.em.fork(), { type: 'pipeline.run_started', severity: 'info', dedupKey: 's:2', payload: { runId: 2, trigger: 'start' } });
  const lines: string[] = [];
  const n = makeNotifier(ctx, consoleSink((l) => lines.push(l)));
  assert.is(await n.tick(), 1);
  assert.equal(lines, ['[slack #lf-status] :large_blue_circle: Pipeline run #2 started (start).']);
});

notifier.run();
