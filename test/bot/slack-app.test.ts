import { existsSync, readFileSync } from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMetrics, type Metrics } from '../../alerts/metrics.js';
import { Business, JobRun } from '../../db/entities/index.js';
import { pendingMigrations, type Database } from '../../db/orm.js';
import { loadConfig } from '../../domain/config.js';
import { createLogger } from '../../domain/logger.js';
import { PIPELINE_JOB } from '../../domain/status.js';
import { createSlackApp, type SlackApp } from '../../bot/app.js';
import { buildMessage, section, statusBlocks } from '../../bot/blocks/status.js';
import { helpBlocks } from '../../bot/blocks/help.js';
import type { PipelineStatus } from '../../domain/status.js';
import { DB_KIND, freshDatabase } from '../helpers/db.js';
import { testServices } from '../helpers/services.js';
import { runbookContext } from '../helpers/runbooks.js';
import type { Services } from '../../domain/services.js';
import { realFixture } from '../helpers/fixtures.js';
import { testIf } from '../helpers/preconditions.js';
import { signSlackRequest, startFakeSlackApi, type FakeSlackApi, type FakeSlackCall } from '../helpers/slack.js';

const VECTOR = realFixture('slack/request-signing.vector.slack-docs.json');

const signer = suite('signSlackRequest');

testIf(signer, existsSync(VECTOR), `${VECTOR} is absent (set LF_SHARED_FIXTURES)`)('reproduces the signature in Slack docs recorded vector', () => {
  const v = JSON.parse(readFileSync(VECTOR, 'utf8')) as { signing_secret: string; body: string; timestamp: string; expected_signature: string };
  const headers = signSlackRequest(v.signing_secret, v.body, v.timestamp);
  assert.is(headers['x-slack-signature'], v.expected_signature);
  assert.is(headers['x-slack-request-timestamp'], v.timestamp);
});

signer.run();

const SECRET = 'test-signing-secret-0123456789';

interface Ctx {
  db: Database;
  services: Services;
  fake: FakeSlackApi;
  metrics: Metrics;
  slack: SlackApp;
  server: http.Server;
  base: string;
  seq: number;
}

const test = suite<Ctx>(`Slack app over HTTP (${DB_KIND})`);

test.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.fake = await startFakeSlackApi();
  ctx.metrics = createMetrics();
  const db = ctx.db;
  ctx.services = await testServices(db, {
    SLACK_SIGNING_SECRET: SECRET,
    SLACK_BOT_TOKEN: 'xoxb-test-token',
    SLACK_API_URL: ctx.fake.url,
  });
  const config = ctx.services.config;
  ctx.slack = createSlackApp({
    config,
    logger: createLogger('silent'),
    orm: db.orm,
    metrics: ctx.metrics,
    runbookContext: runbookContext(ctx.services),
    readiness: async () => {
      await db.orm.em.getConnection().execute('select 1');
      const pending = await pendingMigrations(db.orm);
      return { ok: pending.length === 0, checks: { database: 'ok', migrations: pending.length === 0 ? 'ok' : pending.join(',') } };
    },
  });
  ctx.server = await ctx.slack.start(0);
  ctx.base = `http://127.0.0.1:${(ctx.server.address() as AddressInfo).port}`;
  ctx.seq = 0;

  const em = db.orm.em.fork();
  const startedAt = new Date(Date.now() - 3_600_000);
  em.create(JobRun, {
    job: PIPELINE_JOB,
    status: 'succeeded',
    trigger: 'schedule',
    startedAt,
    heartbeatAt: startedAt,
    finishedAt: new Date(startedAt.getTime() + 192_000),
    counts: { sourced: 20, assessed: 17, emailed: 4 },
  });
  em.create(JobRun, {
    job: PIPELINE_JOB,
    status: 'failed',
    trigger: 'manual',
    startedAt: new Date(startedAt.getTime() + 600_000),
    heartbeatAt: new Date(),
    finishedAt: new Date(startedAt.getTime() + 660_000),
    counts: { sourced: 3 },
    error: 'yelp search: 429 <too many>',
  });
  for (let i = 0; i < 7; i++) {
    em.create(Business, { yelpId: `y-${i}`, name: `Biz ${i}`, status: i < 4 ? 'new' : 'assessment_failed' });
  }
  await em.flush();
});

