/**
 * Fault drills (`/lf drill`, alerts/drills.ts) on the real database, the real sandbox and the real gateway, in wall
 * time with short timings: a drill injects the fault, its traffic trips the breaker, the alert fires with the
 * runbook diagnosis and opens an incident, the fault is cleared at the end and the provider recovers; the report's
 * times are the recorded events' times (detection after injection, recovery after the clear). Refusals: a non-admin,
 * a provider with a real key, a second drill while one runs (also two at the same moment), a CLI without the
 * service. A restart mid-drill clears the fault and records the drill aborted. The CLI checks the words strictly.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { createLogger } from '../../domain/logger.js';
import { sandboxAdmin } from '../../domain/sandbox/index.js';
import type { Services } from '../../domain/services.js';
import { flushLedgers } from '../../domain/gateway/ledger.js';
import { getDrill } from '../../domain/queries/drills.js';
import { evaluateAlerts } from '../../alerts/evaluate.js';
import { findRule } from '../../alerts/rules.js';
import { incidentTimeline } from '../../alerts/incidents.js';
import { abortOrphanedDrills, createDrillKeeper, startDrill, type DrillKeeper } from '../../alerts/drills.js';
import { executeLf } from '../../bot/commands/execute.js';
import { parseLf } from '../../bot/commands/spec.js';
import { renderChatSlack, type ChatResult } from '../../bot/commands/chat-result.js';
import { checkArgs, UsageError } from '../../bot/cli-args.js';
import { recentAudit, type Actor } from '../../runbooks/actions.js';
import type { RunbookContext } from '../../runbooks/context.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';
import { rendered } from '../helpers/outbox.js';

type Ctx = { db: Database; services: Services; ctx: RunbookContext };
const test = suite<Ctx>(`fault drills (${DB_KIND})`);

const admin: Actor = { id: 'slack:UADMIN01', role: 'admin', source: 'slack', display: '<@UADMIN01>' };
const operator: Actor = { id: 'slack:UOPER001', role: 'operator', source: 'slack', display: '<@UOPER001>' };
const logger = createLogger('silent');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.before(async (c) => {
  c.db = await freshDatabase();
  c.services = await testServices(c.db, {
    GATEWAY_RETRY_ATTEMPTS: '1',
    GATEWAY_BREAKER_CACHE_MS: '0',
    BREAKER_FAILURE_THRESHOLD: '3',
    BREAKER_COOLDOWN_MS: '400',
    BREAKER_HALF_OPEN_SUCCESSES: '2',
    YELP_CACHE_TTL: '0',
    SLACK_INCIDENTS_CHANNEL: '#lf-incidents',
  });
  c.ctx = runbookContext(c.services);
});
test.after(async (c) => {
  await sandboxAdmin(c.services.sandboxUrl!).clearFaults();
  await c.services.close();
  await c.db.close();
});
test.before.each(async (c) => {
  await truncateAll(c.db);
  await sandboxAdmin(c.services.sandboxUrl!).clearFaults();
});

const conn = (c: Ctx) => c.db.orm.em.getConnection();

/** The service's loops for one drill: the keeper and the CircuitBreakerOpen rule, until the drill ends. */
async function runUntilDone(c: Ctx, keeper: DrillKeeper, id: number, limitMs = 30_000): Promise<void> {
  const deps = { em: () => c.db.orm.em.fork(), config: c.services.config, clock: c.services.clock, logger, runbooks: c.ctx };
  const until = Date.now() + limitMs;
  while (Date.now() < until) {
    await keeper.tick();
    await keeper.idle();
    await evaluateAlerts(deps, [findRule('CircuitBreakerOpen')!]);
    const d = await getDrill(c.db.orm.em.fork(), id);
    if (d && ['done', 'failed', 'aborted'].includes(d.status)) return;
    await sleep(100);
  }
  throw new Error(`drill #${id} did not end within ${limitMs} ms`);
}

