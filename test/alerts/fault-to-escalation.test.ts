/**
 * Issue #6 acceptance as one chain, in accelerated time: a sandbox fault (Yelp answering 500) → calls through the
 * real gateway open the Yelp circuit breaker → the alert rule fires with the runbook diagnosis → a SEV2 incident is
 * declared and Level 1 paged → not acknowledged → at its deadline (not before) Level 2 is paged → the process
 * "restarts" (new deps on the same database) and the timer carries on → acknowledged → no further escalation.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { ManualClock } from '../../domain/clock.js';
import { createLogger } from '../../domain/logger.js';
import { sandboxAdmin } from '../../domain/sandbox/index.js';
import type { Services } from '../../domain/services.js';
import { evaluateAlerts } from '../../alerts/evaluate.js';
import { findRule } from '../../alerts/rules.js';
import { acknowledgeIncident, escalationTick, getIncident } from '../../alerts/incidents.js';
import { DB_KIND, freshDatabase } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';
import { rendered } from '../helpers/outbox.js';

type Ctx = { db: Database; services: Services; clock: ManualClock };
const test = suite<Ctx>(`fault → breaker → alert → incident → escalation (${DB_KIND})`);

test.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.clock = new ManualClock(new Date());
  ctx.services = await testServices(
    ctx.db,
    { ESCALATION_LEVEL1: 'UONCALL01', ESCALATION_LEVEL2: 'UTEAM0001', YELP_CACHE_TTL: '0', GATEWAY_RETRY_ATTEMPTS: '1' },
    { clock: ctx.clock },
  );
});
test.after(async (ctx) => {
  await ctx.services.close();
  await ctx.db.close();
});

const logger = createLogger('silent');

test('the whole loop, with a restart in the middle', async (ctx) => {
  const s = ctx.services;
  await sandboxAdmin(s.sandboxUrl!).setFault('yelp', { fault: 'server_error' });
  for (let i = 0; i < 8; i++) await s.providers.yelp.search({ location: 'Denver, CO', category: 'dentists', limit: 10, offset: 0 }).catch(() => undefined);
  const [state] = await ctx.db.orm.em.getConnection().execute<{ breaker_state: string }[]>(`select breaker_state from provider_state where provider = 'yelp'`);
  assert.is(state?.breaker_state, 'open', 'the real gateway opened the breaker');

  const deps = { em: () => ctx.db.orm.em.fork(), config: s.config, clock: ctx.clock, logger, runbooks: runbookContext(s) };
  // only the rule under test (on a fresh database PipelineDown would rightly fire too: no run has happened)
  const evaluation = await evaluateAlerts(deps, [findRule('CircuitBreakerOpen')!]);
  const fired = evaluation.transitions.find((t) => t.name === 'CircuitBreakerOpen');
  assert.is(fired?.transition, 'fired');
  assert.is(evaluation.incidents.length, 1);
  const id = evaluation.incidents[0]!;
  const post = rendered(await ctx.db.orm.em.getConnection().execute<{ text: string; blocks: unknown }[]>(`select text, blocks, body from slack_outbox where kind = 'post' and channel = ?`, [s.config.alerting.alertsChannel]))[0];
  assert.match(JSON.stringify(post?.blocks), /External APIs/);
  assert.match(JSON.stringify(post?.blocks), /Yelp/);
  let inc = (await getIncident(ctx.db.orm.em.fork(), id))!;
  assert.is(inc.severity, 'SEV2');
  assert.is(inc.level, 1);
  const paged = async (user: string) =>
    (await ctx.db.orm.em.getConnection().execute<{ n: number }[]>(`select count(*)::int as n from slack_outbox where kind = 'dm' and channel = ?`, [user]))[0]!.n;
  assert.is(await paged('UONCALL01'), 1, 'Level 1 paged');

  // not acknowledged: nothing before the SEV2 deadline (1 h), Level 2 at it
  ctx.clock.advance(60 * 60_000 - 1000);
  assert.equal((await escalationTick({ ...deps }, ctx.clock.now())).escalated, []);
  ctx.clock.advance(1000);
  const t1 = await escalationTick({ ...deps }, ctx.clock.now());
  assert.is(t1.escalated.length, 1);
  inc = (await getIncident(ctx.db.orm.em.fork(), id))!;
  assert.is(inc.level, 2);
  assert.is(await paged('UTEAM0001'), 1, 'Level 2 paged at its deadline');

  // a "restart": fresh deps, same database; the next deadline is still honoured
  const restarted = { em: () => ctx.db.orm.em.fork(), config: s.config, clock: ctx.clock, logger };
  ctx.clock.advance(30 * 60_000);
  assert.equal((await escalationTick(restarted, ctx.clock.now())).escalated, [], 'not before the new deadline');
  await acknowledgeIncident(ctx.db.orm.em.fork(), id, { id: 'slack:UTEAM0001', role: 'operator', source: 'slack', display: '<@UTEAM0001>' }, ctx.clock.now(), s.config);
  ctx.clock.advance(2 * 60 * 60_000);
  assert.equal((await escalationTick(restarted, ctx.clock.now())).escalated, [], 'acknowledged: escalation stopped');
  inc = (await getIncident(ctx.db.orm.em.fork(), id))!;
  assert.is(inc.status, 'acknowledged');
  assert.is(inc.level, 2);
  await sandboxAdmin(s.sandboxUrl!).clearFaults();
});

test.run();
