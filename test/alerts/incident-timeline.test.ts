/**
 * Issue #14 point 8: the incident timeline shows the automatic diagnosis read at the right depth (not "no root
 * cause indicated (0 of 0 checks)"), every remediation (who, what, outcome, verification) and every assistant
 * answer while the incident was open, beside the alert, pages and escalations.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { evaluateAlerts } from '../../alerts/evaluate.js';
import { diagnosisLine, incidentTimeline } from '../../alerts/incidents.js';
import { findRule } from '../../alerts/rules.js';
import type { Database } from '../../db/orm.js';
import { ManualClock } from '../../domain/clock.js';
import { createLogger } from '../../domain/logger.js';
import type { Services } from '../../domain/services.js';
import { DB_KIND, freshDatabase } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';

type Ctx = { db: Database; services: Services; clock: ManualClock };
const test = suite<Ctx>(`incident timeline (${DB_KIND})`);
test.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.clock = new ManualClock('2026-12-05T10:00:00Z');
  ctx.services = await testServices(ctx.db, {}, { clock: ctx.clock });
});
test.after(async (ctx) => {
  await ctx.services.close();
  await ctx.db.close();
});

test('diagnosisLine reads the stored diagnosis one level down; a bare diagnosis still works', () => {
  const diagnosis = { runbook: 'external-apis', title: 'External APIs', results: [{ finding: { status: 'problem' } }, { finding: { status: 'ok' } }], rootCauses: [{ title: 'Yelp breaker open' }] };
  assert.is(diagnosisLine({ runbook: 'external-apis', diagnosis, nonce: 'n', issuedAt: 'x' }), 'External APIs: root cause Yelp breaker open (1 of 2 checks warn or fail)');
  assert.is(diagnosisLine(diagnosis), 'External APIs: root cause Yelp breaker open (1 of 2 checks warn or fail)');
});

test('timeline: alert, diagnosis with its findings, a remediation with outcome and verification, an assistant answer', async (ctx) => {
  const sql = (q: string, p: unknown[] = []) => ctx.db.orm.em.getConnection().execute(q, p);
  await sql(
    `insert into provider_state (provider, breaker_state, consecutive_failures, generation, half_open_successes, opened_at, last_error, updated_at)
     values ('yelp', 'open', 5, 1, 0, ?, 'HTTP 500 from sandbox', ?)`,
    [ctx.clock.now(), ctx.clock.now()],
  );
  const deps = { em: () => ctx.db.orm.em.fork(), config: ctx.services.config, clock: ctx.clock, logger: createLogger('silent'), runbooks: runbookContext(ctx.services) };
  const r = await evaluateAlerts(deps, [findRule('CircuitBreakerOpen')!]);
  const id = r.incidents[0]!;
  ctx.clock.advance(60_000);
  await sql(`insert into audit_log (at, actor, actor_role, source, action, input, outcome, detail) values (?, 'U0OPS', 'operator', 'slack', 'remediation:external-apis/reset-breaker', '{}', 'succeeded', 'Not fixed yet: yelp still answers 503')`, [ctx.clock.now()]);
  await sql(`insert into assistant_answers (asked_at, actor, source, question, status, root_cause) values (?, 'U0OPS', 'slack', ?, 'answered', 'yelp-outage')`, [ctx.clock.now(), 'why is yelp failing?']);
  const { entries } = await incidentTimeline(ctx.db.orm.em.fork(), id);
  const kinds = entries.map((e) => e.kind);
  for (const k of ['alert_fired', 'diagnosis', 'declared', 'remediation', 'assistant_answer']) assert.ok(kinds.includes(k), `${k} in ${kinds.join(', ')}`);
  const diag = entries.find((e) => e.kind === 'diagnosis')!;
  assert.not.match(diag.detail, /0 of 0 checks/);
  assert.match(diag.detail, /External APIs: .* \(\d+ of [1-9]\d* checks warn or fail\)/);
  const rem = entries.find((e) => e.kind === 'remediation')!;
  assert.is(rem.actor, 'U0OPS');
  assert.match(rem.detail, /^external-apis\/reset-breaker: succeeded — Not fixed yet: yelp still answers 503/);
  assert.match(entries.find((e) => e.kind === 'assistant_answer')!.detail, /why is yelp failing\?.*root cause yelp-outage/);
});

test.run();
