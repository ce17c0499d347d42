/**
 * Issue #14 point 2, one alert path: an alert's identity is its name and sorted identity labels whoever evaluated
 * it; ALERT_SOURCE=both gives one post, one incident and one resolution per alert group whichever source reports
 * first; ALERT_SOURCE=internal ignores Alertmanager's copies of our rules (other alerts still pass); the Watchdog
 * is a heartbeat, never a post; the default and the start-up line; a breaker trip is not posted to the status
 * channel a second time.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { toObservations, type AlertmanagerPayload } from '../../alerts/alertmanager.js';
import { evaluateAlerts } from '../../alerts/evaluate.js';
import { QUIET_EVENT_TYPES } from '../../alerts/format.js';
import { findRule } from '../../alerts/rules.js';
import { alertIdentity, alertSourceLine, lastWatchdog } from '../../alerts/source.js';
import { processAlertmanagerDelivery, storeAlertmanagerDelivery } from '../../bot/webhooks/alertmanager.js';
import type { Database } from '../../db/orm.js';
import { ManualClock } from '../../domain/clock.js';
import { loadConfig } from '../../domain/config.js';
import { createLogger } from '../../domain/logger.js';
import type { Services } from '../../domain/services.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';

const unit = suite('alert source: identity, default, start-up line');

/** Labels Prometheus 2.42 + Alertmanager 0.25 put on CircuitBreakerOpen exported from alerts/rules.ts. */
const PROM_LABELS = { alertname: 'CircuitBreakerOpen', severity: 'critical', runbook: 'external-apis', provider: 'yelp', instance: '127.0.0.1:3000', job: 'leadfactory', service: 'leadfactory-ops', env: 'production' };

unit('identity: name + identity labels, the same for the in-process rule and Prometheus/Alertmanager', () => {
  assert.is(alertIdentity('CircuitBreakerOpen', PROM_LABELS), alertIdentity('CircuitBreakerOpen', { provider: 'yelp' }));
  assert.is.not(alertIdentity('CircuitBreakerOpen', { provider: 'yelp' }), alertIdentity('CircuitBreakerOpen', { provider: 'stripe' }));
  assert.is(alertIdentity('Other', { a: '1', b: '2' }), alertIdentity('Other', { b: '2', a: '1', alertname: 'Other' }), 'sorted, alertname not a label');
  assert.is.not(alertIdentity('Other', { instance: 'a' }), alertIdentity('Other', { instance: 'b' }), "other alerts keep every label");
});

unit('ALERT_SOURCE default: both with ALERTMANAGER_TOKEN, else internal; the start-up line names it', () => {
  assert.is(loadConfig({ NODE_ENV: 'test' }).alerting.source, 'internal');
  assert.is(loadConfig({ NODE_ENV: 'test', ALERTMANAGER_TOKEN: 'x' }).alerting.source, 'both');
  assert.is(loadConfig({ NODE_ENV: 'test', ALERTMANAGER_TOKEN: 'x', ALERT_SOURCE: 'alertmanager' }).alerting.source, 'alertmanager');
  assert.throws(() => loadConfig({ NODE_ENV: 'test', ALERT_SOURCE: 'prometheus' }), /ALERT_SOURCE/);
  assert.match(alertSourceLine('both', 30_000), /^alert source: both .*one post and one incident per alert group/);
  assert.match(alertSourceLine('internal', 30_000), /^alert source: internal/);
});

unit('a breaker trip is not a status post (the CircuitBreakerOpen alert posts it once)', () => {
  assert.ok(QUIET_EVENT_TYPES.has('breaker.opened'));
  assert.not.ok(QUIET_EVENT_TYPES.has('breaker.closed'));
});
unit.run();

type Ctx = { db: Database; services: Services; clock: ManualClock };
const both = suite<Ctx>(`alert source: both, internal (${DB_KIND})`);
both.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.clock = new ManualClock('2026-12-05T10:00:00Z');
  ctx.services = await testServices(ctx.db, { ALERTMANAGER_TOKEN: 'tok', ALERT_SOURCE: 'both' }, { clock: ctx.clock });
});
both.after(async (ctx) => {
  await ctx.services.close();
  await ctx.db.close();
});
both.before.each(async (ctx) => {
  await truncateAll(ctx.db);
});

