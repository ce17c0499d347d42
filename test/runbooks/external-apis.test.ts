import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { RateLimitedError } from '../../domain/errors.js';
import { RateLimiter } from '../../domain/gateway/limiter.js';
import { getSettingEntry } from '../../domain/settings.js';
import { OverrideCache, setOverride } from '../../domain/overrides.js';
import { sandboxAdmin, startSandbox, type Sandbox } from '../../domain/sandbox/index.js';
import type { Services } from '../../domain/services.js';
import { diagnose, runDiagnostic, type Diagnosis, type Finding } from '../../runbooks/define.js';
import { runbook } from '../../runbooks/external-apis.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';

type Ctx = { db: Database; sandbox: Sandbox; s: Services };
const test = suite<Ctx>(`external-apis runbook (${DB_KIND})`);

test.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.sandbox = await startSandbox({ seed: 12, port: 0 });
  ctx.s = await testServices(ctx.db, {
    SANDBOX_URL: ctx.sandbox.url,
    YELP_DAILY_LIMIT: '40',
    PROVIDER_TIMEOUT_MS: '800',
    GATEWAY_RETRY_ATTEMPTS: '1',
    GATEWAY_MAX_WAIT_MS: '0',
  });
});
test.after(async (ctx) => {
  await ctx.s.close();
  await ctx.sandbox.close();
  await ctx.db.close();
});
test.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  await sandboxAdmin(ctx.sandbox.url).clearFaults();
  await ctx.s.gateway.limiter.refreshOverrides(); // settings were truncated: forget a previous test's override
});

const finding = (d: Diagnosis, id: string): Finding => {
  const r = d.results.find((x) => x.id === id);
  assert.ok(r, `no result for ${id}`);
  return r!.finding;
};
const causes = (d: Diagnosis) => d.rootCauses.map((c) => c.id).sort();
const rem = (id: string) => runbook.remediations.find((r) => r.id === id)!;
const diag = (id: string) => runbook.diagnostics.find((d) => d.id === id)!;
type PerProvider = Record<string, Record<string, unknown>>;

/** Ledger rows as the gateway writes them: `n` calls of `provider`, the first `errors` of them failed with `status`. */
async function seedCalls(s: Services, provider: 'yelp' | 'sendgrid' | 'openai', n: number, errors = 0, status = 503): Promise<void> {
  for (let i = 0; i < n; i++) {
    const failed = i < errors;
    await s.gateway.ledger.record({
      provider,
      operation: 'search',
      outcome: failed ? (status === 429 ? 'http_429' : status >= 500 ? 'http_5xx' : 'http_4xx') : 'ok',
      httpStatus: failed ? status : undefined,
      attempts: 1,
      latencyMs: (i + 1) * 10,
      costUsd: 0,
      cacheHit: false,
    });
  }
}

test('declares the agreed diagnostic, root cause and remediation ids', () => {
  assert.equal(runbook.diagnostics.map((d) => d.id), ['integrations', 'breaker-states', 'api-metrics', 'api-keys', 'rate-limits']);
  const ids = runbook.rootCauses.map((c) => c.id);
  for (const id of ['yelp-rate-limit', 'breaker-open', 'provider-auth', 'quota-exhausted', 'sendgrid-api-key', 'yelp-api-key'])
    assert.ok(ids.includes(id), id);
  assert.is(runbook.rootCauses.find((c) => c.id === 'yelp-rate-limit')?.title, 'Yelp API rate limit exceeded');
  assert.is(runbook.rootCauses.find((c) => c.id === 'sendgrid-api-key')?.title, 'SendGrid API key invalid or missing scopes');
  assert.equal(runbook.remediations.map((r) => [r.id, r.requiredRole, r.risk]), [
    ['reset-breaker', 'operator', 'write'],
    ['force-open-breaker', 'admin', 'destructive'],
    ['set-rate-limit', 'operator', 'write'],
    ['probe-breaker', 'operator', 'write'],
    ['keep-breaker-open', 'operator', 'write'],
    ['force-close-breaker', 'admin', 'destructive'],
  ]);
});

