/**
 * Honest verification of remediations (runbooks/verify.ts, issue #14 point 6), on real PostgreSQL and the project's
 * sandbox with fault injection: a breaker reset while the provider still fails is "Not fixed yet" and posts no
 * recovery; once the provider answers, the reset's live probe calls close the breaker ("Fixed") and exactly one
 * recovery is posted, after a successful call; a remediation with nothing to fix (a closed breaker, a VACUUM of a
 * table without bloat) is "Nothing to fix"; a probe another caller holds is waited for, within the bound.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMetrics } from '../../alerts/metrics.js';
import { createNotifier } from '../../alerts/notifier.js';
import { renderText } from '../../bot/render/results-text.js';
import type { Database } from '../../db/orm.js';
import { systemClock } from '../../domain/clock.js';
import { flushLedgers } from '../../domain/gateway/ledger.js';
import { openBreakers } from '../../domain/queries/breakers.js';
import { sandboxAdmin, startSandbox, type Sandbox } from '../../domain/sandbox/index.js';
import type { Services } from '../../domain/services.js';
import { executeRemediation, recentAudit, type Actor, type RemediationOutcome } from '../../runbooks/actions.js';
import type { RunbookContext } from '../../runbooks/context.js';
import { runbook as externalApis } from '../../runbooks/external-apis.js';
import { RUNBOOKS } from '../../runbooks/index.js';
import { recheckBlocks } from '../../bot/render/diagnosis-blocks.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';

type Ctx = { db: Database; sandbox: Sandbox; s: Services; rc: RunbookContext };
const test = suite<Ctx>(`remediation verification (${DB_KIND})`);

const OPERATOR: Actor = { id: 'slack:U1OPS', role: 'operator', source: 'slack', display: '<@U1OPS>' };
/** The request the live probe makes (domain/gateway/diagnostics.ts probeCall), which the gateway would cache. */
const PROBE_SEARCH = { location: 'San Francisco, CA', limit: 1, offset: 0 };

test.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.sandbox = await startSandbox({ seed: 14, port: 0 });
  ctx.s = await testServices(ctx.db, {
    SANDBOX_URL: ctx.sandbox.url,
    PROVIDER_TIMEOUT_MS: '800',
    GATEWAY_RETRY_ATTEMPTS: '1',
    GATEWAY_MAX_WAIT_MS: '0',
    BREAKER_FAILURE_THRESHOLD: '2',
    BREAKER_HALF_OPEN_SUCCESSES: '2',
    VERIFY_WAIT_MS: '2000',
    VERIFY_POLL_MS: '20',
  });
  ctx.rc = runbookContext(ctx.s);
});
test.after(async (ctx) => {
  await ctx.s.close();
  await ctx.sandbox.close();
  await ctx.db.close();
});
test.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  await sandboxAdmin(ctx.sandbox.url).clearFaults();
});

const sql = <T = Record<string, unknown>>(ctx: Ctx, q: string, p: unknown[] = []) => ctx.db.orm.em.fork().getConnection().execute<T[]>(q, p);
const breakerEvents = async (ctx: Ctx) =>
  (await sql<{ type: string }>(ctx, `select type from ops_events where type like 'breaker.%' order by id`)).map((e) => e.type);

/** Yelp answers 503 (sandbox fault) and two failed calls trip its breaker; the probe's own request is cached first. */
async function tripYelp(ctx: Ctx): Promise<void> {
  await ctx.s.providers.yelp.search(PROBE_SEARCH); // a 200 in the gateway's cache for the very request the probe makes
  await sandboxAdmin(ctx.sandbox.url).setFault('yelp', { fault: 'server_error', status: 503 });
  for (let i = 0; i < 2; i++) await ctx.s.providers.yelp.search({ location: `Austin, TX ${i}`, limit: 5, offset: 0 }).catch(() => undefined);
  assert.is((await ctx.s.gateway.breaker.snapshot('yelp')).state, 'open');
}

const resetYelp = (ctx: Ctx, nonce: string) =>
  executeRemediation(ctx.rc, RUNBOOKS, { runbook: 'external-apis', remediation: 'reset-breaker', input: { provider: 'yelp' }, nonce }, OPERATOR);