test.after(async (ctx) => {
  await ctx.slack?.stop();
  await ctx.fake?.close();
  await ctx.services?.close();
  await ctx.db?.close();
});

/** Form body of a `/lf` slash command whose response_url points at the fake. */
function commandBody(ctx: Ctx, text: string): { body: string; id: string } {
  const id = `cmd-${++ctx.seq}`;
  const body = new URLSearchParams({
    token: 'legacy-verification-token',
    team_id: 'T0TEST',
    team_domain: 'leadfactory',
    channel_id: 'C0OPS',
    channel_name: 'ops',
    user_id: 'U0OPERATOR',
    user_name: 'operator',
    command: '/lf',
    text,
    api_app_id: 'A0TEST',
    response_url: ctx.fake.responseUrl(id),
    trigger_id: '123.456.abc',
  }).toString();
  return { body, id };
}

function post(ctx: Ctx, body: string, headers: Record<string, string>): Promise<Response> {
  return fetch(`${ctx.base}/slack/events`, { method: 'POST', body, headers });
}

function allText(call: FakeSlackCall): string {
  return JSON.stringify(call.body.blocks ?? []) + String(call.body.text ?? '');
}

async function tableCounts(db: Database): Promise<string> {
  const rows = await db.orm.em
    .getConnection()
    .execute('select (select count(*) from job_runs) as runs, (select count(*) from businesses) as b, (select max(heartbeat_at) from job_runs) as hb');
  return JSON.stringify(rows);
}

