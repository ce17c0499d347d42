import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createNotifier } from '../../alerts/notifier.js';
import { consoleTransport, createSlackPoster } from '../../alerts/slack-outbox.js';
import { applyObservation, createMetrics } from '../../alerts/metrics.js';
import type { Database } from '../../db/orm.js';
import { ManualClock } from '../../domain/clock.js';
import { loadConfig } from '../../domain/config.js';
import { BudgetExceededError, CircuitOpenError, ProviderError, RateLimitedError } from '../../domain/errors.js';
import { DeadlineExceededError } from '../../domain/gateway/gateway.js';
import { flushLedgers } from '../../domain/gateway/ledger.js';
import type { GatewayObservation } from '../../domain/gateway/observer.js';
import { createLogger } from '../../domain/logger.js';
import { sandboxAdmin, startSandbox, type Sandbox } from '../../domain/sandbox/index.js';
import type { Services } from '../../domain/services.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { testServices } from '../helpers/services.js';

type Ctx = { db: Database; sandbox: Sandbox; open: Services[] };
const gw = suite<Ctx>(`gateway call path (${DB_KIND})`);

gw.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.sandbox = await startSandbox({ seed: 3, port: 0 });
  ctx.open = [];
});
gw.after(async (ctx) => {
  await ctx.sandbox.close();
  await ctx.db.close();
});
gw.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  await sandboxAdmin(ctx.sandbox.url).clearFaults();
  await sandboxAdmin(ctx.sandbox.url).resetStats();
});
gw.after.each(async (ctx) => {
  for (const s of ctx.open.splice(0)) await s.close();
});

async function services(ctx: Ctx, env: Record<string, string> = {}, overrides = {}): Promise<Services> {
  const s = await testServices(ctx.db, { SANDBOX_URL: ctx.sandbox.url, GATEWAY_RETRY_BASE_MS: '5', ...env }, overrides);
  ctx.open.push(s);
  return s;
}
const admin = (ctx: Ctx) => sandboxAdmin(ctx.sandbox.url);
// rows are written behind the call (ledger.ts): write this process's buffered rows first
const ledger = async (ctx: Ctx) =>
  (await flushLedgers(), ctx.db.orm.em)
    .getConnection()
    .execute<{ provider: string; operation: string; outcome: string; attempts: number; cache_hit: boolean; cost_usd: string; prompt_tokens: number | null; completion_tokens: number | null; http_status: number | null }[]>(
      'select provider, operation, outcome, attempts, cache_hit, cost_usd, prompt_tokens, completion_tokens, http_status from api_calls order by id',
    );