const logger = createLogger('silent');
function deps(ctx: Ctx, source?: 'internal' | 'both') {
  const config = source ? { ...ctx.services.config, alerting: { ...ctx.services.config.alerting, source } } : ctx.services.config;
  return { em: () => ctx.db.orm.em.fork(), config, clock: ctx.clock, logger, runbooks: runbookContext(ctx.services) };
}
const sql = <T>(ctx: Ctx, q: string, p: unknown[] = []) => ctx.db.orm.em.getConnection().execute<T[]>(q, p);
async function breaker(ctx: Ctx, state: 'open' | 'closed') {
  await sql(
    ctx,
    `insert into provider_state (provider, breaker_state, consecutive_failures, generation, half_open_successes, opened_at, last_error, updated_at)
     values ('yelp', ?, 5, 1, 0, ?, 'HTTP 500 from sandbox', ?) on conflict (provider) do update set breaker_state = excluded.breaker_state`,
    [state, ctx.clock.now(), ctx.clock.now()],
  );
}
let seq = 0;
/** An Alertmanager 0.25 delivery of CircuitBreakerOpen{provider=yelp} as its webhook sends it, stored and processed. */
async function amDelivery(ctx: Ctx, status: 'firing' | 'resolved', startsAt: Date, source?: 'internal' | 'both', alertname = 'CircuitBreakerOpen') {
  const payload = {
    version: '4',
    groupKey: `{}/{severity="critical"}:{alertname="${alertname}", severity="critical"}`,
    truncatedAlerts: 0,
    status,
    receiver: 'leadfactory-ops',
    groupLabels: { alertname, severity: 'critical' },
    commonLabels: { ...PROM_LABELS, alertname },
    commonAnnotations: {},
    externalURL: 'http://127.0.0.1:9093',
    alerts: [
      {
        status,
        labels: { ...PROM_LABELS, alertname },
        annotations: { summary: 'A provider circuit breaker is open' },
        startsAt: startsAt.toISOString(),
        endsAt: status === 'resolved' ? ctx.clock.now().toISOString() : '0001-01-01T00:00:00Z',
        generatorURL: 'http://127.0.0.1:9090/graph',
        fingerprint: 'c0ffee0123456789',
      },
    ],
  };
  const id = `delivery-${++seq}`;
  await storeAlertmanagerDelivery(deps(ctx, source), id, status, payload, ctx.clock.now());
  return processAlertmanagerDelivery(deps(ctx, source), id);
}
/** The alerts channel's outbox entries. */
const outbox = (ctx: Ctx) => sql<{ kind: string; text: string }>(ctx, 'select kind, text from slack_outbox where channel = ? order by id', [ctx.services.config.alerting.alertsChannel]);
const incidents = (ctx: Ctx) => sql<{ id: number }>(ctx, 'select id from incidents');
const rules = [findRule('CircuitBreakerOpen')!];

both('internal first, Alertmanager later: one post, one incident; resolution waits for both, then one reply', async (ctx) => {
  await breaker(ctx, 'open');
  const r1 = await evaluateAlerts(deps(ctx), rules);
  assert.equal(r1.transitions.map((t) => t.transition), ['fired']);
  const firedAt = ctx.clock.now();
  ctx.clock.advance(20_000);
  const d = await amDelivery(ctx, 'firing', new Date(firedAt.getTime() + 5_000));
  assert.is(d.outcome, 'processed');
  const rows = await sql<{ fingerprint: string; source_status: Record<string, string>; group_key: string }>(ctx, 'select fingerprint, source_status, group_key from alerts');
  assert.is(rows.length, 1, 'one alert row: the same identity');
  assert.equal(rows[0]!.source_status, { internal: 'firing', alertmanager: 'firing' });
  assert.is(rows[0]!.group_key, 'rule:CircuitBreakerOpen');
  let box = await outbox(ctx);
  assert.is(box.filter((m) => m.kind === 'post').length, 1, 'one post');
  assert.is((await incidents(ctx)).length, 1, 'one incident');

  // the condition clears: the in-process evaluation sees it first, Alertmanager still says firing → no resolution yet
  await breaker(ctx, 'closed');
  ctx.clock.advance(30_000);
  const r2 = await evaluateAlerts(deps(ctx), rules);
  assert.equal(r2.transitions.map((t) => t.transition), ['none']);
  box = await outbox(ctx);
  assert.is(box.filter((m) => m.kind === 'reply').length, 0);
  ctx.clock.advance(30_000);
  await amDelivery(ctx, 'resolved', new Date(firedAt.getTime() + 5_000));
  box = await outbox(ctx);
  assert.is(box.filter((m) => m.kind === 'reply').length, 1, 'one resolution reply');
  assert.is(box.filter((m) => m.kind === 'post').length, 1, 'still one post');
  // later evaluations and resends change nothing
  ctx.clock.advance(30_000);
  await evaluateAlerts(deps(ctx), rules);
  await amDelivery(ctx, 'resolved', new Date(firedAt.getTime() + 5_000));
  assert.is((await outbox(ctx)).length, box.length);
  assert.is((await incidents(ctx)).length, 1);
});

