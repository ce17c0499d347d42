/**
 * Quiet, current posts (issue 14, point 7): a group's resolution is one thread reply listing what resolved plus one
 * edit; an edit carries a diagnosis run again, not the one stored when the group fired; an operator's forced-open
 * breaker is posted as forced by whom, not "OPENED after repeated failures".
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { ManualClock } from '../../domain/clock.js';
import { createLogger } from '../../domain/logger.js';
import type { Services } from '../../domain/services.js';
import { processAlertObservations } from '../../alerts/dispatch.js';
import { evaluateAlerts } from '../../alerts/evaluate.js';
import { eventText } from '../../alerts/format.js';
import { findRule } from '../../alerts/rules.js';
import type { AlertObservation } from '../../alerts/store.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';
import { rendered } from '../helpers/outbox.js';

type Ctx = { db: Database; services: Services; clock: ManualClock };
const test = suite<Ctx>(`quiet, current posts (${DB_KIND})`);
const logger = createLogger('silent');

test.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.clock = new ManualClock('2026-12-05T03:00:00Z');
  ctx.services = await testServices(ctx.db, {}, { clock: ctx.clock });
});
test.after(async (ctx) => {
  await ctx.services.close();
  await ctx.db.close();
});
test.before.each(async (ctx) => {
  await truncateAll(ctx.db);
});

const deps = (ctx: Ctx) => ({ em: () => ctx.db.orm.em.fork(), config: ctx.services.config, clock: ctx.clock, logger, runbooks: runbookContext(ctx.services) });
const outbox = async (ctx: Ctx) =>
  rendered(await ctx.db.orm.em.getConnection().execute<{ kind: string; ref: string | null; text: string; blocks: unknown[] | null }[]>('select kind, ref, text, blocks, body from slack_outbox order by id'));

function obs(i: number, status: 'firing' | 'resolved', at: Date): AlertObservation {
  return {
    fingerprint: `host-${i}`,
    groupKey: 'group:high-memory',
    source: 'alertmanager',
    name: 'HighMemory',
    severity: 'warning',
    labels: { alertname: 'HighMemory', instance: `10.0.0.${i}` },
    annotations: { summary: `10.0.0.${i} memory high` },
    runbook: 'memory-resources',
    status,
    startsAt: new Date('2026-12-05T03:00:00Z'),
    ...(status === 'resolved' ? { endsAt: at } : {}),
  };
}

test('12 alerts of one group resolving: one thread reply listing all 12, one edit', async (ctx) => {
  await processAlertObservations(deps(ctx), Array.from({ length: 12 }, (_, i) => obs(i, 'firing', ctx.clock.now())));
  const before = (await outbox(ctx)).length;
  ctx.clock.advance(10 * 60_000);
  await processAlertObservations(deps(ctx), Array.from({ length: 12 }, (_, i) => obs(i, 'resolved', ctx.clock.now())));
  const added = (await outbox(ctx)).slice(before);
  const replies = added.filter((r) => r.kind === 'reply');
  const edits = added.filter((r) => r.kind === 'update');
  assert.is(replies.length, 1, 'one reply');
  assert.is(edits.length, 1, 'one edit');
  assert.match(replies[0]!.text, /12 alerts resolved/);
  for (let i = 0; i < 12; i++) assert.ok(replies[0]!.text.includes(`instance=10.0.0.${i}`), `lists 10.0.0.${i}`);
  assert.match(replies[0]!.text, /after 10 min/);
});

test('an operator forced open: posted as forced by whom, not "OPENED after repeated failures"', async (ctx) => {
  await ctx.services.gateway.breaker.forceOpen('yelp', 'by U0OPERATOR for 30 min', { forMs: 30 * 60_000 });
  await evaluateAlerts(deps(ctx), [findRule('CircuitBreakerOpen')!]);
  const post = (await outbox(ctx)).find((r) => r.kind === 'post')!;
  const all = `${post.text} ${JSON.stringify(post.blocks)}`;
  assert.match(all, /forced open by U0OPERATOR for 30 min/);
  assert.not.match(all, /OPENED after repeated failures/);
  const [ev] = await ctx.db.orm.em.getConnection().execute<{ type: string; severity: string; payload: Record<string, unknown> }[]>(`select type, severity, payload from ops_events where type = 'breaker.opened'`);
  const text = eventText({ type: ev!.type, severity: 'critical', payload: ev!.payload });
  assert.match(text, /forced open by U0OPERATOR/);
  assert.not.match(text, /after repeated failures/);
});

test('an edit carries a diagnosis run again at edit time, not the stored one', async (ctx) => {
  await processAlertObservations(deps(ctx), [obs(1, 'firing', ctx.clock.now()), obs(2, 'firing', ctx.clock.now())]);
  const [stored] = await ctx.db.orm.em.getConnection().execute<{ diagnosis: { issuedAt: string } }[]>(`select diagnosis from alerts where diagnosis is not null limit 1`);
  ctx.clock.advance(5 * 60_000);
  await processAlertObservations(deps(ctx), [obs(1, 'resolved', ctx.clock.now())]);
  const rows = await ctx.db.orm.em.getConnection().execute<{ diagnosis: { issuedAt: string } }[]>(`select diagnosis from alerts where fingerprint = 'host-2'`);
  assert.ok(stored && rows[0]!.diagnosis.issuedAt > stored.diagnosis.issuedAt, 'diagnosed again for the edit');
  assert.is((await outbox(ctx)).filter((r) => r.kind === 'update').length, 1);
});

test.run();