test('a healthy seed: no root cause; metrics, keys and limits reported with their numbers', async (ctx) => {
  await seedCalls(ctx.s, 'yelp', 20);
  const d = await diagnose(runbook, runbookContext(ctx.s));
  assert.equal(causes(d), []);
  assert.is(finding(d, 'integrations').status, 'ok', finding(d, 'integrations').summary);
  assert.is(finding(d, 'breaker-states').status, 'ok');
  assert.is((finding(d, 'breaker-states').evidence?.providers as PerProvider).yelp!.state, 'closed');
  const m = finding(d, 'api-metrics');
  assert.is(m.status, 'ok', m.summary);
  const yelp = (m.evidence?.providers as PerProvider).yelp!;
  assert.is(yelp.calls, 20);
  assert.is(yelp.errors, 0);
  assert.is(yelp.p95LatencyMs, 191); // latencies 10..200 ms: percentile_cont(0.95)
  assert.is((m.evidence?.providers as PerProvider).stripe!.calls, 0);
  const keys = finding(d, 'api-keys');
  assert.is(keys.status, 'warn'); // every provider is on the sandbox in tests
  assert.equal((keys.evidence?.providers as PerProvider).sendgrid, { key: 'MISSING', mode: 'sandbox', host: new URL(ctx.sandbox.url).host });
  assert.not.match(JSON.stringify(d), 'SG.sandbox'); // never a key value, anywhere
  const rl = finding(d, 'rate-limits');
  assert.is(rl.status, 'ok', rl.summary);
  const ry = (rl.evidence?.providers as PerProvider).yelp!;
  assert.equal(ry.effective, { daily: 40, rates: [{ name: 'per_second', limit: 10, periodMs: 1000, unit: 'request' }] });
  assert.is(ry.overridden, false);
  assert.is(ry.usedToday, 0);
  assert.is(ry.blockedUntil, null);
});

test('an empty ledger: api-metrics reads no_data', async (ctx) => {
  const f = await diag('api-metrics').run(runbookContext(ctx.s));
  assert.is(f.status, 'no_data');
  assert.is(f.evidence?.totalCalls, 0);
});

test('a Yelp 429 with Retry-After: yelp-rate-limit (live test, ledger 429s, Retry-After block); set-rate-limit halves it', async (ctx) => {
  await sandboxAdmin(ctx.sandbox.url).setFault('yelp', { fault: 'rate_limit', retryAfterSeconds: 120 });
  const err = await ctx.s.providers.yelp.search({ location: 'Tulsa, OK', limit: 1, offset: 0 }).catch((e: unknown) => e);
  assert.ok(err instanceof Error);
  const rctx = runbookContext(ctx.s);
  const d = await diagnose(runbook, rctx);
  assert.equal(causes(d), ['yelp-rate-limit']);
  assert.equal(d.rootCauses[0]!.remediations, ['set-rate-limit']);
  assert.equal(finding(d, 'integrations').evidence?.rateLimited, ['yelp']);
  assert.is(finding(d, 'integrations').status, 'warn');
  assert.is((finding(d, 'api-metrics').evidence?.providers as PerProvider).yelp!.http429, 1);
  const rl = finding(d, 'rate-limits');
  assert.is(rl.status, 'problem');
  assert.equal(rl.evidence?.blocked, ['yelp']);
  assert.match(rl.summary, 'blocked by Retry-After: Yelp until');

  const fix = rem('set-rate-limit');
  const input = fix.defaultInput!(Object.fromEntries(d.results.map((r) => [r.id, r.finding])));
  assert.equal(input, { provider: 'yelp', limit: 5 });
  assert.equal(fix.inputSchema!.parse({ provider: 'yelp', limit: 5 }), { provider: 'yelp', limit: 5 });
  assert.not.ok(fix.inputSchema!.safeParse({ provider: 'yelp', limit: '5' }).success, 'numbers only: no coercion of strings, booleans or arrays');
  assert.is(fix.idempotencyKey(input), 'rate-limit:yelp:5');
  const out = await fix.run(rctx, input, 'test:carol');
  assert.match(out.summary, 'Yelp rate limit set to 5 per 1 s (per_second; was 10)');
  const row = await getSettingEntry<number>(ctx.db.orm.em.fork(), 'gateway.rate_limit.yelp');
  assert.is(row?.value, 5);
  assert.is(row?.updatedBy, 'test:carol');
  const after = await diag(fix.recheck).run(rctx);
  const ry = (after.evidence?.providers as PerProvider).yelp!;
  assert.is((ry.effective as { rates: { limit: number }[] }).rates[0]!.limit, 5);
  assert.is((ry.configured as { rates: { limit: number }[] }).rates[0]!.limit, 10);
  assert.is(ry.overridden, true);
  assert.is(ctx.s.gateway.limiter.limitsOf('yelp')?.rates[0]?.limit, 5);
});

