/**
 * Alert evaluation end to end with an accelerated clock: a fault (breaker open) → CircuitBreakerOpen fires once
 * with the external-apis diagnosis → one post in the alerts channel and a SEV2 incident → re-evaluation changes
 * nothing → resolution as a thread reply plus an edit → a quick re-fire is a flap folded into the same message;
 * `for` durations hold pending alerts back; silences mute posts, not evaluation. Then the outbox poster delivers
 * to a fake Slack: in order, 1 post/s per channel, updates and replies on the posted ts, a 429 Retry-After honoured.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { ManualClock } from '../../domain/clock.js';
import { createLogger } from '../../domain/logger.js';
import type { Services } from '../../domain/services.js';
import { evaluateAlerts } from '../../alerts/evaluate.js';
import { findRule } from '../../alerts/rules.js';
import { createSilence } from '../../alerts/silences.js';
import { createSlackPoster, webClientTransport } from '../../alerts/slack-outbox.js';
import { getAlert } from '../../alerts/store.js';
import type { ProcessProbes } from '../../runbooks/context.js';
import { webApi } from '@slack/bolt';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';
import { startFakeSlackApi } from '../helpers/slack.js';
import { rendered } from '../helpers/outbox.js';
import { renderSlackMessage } from '../../bot/render/slack-messages.js';

type Ctx = { db: Database; services: Services; clock: ManualClock };
const test = suite<Ctx>(`alert evaluation and posting (${DB_KIND})`);

test.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.clock = new ManualClock('2026-11-29T03:00:00Z');
  ctx.services = await testServices(ctx.db, { PIPELINE_CRON: '0 2 * * *' }, { clock: ctx.clock });
});
test.after(async (ctx) => {
  await ctx.services.close();
  await ctx.db.close();
});
test.before.each(async (ctx) => {
  await truncateAll(ctx.db);
});

const logger = createLogger('silent');
function deps(ctx: Ctx, probes: Partial<ProcessProbes> = {}) {
  return { em: () => ctx.db.orm.em.fork(), config: ctx.services.config, clock: ctx.clock, logger, runbooks: runbookContext(ctx.services, { probes }) };
}
const rules = (...names: string[]) => names.map((n) => findRule(n)!);
async function outbox(ctx: Ctx) {
  return rendered(
    await ctx.db.orm.em
      .getConnection()
      .execute<{ id: number; kind: string; channel: string; ref: string | null; text: string; blocks: unknown[] | null }[]>('select id, kind, channel, ref, text, blocks, body from slack_outbox order by id'),
  );
}
async function openBreaker(ctx: Ctx, provider: string, state: 'open' | 'closed') {
  await ctx.db.orm.em.getConnection().execute(
    `insert into provider_state (provider, breaker_state, consecutive_failures, generation, half_open_successes, opened_at, last_error, updated_at)
     values (?, ?, 5, 1, 0, ?, 'HTTP 500 from sandbox', ?) on conflict (provider) do update set breaker_state = excluded.breaker_state, opened_at = excluded.opened_at`,
    [provider, state, ctx.clock.now(), ctx.clock.now()],
  );
}

test('breaker open → one post with the runbook diagnosis and a SEV2 incident; again → nothing new; closed → reply + edit; re-open → flap folded', async (ctx) => {
  await openBreaker(ctx, 'yelp', 'open');
  const r1 = await evaluateAlerts(deps(ctx), rules('CircuitBreakerOpen'));
  assert.equal(r1.transitions.map((t) => t.transition), ['fired']);
  assert.is(r1.incidents.length, 1, 'critical alert → incident by policy');
  let box = await outbox(ctx);
  const posts = box.filter((m) => m.kind === 'post' && m.channel === ctx.services.config.alerting.alertsChannel);
  assert.is(posts.length, 1);
  const post = JSON.stringify(posts[0]!.blocks);
  assert.match(posts[0]!.text, /\[FIRING:1\] CircuitBreakerOpen/);
  assert.match(post, /provider=yelp/);
  assert.match(post, /External APIs/, 'the runbook diagnosis is in the post');
  assert.match(post, /remediate:external-apis\/reset-breaker/, 'with its remediation button');
  const alert = (await ctx.db.orm.em.getConnection().execute<{ fingerprint: string }[]>('select fingerprint from alerts'))[0]!;
  assert.ok((await getAlert(ctx.db.orm.em.fork(), alert.fingerprint))?.diagnosis, 'diagnosis stored on the alert');

  ctx.clock.advance(30_000);
  const r2 = await evaluateAlerts(deps(ctx), rules('CircuitBreakerOpen'));
  assert.equal(r2.transitions.map((t) => t.transition), ['none']);
  assert.is((await outbox(ctx)).length, box.length, 're-evaluation posts nothing');

  ctx.clock.advance(30_000);
  await openBreaker(ctx, 'yelp', 'closed');
  const r3 = await evaluateAlerts(deps(ctx), rules('CircuitBreakerOpen'));
  assert.equal(r3.transitions.map((t) => t.transition), ['resolved']);
  box = await outbox(ctx);
  const ref = posts[0]!.ref;
  assert.ok(box.some((m) => m.kind === 'reply' && m.ref === ref && /resolved after 1 min/.test(m.text)));
  assert.ok(box.some((m) => m.kind === 'update' && m.ref === ref && /\[RESOLVED\]/.test(m.text)));

  ctx.clock.advance(60_000);
  await openBreaker(ctx, 'yelp', 'open');
  const r4 = await evaluateAlerts(deps(ctx), rules('CircuitBreakerOpen'));
  assert.equal(r4.transitions.map((t) => t.transition), ['reopened']);
  const after = await outbox(ctx);
  assert.is(after.filter((m) => m.kind === 'post' && m.channel === ctx.services.config.alerting.alertsChannel).length, 1, 'a flap is not a new post');
  assert.ok(after.some((m) => m.kind === 'update' && m.ref === ref && /flapping ×1/.test(JSON.stringify(m.blocks))));
});

test('a rule with `for` stays pending until its condition has held long enough; a condition that clears while pending posts nothing', async (ctx) => {
  const big = { memoryUsage: () => ({ rss: 2 * 1024 ** 3, heapTotal: 1, heapUsed: 1, external: 0, arrayBuffers: 0 }) };
  const r1 = await evaluateAlerts(deps(ctx, big), rules('HighMemory'));
  assert.is(r1.transitions.length, 0);
  assert.equal(r1.pending, ['HighMemory']);
  ctx.clock.advance(4 * 60_000);
  assert.is((await evaluateAlerts(deps(ctx, big), rules('HighMemory'))).transitions.length, 0);
  ctx.clock.advance(60_000);
  const fired = await evaluateAlerts(deps(ctx, big), rules('HighMemory'));
  assert.equal(fired.transitions.map((t) => t.transition), ['fired']);
  assert.is(fired.incidents.length, 0, 'warnings declare no incident by default');
  // another instance: pending then cleared
  await truncateAll(ctx.db);
  await evaluateAlerts(deps(ctx, big), rules('HighMemory'));
  const cleared = await evaluateAlerts(deps(ctx), rules('HighMemory'));
  assert.equal(cleared.transitions.map((t) => t.transition), ['resolved_unseen']);
  assert.is((await outbox(ctx)).length, 0);
});

test('a silence mutes the post but the alert is still evaluated and stored', async (ctx) => {
  await createSilence(ctx.db.orm.em.fork(), { matchers: { alertname: 'CircuitBreakerOpen', provider: 'sendgrid' }, durationMs: 3600_000, createdBy: 'slack:UOPS' }, ctx.clock.now());
  await openBreaker(ctx, 'sendgrid', 'open');
  await openBreaker(ctx, 'stripe', 'open');
  const r = await evaluateAlerts(deps(ctx), rules('CircuitBreakerOpen'));
  const byProvider = Object.fromEntries(r.transitions.map((t) => [t.silenced, t.transition]));
  assert.is(byProvider.true, 'fired');
  assert.is(r.transitions.filter((t) => t.silenced).length, 1);
  const posts = (await outbox(ctx)).filter((m) => m.kind === 'post' && m.channel === ctx.services.config.alerting.alertsChannel);
  assert.is(posts.length, 1);
  assert.match(posts[0]!.text, /CircuitBreakerOpen/);
  assert.match(JSON.stringify(posts[0]!.blocks), /provider=stripe/);
  assert.is((await ctx.db.orm.em.getConnection().execute<{ n: number }[]>(`select count(*)::int as n from alerts where status = 'firing'`))[0]!.n, 2);
});

test('PipelineDown fires when a due run processed nothing for 2 h; a rule that throws changes nothing', async (ctx) => {
  // due at 02:00, now 03:00 → not yet; at 04:01 → fires
  assert.is((await evaluateAlerts(deps(ctx), rules('PipelineDown'))).transitions.length, 0);
  ctx.clock.advance(61 * 60_000);
  const r = await evaluateAlerts(deps(ctx), rules('PipelineDown'));
  assert.equal(r.transitions.map((t) => `${t.name}:${t.transition}`), ['PipelineDown:fired']);
  const broken = { ...findRule('PipelineDown')!, evaluate: async () => Promise.reject(new Error('db went away')) };
  const r2 = await evaluateAlerts(deps(ctx), [broken]);
  assert.equal(r2.failed, [{ rule: 'PipelineDown', error: 'db went away' }]);
  assert.is(r2.transitions.length, 0, 'a failed read neither fires nor resolves');
  assert.is((await ctx.db.orm.em.getConnection().execute<{ status: string }[]>(`select status from alerts where name = 'PipelineDown'`))[0]!.status, 'firing');
});

test('poster: posts once, edits and replies on the posted ts, 1 post/s per channel, waits out a 429 Retry-After', async (ctx) => {
  const fake = await startFakeSlackApi();
  try {
    await openBreaker(ctx, 'yelp', 'open');
    await evaluateAlerts(deps(ctx), rules('CircuitBreakerOpen'));
    ctx.clock.advance(60_000);
    await openBreaker(ctx, 'yelp', 'closed');
    await evaluateAlerts(deps(ctx), rules('CircuitBreakerOpen'));
    const client = new webApi.WebClient('xoxb-test', { slackApiUrl: fake.url, rejectRateLimitedCalls: true, retryConfig: { retries: 0 } });
    fake.rateLimitNext('chat.update', 1);
    const realClock = { now: () => new Date() };
    const poster = createSlackPoster({ orm: ctx.db.orm, logger, clock: realClock, transport: webClientTransport(client), intervalMs: 50, render: renderSlackMessage });
    poster.start();
    const alertsChannel = ctx.services.config.alerting.alertsChannel;
    const post = await fake.waitFor((c) => c.method === 'chat.postMessage' && c.body.channel === alertsChannel, 10_000);
    const reply = await fake.waitFor((c) => c.method === 'chat.postMessage' && c.body.channel === alertsChannel && c.body.thread_ts !== undefined, 10_000);
    const limited = await fake.waitFor((c) => c.method === 'chat.update#429', 10_000);
    const update = await fake.waitFor((c) => c.method === 'chat.update', 10_000);
    await poster.stop();
    assert.ok(reply.at - post.at >= 950, `1 per second per channel (${reply.at - post.at} ms)`);
    assert.ok(update.at - limited.at >= 950, `Retry-After waited (${update.at - limited.at} ms)`);
    assert.ok(update.body.ts && typeof update.body.ts === 'string', 'the update targets the posted ts');
    const unsent = await ctx.db.orm.em.getConnection().execute<{ n: number }[]>(`select count(*)::int as n from slack_outbox where sent_at is null and channel = ?`, [alertsChannel]);
    assert.is(unsent[0]!.n, 0, 'nothing lost');
    const posts = fake.calls.filter((c) => c.method === 'chat.postMessage' && c.body.channel === alertsChannel && c.body.thread_ts === undefined);
    assert.is(posts.length, 1, 'posted once');
  } finally {
    await fake.close();
  }
});

test.run();