both('Alertmanager first, the in-process rule later: one post, one incident; internal resolution alone resolves nothing', async (ctx) => {
  await breaker(ctx, 'open');
  const startsAt = ctx.clock.now();
  await amDelivery(ctx, 'firing', startsAt);
  ctx.clock.advance(10_000);
  const r = await evaluateAlerts(deps(ctx), rules);
  assert.equal(r.transitions.map((t) => t.transition), ['none']);
  assert.is((await outbox(ctx)).filter((m) => m.kind === 'post').length, 1);
  assert.is((await incidents(ctx)).length, 1);
  await breaker(ctx, 'closed');
  ctx.clock.advance(30_000);
  await evaluateAlerts(deps(ctx), rules);
  assert.is((await sql<{ status: string }>(ctx, 'select status from alerts'))[0]!.status, 'firing', 'Alertmanager still reports it');
  await amDelivery(ctx, 'resolved', startsAt);
  assert.is((await sql<{ status: string }>(ctx, 'select status from alerts'))[0]!.status, 'resolved');
  assert.is((await outbox(ctx)).filter((m) => m.kind === 'reply').length, 1);
});

both('ALERT_SOURCE=internal: Alertmanager copies of our rules are ignored, other alerts pass; Watchdog is a heartbeat', async (ctx) => {
  const d = await amDelivery(ctx, 'firing', ctx.clock.now(), 'internal');
  assert.is(d.outcome, 'processed');
  assert.is((await sql(ctx, 'select 1 from alerts')).length, 0, 'our rule from Alertmanager ignored');
  await amDelivery(ctx, 'firing', ctx.clock.now(), 'internal', 'NodeDiskFull');
  assert.equal((await sql<{ name: string }>(ctx, 'select name from alerts')).map((a) => a.name), ['NodeDiskFull'], 'not ours: passes');
  await amDelivery(ctx, 'firing', ctx.clock.now(), 'both', 'Watchdog');
  assert.is((await sql(ctx, "select 1 from alerts where name = 'Watchdog'")).length, 0, 'the Watchdog is not an alert row');
  assert.is((await lastWatchdog(ctx.db.orm.em.fork()))?.toISOString(), ctx.clock.now().toISOString());
});

both('toObservations of an Alertmanager payload of our rule: group rule:<name>, identity of the in-process rule', async () => {
  const payload = {
    version: '4',
    groupKey: 'g',
    truncatedAlerts: 0,
    status: 'firing',
    receiver: '',
    groupLabels: {},
    commonLabels: {},
    commonAnnotations: {},
    externalURL: '',
    alerts: [{ status: 'firing', labels: PROM_LABELS, annotations: {}, startsAt: '2026-12-05T10:00:00Z' }],
  } as AlertmanagerPayload;
  const [obs] = toObservations(payload);
  assert.is(obs!.groupKey, 'rule:CircuitBreakerOpen');
  assert.is(obs!.fingerprint, alertIdentity('CircuitBreakerOpen', { provider: 'yelp' }));
});
both.run();