test('the limiter honours a rate-limit override: set-rate-limit applies at once, and another process within seconds', async (ctx) => {
  const rctx = runbookContext(ctx.s);
  await rem('set-rate-limit').run(rctx, { provider: 'yelp', limit: 3 }, 'test:dave');
  // this process (refreshed by the remediation): a bucket of 3, so the 4th immediate call is refused
  for (let i = 0; i < 3; i++) await ctx.s.gateway.limiter.acquire('yelp', { maxWaitMs: 0 });
  const refused = await ctx.s.gateway.limiter.acquire('yelp', { maxWaitMs: 0 }).catch((e: unknown) => e);
  assert.ok(refused instanceof RateLimitedError, String(refused));
  assert.match((refused as Error).message, 'per_second: 3 requests per 1000 ms');

  // "another process": its own limiter and override cache (max age 200 ms), never refreshed by hand
  const cache = new OverrideCache(ctx.s.config, () => ctx.db.orm.em.fork(), 200);
  const other = new RateLimiter({ orm: ctx.db.orm, clock: ctx.s.clock, limits: ctx.s.config.gateway.limits, overrides: cache, maxWaitMs: 0 });
  await cache.refresh();
  assert.is(other.limitsOf('yelp')?.rates[0]?.limit, 3);
  await setOverride(ctx.db.orm.em.fork(), 'gateway.rate_limit.yelp', 7, 'test:dave', new Date());
  const t0 = Date.now();
  while (other.limitsOf('yelp')?.rates[0]?.limit !== 7) {
    assert.ok(Date.now() - t0 < 3000, 'the override did not reach the other limiter within 3 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  const st = await other.status('yelp');
  assert.is(st.rules[0]?.limit, 7);

  // clearing the override restores the configured limit
  await setOverride(ctx.db.orm.em.fork(), 'gateway.rate_limit.yelp', null, 'test:dave', new Date());
  await ctx.s.gateway.limiter.refreshOverrides();
  assert.is(ctx.s.gateway.limiter.limitsOf('yelp')?.rates[0]?.limit, 10);
});

test('set-rate-limit refuses a provider without a rate rule (SendGrid has only a daily quota)', async (ctx) => {
  const err = await rem('set-rate-limit').run(runbookContext(ctx.s), { provider: 'sendgrid', limit: 5 }, 'test:erin').catch((e: unknown) => e);
  assert.match((err as Error).message, 'SendGrid has no rate rule');
  assert.is(await getSettingEntry(ctx.db.orm.em.fork(), 'gateway.rate_limit.sendgrid'), undefined);
});

test('force-open-breaker opens it for the given minutes (breaker-open); reset-breaker half-opens it and a live call closes it', async (ctx) => {
  const rctx = runbookContext(ctx.s);
  const open = rem('force-open-breaker');
  assert.equal(open.inputSchema!.parse({ provider: 'openai', minutes: 10 }), { provider: 'openai', minutes: 10 });
  assert.not.ok(open.inputSchema!.safeParse({ provider: 'openai', minutes: true }).success);
  const t0 = Date.now();
  const out = await open.run(rctx, { provider: 'openai', minutes: 10 }, 'test:admin');
  assert.match(out.summary, 'OpenAI breaker forced open for 10 min');
  const snap = await ctx.s.gateway.breaker.snapshot('openai');
  assert.is(snap.state, 'open');
  const retryIn = snap.retryAt!.getTime() - t0;
  assert.ok(retryIn > 9.9 * 60_000 && retryIn < 10.1 * 60_000, `retry in ${retryIn} ms`);

  const d = await diagnose(runbook, rctx);
  assert.equal(causes(d), ['breaker-open']);
  const b = finding(d, 'breaker-states');
  assert.is(b.status, 'problem');
  assert.equal(b.evidence?.open, ['openai']);
  assert.is((b.evidence?.providers as PerProvider).openai!.state, 'open');
  assert.ok((b.evidence?.providers as PerProvider).openai!.since);
  const calls = await ctx.s.providers.openai.chat({ system: 's', user: 'u', maxTokens: 1 }).catch((e: unknown) => e);
  assert.match(String((calls as Error).message), /open/i);

  const reset = rem('reset-breaker');
  const input = reset.defaultInput!(Object.fromEntries(d.results.map((r) => [r.id, r.finding])));
  assert.equal(input, { provider: 'openai' });
  assert.is(reset.idempotencyKey(input), 'reset-breaker:openai');
  assert.is((await reset.verify!.before(rctx, input)).status, 'problem');
  const out2 = await reset.run(rctx, input, 'test:operator');
  assert.match(out2.summary, 'OpenAI breaker reset (was open); the next call to OpenAI is a probe');
  // a reset is not a recovery (this test used to expect closed and an ok re-check right after the reset)
  assert.is((await ctx.s.gateway.breaker.snapshot('openai')).state, 'half_open');
  const recheck = await runDiagnostic(diag(reset.recheck), rctx);
  assert.is(recheck.finding.status, 'warn', recheck.finding.summary);
  const types = async () =>
    (await ctx.db.orm.em.fork().getConnection().execute<{ type: string }[]>(`select type from ops_events where type like 'breaker.%' order by id`)).map((e) => e.type);
  assert.equal(await types(), ['breaker.opened', 'breaker.reset']);
  // the live verification: probe calls through the gateway (the sandbox answers) close it
  const live = await reset.verify!.after(rctx, input, { deadline: new Date(Date.now() + 5000), pollMs: 20 });
  assert.is(live.status, 'ok', live.summary);
  assert.match(live.summary, `breaker closed after ${ctx.s.config.gateway.breaker.halfOpenSuccesses} successful call(s)`);
  assert.is((await ctx.s.gateway.breaker.snapshot('openai')).state, 'closed');
  assert.equal(await types(), ['breaker.opened', 'breaker.reset', 'breaker.closed']);
});

test('rejected keys: SendGrid 401 and Yelp 401 indicate provider-auth and each provider\'s key cause', async (ctx) => {
  await sandboxAdmin(ctx.sandbox.url).setFault('sendgrid', { fault: 'invalid_key' });
  await sandboxAdmin(ctx.sandbox.url).setFault('yelp', { fault: 'invalid_key' });
  const d = await diagnose(runbook, runbookContext(ctx.s));
  assert.equal(causes(d), ['provider-auth', 'sendgrid-api-key', 'yelp-api-key']);
  assert.ok(d.rootCauses.some((c) => c.title === 'SendGrid API key invalid or missing scopes'));
  const integ = finding(d, 'integrations');
  assert.is(integ.status, 'problem');
  assert.equal(integ.evidence?.authRejected, ['yelp', 'sendgrid']);
  assert.is((integ.evidence?.providers as PerProvider).sendgrid!.status, 401);
  assert.match(integ.summary, 'key rejected: Yelp, SendGrid');
});

test('a used-up daily quota: quota-exhausted, with used vs limit', async (ctx) => {
  const day = new Date().toISOString().slice(0, 10);
  await ctx.db.orm.em
    .fork()
    .getConnection()
    .execute(`insert into provider_quota_usage (provider, day, used, exhausted) values ('yelp', ?::date, 40, false)`, [day]);
  const d = await diagnose(runbook, runbookContext(ctx.s));
  assert.equal(causes(d), ['quota-exhausted', 'yelp-quota-exhausted'], 'the generic cause and the provider one');
  const rl = finding(d, 'rate-limits');
  assert.is(rl.status, 'problem');
  assert.equal(rl.evidence?.exhausted, ['yelp']);
  const y = (rl.evidence?.providers as PerProvider).yelp!;
  assert.is(y.usedToday, 40);
  assert.is(y.dailyLimit, 40);
  assert.is(y.remaining, 0);
  assert.match(rl.summary, 'daily quota used up: Yelp 40/40');
});

test('a high error rate in the ledger makes api-metrics a problem', async (ctx) => {
  await seedCalls(ctx.s, 'sendgrid', 10, 4, 503);
  const f = await diag('api-metrics').run(runbookContext(ctx.s));
  assert.is(f.status, 'problem');
  const sg = (f.evidence?.providers as PerProvider).sendgrid!;
  assert.is(sg.errors, 4);
  assert.is(sg.errorRatePct, 40);
  assert.match(f.summary, 'SendGrid 4/10 errors');
});

test.run();