test('a signed /lf status is acked with 200 and its Block Kit answer reaches the response_url', async (ctx) => {
  const { body, id } = commandBody(ctx, 'status');
  const res = await post(ctx, body, signSlackRequest(SECRET, body));
  assert.is(res.status, 200);
  const call = await ctx.fake.waitFor((c) => c.kind === 'response_url' && c.method === id);
  assert.is(call.body.response_type, 'ephemeral');
  assert.type(call.body.text, 'string');
  const blocks = call.body.blocks as { type: string }[];
  assert.ok(Array.isArray(blocks) && blocks.length > 0 && blocks.length <= 50);
  const text = allText(call);
  assert.match(text, /Run #2\* failed/);
  assert.match(text, /Run #1\* succeeded/);
  assert.match(text, /sourced 20 · assessed 17 · emailed 4/);
  assert.match(text, /3m 12s/);
  assert.match(text, /:x:/);
  assert.match(text, /:white_check_mark:/);
  assert.match(text, /429 &lt;too many&gt;/); // error text escaped for mrkdwn
  assert.match(text, /\*new\*\\n4/);
  assert.match(text, /\*assessment failed\*\\n3/);
  assert.match(text, /7 total/);
  assert.not.ok(ctx.fake.calls.some((c) => c.method === 'auth.test'), 'Bolt must not call auth.test');
});

test('/lf with unknown text, and with no text, answers with help', async (ctx) => {
  const unknown = commandBody(ctx, 'frobnicate now');
  assert.is((await post(ctx, unknown.body, signSlackRequest(SECRET, unknown.body))).status, 200);
  const call = await ctx.fake.waitFor((c) => c.kind === 'response_url' && c.method === unknown.id);
  assert.match(allText(call), /frobnicate/);
  assert.match(allText(call), /\/lf status/);
  assert.match(allText(call), /\/lf help/);
  assert.not.match(allText(call), /at .*\.ts:\d+/); // no stack trace

  const empty = commandBody(ctx, '');
  assert.is((await post(ctx, empty.body, signSlackRequest(SECRET, empty.body))).status, 200);
  const help = await ctx.fake.waitFor((c) => c.kind === 'response_url' && c.method === empty.id);
  assert.match(allText(help), /\/lf status/);
  assert.is(help.body.response_type, 'ephemeral');
});

test('a bad signature and a stale timestamp get 401, no response_url post and no DB change', async (ctx) => {
  const before = await tableCounts(ctx.db);
  const bad = commandBody(ctx, 'status');
  const badRes = await post(ctx, bad.body, signSlackRequest('not-the-secret', bad.body));
  assert.is(badRes.status, 401);
  const stale = commandBody(ctx, 'status');
  const staleRes = await post(ctx, stale.body, signSlackRequest(SECRET, stale.body, Math.floor(Date.now() / 1000) - 6 * 60));
  assert.is(staleRes.status, 401);
  await new Promise((r) => setTimeout(r, 400));
  assert.not.ok(ctx.fake.calls.some((c) => c.method === bad.id || c.method === stale.id));
  assert.is(await tableCounts(ctx.db), before);
});

test('/metrics serves the catalog and counts /lf subcommands', async (ctx) => {
  const res = await fetch(`${ctx.base}/metrics`);
  assert.is(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  const body = await res.text();
  assert.match(body, /leadfactory_pipeline_businesses_processed_total\{stage="sourced"\} 0/);
  assert.match(body, /leadfactory_slack_commands_total\{subcommand="status"\} 1/);
  assert.match(body, /leadfactory_slack_commands_total\{subcommand="unknown"\} 1/);
  assert.match(body, /process_cpu_user_seconds_total/);
});

test('/healthz answers 200 and /readyz 200 with its checks', async (ctx) => {
  const health = await fetch(`${ctx.base}/healthz`);
  assert.is(health.status, 200);
  assert.equal(await health.json(), { ok: true });
  const ready = await fetch(`${ctx.base}/readyz`);
  assert.is(ready.status, 200);
  assert.equal(await ready.json(), { ok: true, checks: { database: 'ok', migrations: 'ok' } });
});

test.run();

const notReady = suite('Slack app /readyz when not ready');

notReady('answers 503 with the failed checks, and 503 when the probe throws', async () => {
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent' }); // no token: authorize-less console mode
  let mode: 'down' | 'throw' = 'down';
  const slack = createSlackApp({
    config,
    logger: createLogger('silent'),
    orm: undefined as never, // no listener runs in this test
    runbookContext: undefined as never,
    metrics: createMetrics(),
    readiness: async () => {
      if (mode === 'throw') throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      return { ok: false, checks: { database: 'connect ECONNREFUSED', migrations: 'unknown' } };
    },
  });
  const server = await slack.start(0);
  try {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const down = await fetch(`${base}/readyz`);
    assert.is(down.status, 503);
    assert.equal(await down.json(), { ok: false, checks: { database: 'connect ECONNREFUSED', migrations: 'unknown' } });
    mode = 'throw';
    const thrown = await fetch(`${base}/readyz`);
    assert.is(thrown.status, 503);
    // what is unavailable, never the driver's text (it can carry hosts, users and SQL)
    const body = JSON.stringify(await thrown.json());
    assert.equal(JSON.parse(body), { ok: false, checks: { readiness: 'unavailable' } });
    assert.not.match(body, /ECONNREFUSED/);
  } finally {
    await slack.stop();
  }
});

notReady.run();

const limits = suite('Block Kit builders');

limits('cap a message at 50 blocks with a "+N more" line, and section text at 3000 characters', () => {
  const many = buildMessage('x', Array.from({ length: 80 }, (_, i) => section(`line ${i} ${'y'.repeat(4000)}`)));
  assert.is(many.blocks.length, 50);
  assert.match(JSON.stringify(many.blocks[49]), /\+31 more not shown/);
  for (const b of many.blocks.slice(0, 49)) assert.ok((b as { text: { text: string } }).text.text.length <= 3000);
});

limits('always set a top-level text, also for an empty status and for help', () => {
  const empty: PipelineStatus = {
    generatedAt: '2026-01-01T00:00:00.000Z',
    runs: [],
    businessesByStatus: { new: 0, assessment_pending: 0, assessed: 0, assessment_failed: 0, scored: 0, email_pending: 0, emailed: 0, suppressed: 0, skipped: 0 },
    businessesTotal: 0,
    emailsByStatus: { pending: 0, held: 0, sending: 0, sent: 0, delivered: 0, bounced: 0, dropped: 0, deferred: 0, spam_reported: 0, unsubscribed: 0, failed: 0, suppressed: 0 },
    emailsTotal: 0,
    activeTargets: 0,
  };
  const status = statusBlocks(empty);
  assert.match(status.text, /no runs yet/);
  assert.match(JSON.stringify(status.blocks), /No pipeline runs recorded yet/);
  assert.ok(helpBlocks().text.length > 0);
  assert.match(helpBlocks({ unknown: '<script>' }).blocks.map((b) => JSON.stringify(b)).join(''), /&lt;script&gt;/);
});

limits.run();