async function rejects(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

gw('a read is cached: the same PageSpeed run again is a cache hit that never reaches the provider', async (ctx) => {
  const s = await services(ctx);
  const a = await s.providers.pagespeed.run('https://www.example-bakery.com/');
  const b = await s.providers.pagespeed.run('https://www.example-bakery.com/');
  assert.equal(b, a);
  assert.is((await admin(ctx).stats()).requests.pagespeed, 1);
  assert.equal((await ledger(ctx)).map((r) => [r.outcome, r.cache_hit]), [['ok', false], ['cache_hit', true]]);
  const ttl0 = await services(ctx, { PAGESPEED_CACHE_TTL: '0' });
  await ttl0.providers.pagespeed.run('https://www.example-florist.com/');
  await ttl0.providers.pagespeed.run('https://www.example-florist.com/');
  assert.is((await admin(ctx).stats()).requests.pagespeed, 3, 'TTL 0 turns the cache off');
});

gw('retryable failures are retried with backoff until one succeeds, in one ledger row', async (ctx) => {
  const s = await services(ctx);
  await admin(ctx).setFault('yelp', { fault: 'server_error', status: 502, count: 2 });
  const page = await s.providers.yelp.search({ location: 'Austin, TX', category: 'plumbing', limit: 3, offset: 0 });
  assert.is(page.businesses.length, 3);
  assert.is((await admin(ctx).stats()).requests.yelp, 3);
  const [row] = await ledger(ctx);
  assert.equal([row!.outcome, row!.attempts], ['ok', 3]);
});

gw('a SendGrid send is retried only when it certainly was not accepted; a timeout is never resent', async (ctx) => {
  const s = await services(ctx, { PROVIDER_TIMEOUT_MS: '200' });
  const msg = { to: 'info@example-bakery.com', from: 'audits@leadfactory.example', subject: 'Hi', text: 'Hello', customArgs: { email_id: '42' } };
  await admin(ctx).setFault('sendgrid', { fault: 'server_error', status: 503, count: 1 });
  const sent = await s.providers.sendgrid.send(msg);
  assert.ok(sent.messageId);
  assert.is((await admin(ctx).stats()).requests.sendgrid, 2, 'a 503 answer means not accepted: retried once');
  await admin(ctx).setFault('sendgrid', { fault: 'timeout' });
  const err = await rejects(s.providers.sendgrid.send(msg));
  assert.instance(err, ProviderError);
  assert.is((err as ProviderError).status, undefined);
  assert.is((await admin(ctx).stats()).requests.sendgrid, 3, 'the timed-out send (maybe accepted) was not resent');
});

gw('Retry-After is honoured up to the cap; a longer one fails fast and keeps calls off for that period', async (ctx) => {
  const s = await services(ctx, { GATEWAY_RETRY_AFTER_CAP_MS: '1500', GATEWAY_MAX_WAIT_MS: '100' });
  await admin(ctx).setFault('yelp', { fault: 'rate_limit', retryAfterSeconds: 1, count: 1 });
  const t0 = Date.now();
  await s.providers.yelp.search({ location: 'Denver, CO', limit: 1, offset: 0 });
  assert.ok(Date.now() - t0 >= 950, `waited ${Date.now() - t0} ms for Retry-After: 1`);

  await admin(ctx).setFault('yelp', { fault: 'rate_limit', retryAfterSeconds: 30, count: 1 });
  const t1 = Date.now();
  const err = await rejects(s.providers.yelp.search({ location: 'Denver, CO', limit: 1, offset: 1 }));
  assert.instance(err, ProviderError);
  assert.is((err as ProviderError).status, 429);
  assert.ok(Date.now() - t1 < 1000, 'no in-process sleep for a 30 s Retry-After');
  const before = (await admin(ctx).stats()).requests.yelp;
  const blocked = await rejects(s.providers.yelp.search({ location: 'Denver, CO', limit: 1, offset: 2 }));
  assert.instance(blocked, RateLimitedError);
  const wait = (blocked as RateLimitedError).availableAt.getTime() - Date.now();
  assert.ok(wait > 25_000 && wait <= 30_000, `available again in ${wait} ms`);
  assert.is((await admin(ctx).stats()).requests.yelp, before, 'the blocked call never left');
});

gw('one overall deadline bounds a call however slow the provider', async (ctx) => {
  const s = await services(ctx, { GATEWAY_DEADLINE_MS: '300', PROVIDER_TIMEOUT_MS: '5000' });
  await admin(ctx).setFault('yelp', { fault: 'slow', ms: 2000 });
  const t0 = Date.now();
  const err = await rejects(s.providers.yelp.search({ location: 'Reno, NV', limit: 1, offset: 0 }));
  assert.instance(err, DeadlineExceededError);
  assert.ok(Date.now() - t0 < 1500);
  assert.is((await ledger(ctx))[0]!.outcome, 'deadline_exceeded');
});

gw('PageSpeed has its own attempt timeout and deadline: a 1 s Lighthouse run passes where the others time out', async (ctx) => {
  const env = { PROVIDER_TIMEOUT_MS: '300', GATEWAY_DEADLINE_MS: '400', PAGESPEED_TIMEOUT_MS: '2000', GATEWAY_RETRY_ATTEMPTS: '1' };
  const s = await services(ctx, env);
  await admin(ctx).setFault('pagespeed', { fault: 'slow', ms: 1000 });
  await admin(ctx).setFault('yelp', { fault: 'slow', ms: 1000 });
  const page = await s.providers.pagespeed.run('https://www.slow-lighthouse.com/');
  assert.ok(page, 'answered after ~1 s: within its 2 s timeout and its 4 s deadline (twice the timeout)');
  const err = await rejects(s.providers.yelp.search({ location: 'Reno, NV', limit: 1, offset: 0 }));
  assert.ok(err instanceof DeadlineExceededError || (err instanceof ProviderError && err.status === undefined), String(err));
  const rows = await ledger(ctx);
  assert.is(rows.find((r) => r.provider === 'pagespeed')?.outcome, 'ok');
  assert.is.not(rows.find((r) => r.provider === 'yelp')?.outcome, 'ok', 'the same 1 s answer is too slow for Yelp');
});

gw('OpenAI cost comes from the returned token usage and reaches the metrics', async (ctx) => {
  const seen: GatewayObservation[] = [];
  const s = await services(ctx, { OPENAI_PRICE_INPUT_PER_1M: '2', OPENAI_PRICE_OUTPUT_PER_1M: '8' }, { observer: (o: GatewayObservation) => seen.push(o) });
  const r = await s.providers.openai.chat({ system: 'Answer in JSON.', user: 'three tips for a json bakery site', maxTokens: 300, json: true });
  const [row] = await ledger(ctx);
  const expected = (r.usage.promptTokens * 2 + r.usage.completionTokens * 8) / 1e6;
  assert.is(row!.prompt_tokens, r.usage.promptTokens);
  assert.ok(Math.abs(Number(row!.cost_usd) - expected) < 1e-6, `${row!.cost_usd} vs ${expected}`);
  const metrics = createMetrics();
  for (const o of seen) applyObservation(metrics, o);
  const text = await metrics.registry.metrics();
  assert.match(text, 'leadfactory_provider_requests_total{provider="openai",operation="chat.completions",status="ok"} 1');
  assert.match(text, `leadfactory_provider_cost_usd_total{provider="openai"} ${expected}`);
  assert.match(text, 'leadfactory_provider_cache_total{provider="openai",result="miss"} 1');
});

gw('budget thresholds are recorded once per period, and a blocking budget refuses calls at 100%', async (ctx) => {
  const s = await services(ctx, { OPENAI_BUDGET_DAILY_USD: '0.00001', BUDGET_BLOCKING: 'openai', OPENAI_CACHE_TTL: '0' });
  const req = { system: 'Answer in JSON.', user: 'json tips', maxTokens: 200, json: true };
  await s.providers.openai.chat(req);
  const err = await rejects(s.providers.openai.chat(req));
  assert.instance(err, BudgetExceededError);
  await rejects(s.providers.openai.chat(req));
  await flushLedgers(); // thresholds are checked as the ledger writes its rows
  const events = await ctx.db.orm.em
    .getConnection()
    .execute<{ dedup_key: string; severity: string }[]>("select dedup_key, severity from ops_events where type = 'budget.threshold' order by id");
  assert.equal(events.map((e) => e.dedup_key.split(':').slice(-1)[0]), ['80', '95', '100']);
  assert.equal(events.map((e) => e.severity), ['warning', 'critical', 'critical']);
  assert.is((await admin(ctx).stats()).requests.openai, 1, 'refused calls never left');
});

gw('a provider fault trips the breaker once and recovers once: one trip post and one recovery post', async (ctx) => {
  const clock = new ManualClock(new Date());
  const s = await services(ctx, { GATEWAY_RETRY_ATTEMPTS: '1', YELP_PER_SECOND: '100000' }, { clock });
  const call = (i: number) => s.providers.yelp.search({ location: 'Boise, ID', limit: 1, offset: i });
  await admin(ctx).setFault('yelp', { fault: 'server_error', status: 500 });
  for (let i = 0; i < 5; i++) assert.instance(await rejects(call(i)), ProviderError);
  const refused = await rejects(call(5));
  assert.instance(refused, CircuitOpenError);
  const requests = (await admin(ctx).stats()).requests.yelp;
  assert.is(requests, 5, 'the open breaker kept the 6th call off the provider');

  clock.advance(61_000); // cool-down over, provider still failing: the probe fails, the breaker re-opens
  assert.instance(await rejects(call(6)), ProviderError);
  assert.instance(await rejects(call(7)), CircuitOpenError);
  await admin(ctx).clearFaults('yelp');
  clock.advance(61_000);
  for (let i = 8; i < 11; i++) await call(i); // three successful probes close it
  assert.is((await s.gateway.breaker.snapshot('yelp')).state, 'closed');

  const lines: string[] = [];
  const notifier = createNotifier({ orm: ctx.db.orm, logger: createLogger('silent'), metrics: createMetrics(), config: loadConfig({ SLACK_STATUS_CHANNEL: '#alerts' }), clock });
  while ((await notifier.tick()) > 0);
  const poster = createSlackPoster({ orm: ctx.db.orm, logger: createLogger('silent'), clock, transport: consoleTransport((l) => lines.push(l)), channelGapMs: 0 });
  while ((await poster.tick()) > 0);
  // the trip is posted once, by the CircuitBreakerOpen alert (alerts channel), not a second time to status
  assert.is(lines.filter((l) => l.includes('OPENED')).length, 0, lines.join('\n'));
  assert.is(lines.filter((l) => l.includes('recovered')).length, 1, lines.join('\n'));
  assert.is(lines.length, 1, lines.join('\n'));
  const types = await ctx.db.orm.em.getConnection().execute<{ type: string }[]>("select type from ops_events where type like 'breaker.%' order by id");
  assert.equal(types.map((t) => t.type), ['breaker.opened', 'breaker.half_opened', 'breaker.reopened', 'breaker.half_opened', 'breaker.closed']);
});

gw.run();