test('a drill: acked at once, detected, diagnosed, cleared, recovered; the report carries the measured times', async (c) => {
  const keeper = createDrillKeeper({ em: () => c.db.orm.em.fork(), services: c.services, timings: { leaseMs: 5000, recoveryTimeoutMs: 20_000 } });
  const t0 = Date.now();
  const ack = (await executeLf(c.ctx, parseLf('drill yelp server_error 3s'), admin)) as ChatResult;
  assert.ok(Date.now() - t0 < 3000, 'the command answers before the drill ends');
  assert.is(ack.kind, 'chat');
  assert.ok(ack.ok);
  assert.match(ack.text, /^drill #1 started: yelp server_error for 3 s/);
  assert.is(renderChatSlack(ack).responseType, 'in_channel');
  const faults = await sandboxAdmin(c.services.sandboxUrl!).faults();
  assert.is(faults.yelp?.fault, 'server_error', 'the fault is in force in the sandbox');

  await runUntilDone(c, keeper, 1);
  const d = (await getDrill(c.db.orm.em.fork(), 1))!;
  assert.is(d.status, 'done', d.lastError ?? '');
  assert.equal(await sandboxAdmin(c.services.sandboxUrl!).faults(), {}, 'the fault is cleared at the end');

  // detection: the breaker's own ops event, after the injection
  const [opened] = await conn(c).execute<{ at: Date }[]>(`select min(created_at) as at from ops_events where type = 'breaker.opened' and payload->>'provider' = 'yelp'`);
  assert.ok(opened?.at, 'the drill traffic tripped the real breaker');
  assert.ok(d.detectedAt!.getTime() >= d.startedAt.getTime(), 'detected after the injection');
  assert.is(d.detectedAt!.getTime(), new Date(opened!.at).getTime(), 'detection = the breaker opening');
  assert.is(d.detectedBy, 'breaker');
  assert.is(d.alertName, 'CircuitBreakerOpen');
  // diagnosis: the alert post carrying the external-apis diagnosis naming Yelp
  assert.match(d.rootCause ?? '', /^yelp-unavailable: /);
  const [post] = await conn(c).execute<{ created_at: Date }[]>(`select created_at from slack_outbox where ref like 'alert:%' and kind = 'post' order by id limit 1`);
  assert.is(d.diagnosedAt!.getTime(), new Date(post!.created_at).getTime(), 'diagnosis = the alert post with the diagnosis');
  assert.ok(d.diagnosedAt! >= d.detectedAt!);
  // recovery: cleared at the end, then a successful call and the breaker closed again
  assert.ok(d.faultClearedAt!.getTime() >= d.endsAt.getTime(), 'cleared after the drill length');
  assert.ok(d.recoveredAt!.getTime() > d.faultClearedAt!.getTime(), 'recovered after the clear');
  await flushLedgers();
  const [ok] = await conn(c).execute<{ at: Date }[]>(`select min(created_at) as at from api_calls where provider = 'yelp' and outcome = 'ok' and created_at >= ?`, [d.faultClearedAt]);
  const [closed] = await conn(c).execute<{ at: Date }[]>(`select min(created_at) as at from ops_events where type = 'breaker.closed' and payload->>'provider' = 'yelp'`);
  assert.is(d.recoveredAt!.getTime(), Math.max(new Date(ok!.at).getTime(), new Date(closed!.at).getTime()), 'recovery = the later of the first success and the breaker closing');
  assert.is((await c.services.gateway.breaker.snapshot('yelp')).state, 'closed');

  // the report, through the outbox, routed as a drill report, with the measured times
  const rows = rendered(await conn(c).execute<{ text: string; blocks: unknown; body: unknown; route: string; channel: string }[]>(`select text, blocks, body, route, channel from slack_outbox where ref = 'drill:1'`));
  assert.is(rows.length, 1);
  assert.is(rows[0]!.route, 'drills');
  assert.is(rows[0]!.channel, '#lf-incidents');
  assert.match(rows[0]!.text, /^Drill #1 \(yelp server_error, 3 s\) completed: detected in [\d.]+ (ms|s), diagnosed in [\d.]+ (ms|s), recovered in [\d.]+ (ms|s)/);
  const blocks = JSON.stringify(rows[0]!.blocks);
  assert.match(blocks, /Time to detection/);
  assert.match(blocks, /Time to recovery/);
  assert.match(blocks, /yelp-unavailable/);
  assert.match(rows[0]!.text, /Detection: .+ after the fault was injected \(the yelp breaker opened; alert CircuitBreakerOpen\)/);
  const body = rows[0]!.body as { times: { detectionMs: number; recoveryMs: number } };
  assert.is(body.times.detectionMs, d.detectedAt!.getTime() - d.startedAt.getTime());
  assert.is(body.times.recoveryMs, d.recoveredAt!.getTime() - d.faultClearedAt!.getTime());

  // the incident the alert opened shows the drill and its report
  assert.ok(d.incidentId, 'the critical alert opened an incident');
  const { entries } = await incidentTimeline(c.db.orm.em.fork(), d.incidentId!);
  const drillEntry = entries.find((e) => e.kind === 'drill');
  assert.match(drillEntry?.detail ?? '', /Drill #1: yelp server_error injected .* this incident is a drill/);
  assert.equal(drillEntry?.data, { drill: 1, provider: 'yelp', fault: 'server_error' });
  assert.match(entries.find((e) => e.kind === 'drill_report')?.detail ?? '', /Drill #1 \(yelp server_error, 3 s\) completed/);

  // audited: who started it, and its end
  const audit = await recentAudit(c.db.orm.em.fork(), { limit: 10 });
  const start = audit.find((a) => a.action === 'drill:start');
  assert.is(start?.actor, 'slack:UADMIN01');
  assert.is(start?.outcome, 'succeeded');
  assert.ok(audit.some((a) => a.action === 'drill:finish' && a.outcome === 'succeeded'));
  await keeper.stop();
});

test('refused: a non-admin; a provider with a real API key; a CLI without the running service', async (c) => {
  const r = await executeLf(c.ctx, parseLf('drill yelp server_error 2m'), operator);
  assert.is(r.kind, 'refused');
  assert.match((r as { detail: string }).detail, /needs the admin role/);
  const keyed: RunbookContext = {
    ...c.ctx,
    services: { ...c.services, config: { ...c.services.config, providers: { ...c.services.config.providers, yelp: { apiKey: 'real-key', baseUrl: undefined, sandbox: false } } } },
  };
  const real = (await executeLf(keyed, parseLf('drill yelp server_error 2m'), admin)) as ChatResult;
  assert.not.ok(real.ok);
  assert.match(real.text, /yelp is served by its real API \(YELP_API_KEY is set\)/);
  const cli = (await executeLf(c.ctx, parseLf('drill yelp server_error 2m'), { id: 'cli:alice', role: 'admin', source: 'cli', display: 'alice' })) as ChatResult;
  assert.not.ok(cli.ok);
  assert.match(cli.text, /no running service found/);
  assert.equal(await sandboxAdmin(c.services.sandboxUrl!).faults(), {}, 'no fault injected by a refused drill');
  const [n] = await conn(c).execute<{ n: number }[]>('select count(*)::int as n from drills');
  assert.is(n!.n, 0);
  const refusals = (await recentAudit(c.db.orm.em.fork(), { limit: 10 })).filter((a) => a.outcome === 'refused');
  assert.ok(refusals.length >= 3, 'every refusal is audited');
});

test('one drill at a time: a second one is refused, and of two started at once exactly one runs', async (c) => {
  const first = (await executeLf(c.ctx, parseLf('drill pagespeed timeout 10m'), admin)) as ChatResult;
  assert.ok(first.ok);
  const second = (await executeLf(c.ctx, parseLf('drill yelp server_error'), admin)) as ChatResult;
  assert.not.ok(second.ok);
  assert.match(second.text, /drill #1 \(pagespeed timeout, started by slack:UADMIN01\) is still running: one drill at a time/);
  assert.is((await sandboxAdmin(c.services.sandboxUrl!).faults()).yelp, undefined, 'the refused drill injected nothing');
  await abortOrphanedDrills(() => c.db.orm.em.fork(), c.services, { all: true });

  const both = await Promise.all([
    startDrill(() => c.db.orm.em.fork(), c.services, { provider: 'openai', fault: 'server_error', durationMs: 60_000 }, admin),
    startDrill(() => c.db.orm.em.fork(), c.services, { provider: 'sendgrid', fault: 'server_error', durationMs: 60_000 }, admin),
  ]);
  assert.equal(both.map((o) => o.status).sort(), ['refused', 'started']);
  await abortOrphanedDrills(() => c.db.orm.em.fork(), c.services, { all: true });
});

test('a restart mid-drill: the fault is cleared and the drill recorded aborted, with its report', async (c) => {
  const before = createDrillKeeper({ em: () => c.db.orm.em.fork(), services: c.services, timings: { leaseMs: 400 } });
  const ack = (await executeLf(c.ctx, parseLf('drill stripe server_error 10m'), admin)) as ChatResult;
  assert.ok(ack.ok);
  await before.tick(); // claimed and measured by the process that then "dies" (no stop, no clean abort)
  await before.idle();
  assert.is((await getDrill(c.db.orm.em.fork(), 1))?.owner, before.owner);

  // the restarted process: a new keeper. On PostgreSQL another replica may own a drill whose lease is live: kept
  const after = createDrillKeeper({ em: () => c.db.orm.em.fork(), services: c.services, timings: { leaseMs: 400 } });
  assert.equal(await abortOrphanedDrills(() => c.db.orm.em.fork(), c.services, { owner: after.owner }), [], 'a live lease is not taken over');
  assert.is((await sandboxAdmin(c.services.sandboxUrl!).faults()).stripe?.fault, 'server_error');
  await sleep(500); // the dead keeper's lease runs out
  const tick = await after.tick();
  assert.equal(tick.aborted, [1]);
  assert.equal(await sandboxAdmin(c.services.sandboxUrl!).faults(), {}, 'the fault is cleared');
  const d = (await getDrill(c.db.orm.em.fork(), 1))!;
  assert.is(d.status, 'aborted');
  assert.ok(d.faultClearedAt);
  assert.match(d.lastError ?? '', /lease ran out.*fault cleared at/);
  const [report] = await conn(c).execute<{ text: string }[]>(`select text from slack_outbox where ref = 'drill:1'`);
  assert.match(report?.text ?? '', /Drill #1 \(stripe server_error, 10 min\) aborted/);

  // the embedded database is single-process: at start-up every active drill is aborted at once
  const again = (await executeLf(c.ctx, parseLf('drill stripe rate_limit 10m'), admin)) as ChatResult;
  assert.ok(again.ok, again.text);
  assert.equal(await abortOrphanedDrills(() => c.db.orm.em.fork(), c.services, { all: true, why: 'the service restarted mid-drill' }), [2]);
  assert.equal(await sandboxAdmin(c.services.sandboxUrl!).faults(), {});
  assert.match((await getDrill(c.db.orm.em.fork(), 2))?.lastError ?? '', /^the service restarted mid-drill; fault cleared/);
  await before.stop();
  await after.stop();
});

test('the CLI checks the words strictly: provider and fault by name (with a suggestion), the duration by form', () => {
  assert.equal(checkArgs(['drill', 'yelp', 'server_error', '90s']).words, ['drill', 'yelp', 'server_error', '90s']);
  assert.equal(checkArgs(['drill']).words, ['drill']);
  const usage = (argv: string[]) => {
    try {
      checkArgs(argv);
    } catch (err) {
      assert.instance(err, UsageError);
      return (err as Error).message;
    }
    return '';
  };
  assert.match(usage(['drill', 'yelpp', 'server_error']), /"yelpp" is not a sandbox provider; did you mean "yelp"\?/);
  assert.match(usage(['drill', 'yelp', 'server_eror']), /did you mean "server_error"\?/);
  assert.match(usage(['drill', 'yelp', 'server_error', '2 weeks']), /is not a duration such as 90s, 2m or 1h/);
  assert.match(usage(['drill', 'yelp', 'server_error', '2m', 'extra']), /takes at most 3 argument/);
  assert.match(usage(['drill', 'yelp', '--force']), /unknown option "--force"/);
});

test.run();