/** Hands the ops events to the Slack outbox as the service's notifier does; returns the outbox rows. */
async function posts(ctx: Ctx): Promise<{ route: string; text: string }[]> {
  await createNotifier({ orm: ctx.db.orm, logger: ctx.s.logger, metrics: createMetrics(), config: ctx.s.config, clock: systemClock }).tick();
  return sql<{ route: string; text: string }>(ctx, 'select route, text from slack_outbox order by id');
}

const succeeded = (o: RemediationOutcome) => {
  assert.is(o.status, 'succeeded', JSON.stringify(o));
  return o as Extract<RemediationOutcome, { status: 'succeeded' | 'failed' }>;
};

test('reset while Yelp still answers 503: Not fixed yet (saying so), breaker open again, no recovery posted', async (ctx) => {
  await tripYelp(ctx);
  const out = succeeded(await resetYelp(ctx, 'n-fault'));
  assert.is(out.verdict, 'not_fixed_yet');
  assert.is(out.fixed, false);
  assert.is(out.verification?.before.finding.status, 'problem');
  assert.match(out.verification!.after!.finding.summary, /^Yelp still answers HTTP 503; breaker open\./);
  assert.match(out.verification!.summary, /^Not fixed yet — Yelp still answers HTTP 503/);
  assert.is((await ctx.s.gateway.breaker.snapshot('yelp')).state, 'open', 'the probe failed, so the breaker re-opened');
  assert.equal(await breakerEvents(ctx), ['breaker.opened', 'breaker.reset', 'breaker.reopened']);
  // the gateway's cache still answers the probe's request with a 200, and the verification did not take it
  assert.ok(await ctx.s.providers.yelp.search(PROBE_SEARCH));
  // renderers: the Slack follow-up, the CLI, the audit row the incident timeline shows
  assert.match(recheckBlocks('Reset breaker', out)!.text, /^Not fixed yet after "Reset breaker"/);
  assert.match(renderText({ kind: 'remediation', runbook: 'external-apis', remediation: 'reset-breaker', title: 'Reset breaker', outcome: out, actor: OPERATOR }, ''), /verified: Not fixed yet — Yelp still answers HTTP 503/);
  const [row] = await recentAudit(ctx.db.orm.em.fork(), { action: 'remediation:external-apis/reset-breaker' });
  assert.match(row!.detail ?? '', /Verification: Not fixed yet — Yelp still answers HTTP 503/);
  const p = await posts(ctx);
  assert.equal(p.filter((x) => x.route === 'recoveries'), [], 'no recovery post');
  assert.not.ok(p.some((x) => /recovered/.test(x.text) && !/reported recovered only when/.test(x.text)));
  assert.ok(p.some((x) => /Circuit breaker for yelp reset by slack:U1OPS \(was open\)/.test(x.text)), JSON.stringify(p));
});

test('fault cleared, then reset: live probe calls close the breaker — Fixed, and one recovery posted after a successful call', async (ctx) => {
  await tripYelp(ctx);
  await sandboxAdmin(ctx.sandbox.url).clearFaults();
  const out = succeeded(await resetYelp(ctx, 'n-clear'));
  assert.is(out.verdict, 'fixed', out.verification?.summary);
  assert.is(out.fixed, true);
  assert.match(out.verification!.after!.finding.summary, /^Yelp answered a live call through the gateway \(\d+ ms\); breaker closed after 2 successful call\(s\)\./);
  assert.is(out.recheck?.finding.status, 'ok', 'the breaker-states re-run (kept for older callers) reads closed');
  assert.is((await ctx.s.gateway.breaker.snapshot('yelp')).state, 'closed');
  assert.equal(await breakerEvents(ctx), ['breaker.opened', 'breaker.reset', 'breaker.closed']);
  await flushLedgers();
  const [closed] = await sql<{ created_at: Date }>(ctx, `select created_at from ops_events where type = 'breaker.closed'`);
  const okCalls = await sql<{ created_at: Date }>(ctx, `select created_at from api_calls where provider = 'yelp' and outcome = 'ok' and not cache_hit and created_at > (select created_at from ops_events where type = 'breaker.reset') order by id`);
  assert.is(okCalls.length, 2, 'two live probe calls after the reset, none from the cache');
  // the first successful probe call is on the ledger before the recovery (the second one closed it)
  assert.ok(new Date(okCalls[0]!.created_at).getTime() <= new Date(closed!.created_at).getTime(), 'recovered only after a successful call');
  assert.match(recheckBlocks('Reset breaker', out)!.text, /^Fixed after "Reset breaker"/);
  const recoveries = (await posts(ctx)).filter((x) => x.route === 'recoveries');
  assert.is(recoveries.length, 1);
  assert.match(recoveries[0]!.text, /Circuit breaker for yelp closed: yelp recovered \(2 probe call\(s\) succeeded\)/);
});

