import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMetrics } from '../../alerts/metrics.js';
import type { Database } from '../../db/orm.js';
import { providerStatus, testAuthentication, testConnection, usage } from '../../domain/gateway/diagnostics.js';
import { readBreakerStates, readQuotaRemaining } from '../../domain/gateway/state-reader.js';
import { sandboxAdmin, startSandbox, type Sandbox } from '../../domain/sandbox/index.js';
import type { Services } from '../../domain/services.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { testServices } from '../helpers/services.js';

type Ctx = { db: Database; sandbox: Sandbox; s: Services };
const diag = suite<Ctx>(`gateway diagnostics for runbooks (${DB_KIND})`);

diag.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.sandbox = await startSandbox({ seed: 5, port: 0 });
  ctx.s = await testServices(ctx.db, {
    SANDBOX_URL: ctx.sandbox.url,
    YELP_DAILY_LIMIT: '40',
    PROVIDER_TIMEOUT_MS: '300',
    GATEWAY_RETRY_ATTEMPTS: '1',
  });
});
diag.after(async (ctx) => {
  await ctx.s.close();
  await ctx.sandbox.close();
  await ctx.db.close();
});
diag.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  await sandboxAdmin(ctx.sandbox.url).clearFaults();
});

diag('status and usage report limits, quota used, breaker state, last error and cost', async (ctx) => {
  for (let i = 0; i < 3; i++) await ctx.s.providers.yelp.search({ location: 'Tulsa, OK', limit: 2, offset: i * 2 });
  await sandboxAdmin(ctx.sandbox.url).setFault('yelp', { fault: 'server_error', status: 503, count: 1 });
  await ctx.s.providers.yelp.search({ location: 'Tulsa, OK', limit: 2, offset: 99 }).catch(() => undefined);
  const st = await providerStatus(ctx.s, 'yelp');
  assert.is(st.sandbox, true);
  assert.is(st.limits.daily.limit, 40);
  assert.is(st.limits.daily.used, 4);
  assert.is(st.limits.daily.remaining, 36);
  assert.is(st.limits.daily.resetAt.toISOString().slice(11), '00:00:00.000Z');
  assert.equal(st.limits.rules.map((r) => [r.name, r.limit]), [['per_second', 10]]);
  assert.is(st.breaker.state, 'closed');
  assert.is(st.breaker.consecutiveFailures, 1);
  assert.match(st.lastError ?? '', '503');
  const u = await usage(ctx.s, 'yelp', 'day');
  assert.is(u.calls, 4);
  assert.is(u.errors, 1);
  assert.equal(u.byOperation.map((o) => o.operation), ['search']);
});

diag('live checks: a bad key still connects but fails authentication; a hung provider fails both', async (ctx) => {
  const ok = await testAuthentication(ctx.s, 'sendgrid');
  assert.is(ok.ok, true, ok.detail);
  await sandboxAdmin(ctx.sandbox.url).setFault('stripe', { fault: 'invalid_key' });
  const conn = await testConnection(ctx.s, 'stripe');
  assert.is(conn.ok, true);
  assert.is(conn.status, 401);
  const auth = await testAuthentication(ctx.s, 'stripe');
  assert.is(auth.ok, false);
  assert.is(auth.status, 401);
  await sandboxAdmin(ctx.sandbox.url).setFault('yelp', { fault: 'timeout' });
  const hung = await testConnection(ctx.s, 'yelp');
  assert.is(hung.ok, false);
  assert.is(hung.status, undefined);
  assert.ok(hung.latencyMs < 2000);
});

diag('the breaker-state and quota-remaining gauges read the shared state at scrape time', async (ctx) => {
  await ctx.s.providers.yelp.search({ location: 'Tulsa, OK', limit: 1, offset: 0 });
  await ctx.s.gateway.breaker.forceOpen('openai', 'drill');
  const metrics = createMetrics({
    breakerStates: () => readBreakerStates(ctx.db.orm),
    quotaRemaining: () => readQuotaRemaining(ctx.db.orm, ctx.s.clock, ctx.s.config.gateway.limits),
  });
  const text = await metrics.registry.metrics();
  assert.match(text, 'leadfactory_circuit_breaker_state{provider="openai"} 1');
  assert.match(text, 'leadfactory_circuit_breaker_state{provider="yelp"} 0');
  assert.match(text, 'leadfactory_provider_quota_remaining{provider="yelp"} 39');
  assert.match(text, 'leadfactory_provider_quota_remaining{provider="sendgrid"} 100000');
});

diag.run();