test('a reset with nothing to fix (breaker closed, no failures): Nothing to fix, no event', async (ctx) => {
  const out = succeeded(await resetYelp(ctx, 'n-noop'));
  assert.is(out.verdict, 'nothing_to_fix');
  assert.is(out.fixed, false);
  assert.match(out.verification!.summary, /^Nothing to fix — already before it ran: Yelp breaker closed with no failures/);
  assert.match(recheckBlocks('Reset breaker', out)!.text, /^Nothing to fix after "Reset breaker"/);
  assert.equal(await breakerEvents(ctx), []);
});

test('VACUUM ANALYZE of a table without bloat: Nothing to fix', async (ctx) => {
  const out = succeeded(
    await executeRemediation(ctx.rc, RUNBOOKS, { runbook: 'database-performance', remediation: 'vacuum-analyze', input: { table: 'businesses' }, nonce: 'n-vac' }, OPERATOR),
  );
  assert.is(out.verification?.before.finding.status, 'ok', out.verification?.before.finding.summary);
  assert.is(out.verdict, 'nothing_to_fix');
  assert.match(out.verification!.summary, /^Nothing to fix — already before it ran: No bloat/);
  const [row] = await recentAudit(ctx.db.orm.em.fork(), { action: 'remediation:database-performance/vacuum-analyze' });
  assert.match(row!.detail ?? '', /Verification: Nothing to fix/);
});

test('a probe another caller holds is waited for (bounded): its success lets the verification probe and close', async (ctx) => {
  await tripYelp(ctx);
  await sandboxAdmin(ctx.sandbox.url).clearFaults();
  const breaker = ctx.s.gateway.breaker;
  const reset = externalApis.remediations.find((r) => r.id === 'reset-breaker')!;
  await breaker.reset('yelp', 'test', 'test:op');
  // a reset is not a recovery: CircuitBreakerOpen still sees the breaker, naming who reset it
  assert.equal((await openBreakers(ctx.db.orm.em.fork())).map((b) => [b.provider, b.state, b.resetBy]), [['yelp', 'half_open', 'test:op']]);
  const held = await breaker.permit('yelp'); // someone else's call is the probe now
  assert.ok(held.probe);
  const t0 = Date.now();
  const verifying = reset.verify!.after(ctx.rc, { provider: 'yelp' }, { deadline: new Date(Date.now() + 2000), pollMs: 20 });
  await new Promise((r) => setTimeout(r, 150));
  assert.is((await breaker.snapshot('yelp')).state, 'half_open', 'still waiting for the held probe');
  await breaker.onSuccess(held);
  const f = await verifying;
  assert.is(f.status, 'ok', f.summary);
  assert.ok(Date.now() - t0 >= 150);
  assert.is((await breaker.snapshot('yelp')).state, 'closed');
  assert.equal(await openBreakers(ctx.db.orm.em.fork()), [], 'closed by a successful call: the alert resolves');

  // a probe that never answers: no verdict within the bound (not Fixed)
  await breaker.forceOpen('yelp', 'test');
  await breaker.reset('yelp', 'test', 'test:op');
  await breaker.permit('yelp');
  const late = await reset.verify!.after(ctx.rc, { provider: 'yelp' }, { deadline: new Date(Date.now() + 200), pollMs: 20 });
  assert.is(late.status, 'warn');
  assert.match(late.summary, /^No verdict within 200 ms: Yelp breaker still half-open, its probe call unanswered\./);
});

test.run();
