import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { ManualClock } from '../../domain/clock.js';
import { CircuitOpenError, ProviderError, QuotaExhaustedError, RateLimitedError } from '../../domain/errors.js';
import { CircuitBreaker, countsAsFailure, type BreakerTransition, type Permit } from '../../domain/gateway/breaker.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { race } from './threads/run.js';

type Ctx = { db: Database };
const test = suite<Ctx>(`circuit breaker (${DB_KIND})`);

test.before(async (ctx) => {
  ctx.db = await freshDatabase();
});
test.after(async (ctx) => {
  await ctx.db.close();
});
test.before.each(async (ctx) => {
  await truncateAll(ctx.db);
});

const COOLDOWN = 60_000;

function make(ctx: Ctx, probeTimeoutMs?: number) {
  const clock = new ManualClock('2026-03-10T12:00:00Z');
  const transitions: BreakerTransition[] = [];
  const breaker = new CircuitBreaker({
    orm: ctx.db.orm,
    clock,
    config: { failureThreshold: 3, cooldownMs: COOLDOWN, halfOpenSuccesses: 3 },
    onTransition: (t) => transitions.push(t),
    ...(probeTimeoutMs ? { probeTimeoutMs } : {}),
  });
  return { clock, breaker, transitions };
}

const http = (status: number | undefined) =>
  new ProviderError({ provider: 'yelp', operation: 'search', status, message: `status ${status}`, retryable: true });

async function events(ctx: Ctx) {
  return ctx.db.orm.em
    .getConnection()
    .execute<{ type: string; severity: string; dedup_key: string; payload: Record<string, unknown> }[]>(
      'select type, severity, dedup_key, payload from ops_events order by id',
    );
}

async function refused(p: Promise<unknown>): Promise<CircuitOpenError> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, CircuitOpenError);
    return err as CircuitOpenError;
  }
  return assert.unreachable('expected CircuitOpenError') as never;
}

/** Trips the breaker: 3 counted failures in a row. */
async function trip(breaker: CircuitBreaker, err: unknown = http(500)) {
  for (let i = 0; i < 3; i++) await breaker.onFailure(await breaker.permit('yelp'), err);
}

test('countsAsFailure: 4xx other than 408/429 and our own refusals do not count', () => {
  for (const s of [400, 401, 403, 404, 422]) assert.not.ok(countsAsFailure(http(s)), String(s));
  for (const s of [408, 429, 500, 502, 503, undefined]) assert.ok(countsAsFailure(http(s)), String(s));
  assert.ok(countsAsFailure(new Error('ECONNRESET')));
  assert.ok(countsAsFailure('timeout'));
  assert.not.ok(countsAsFailure(new RateLimitedError('yelp', new Date(), 'x')));
  assert.not.ok(countsAsFailure(new QuotaExhaustedError('yelp', new Date(), 'x')));
  assert.not.ok(countsAsFailure(new CircuitOpenError('yelp', new Date(), 'open')));
});

test('closed → open after N counted failures; 400/404 never count; a success resets the count', async (ctx) => {
  const { clock, breaker, transitions } = make(ctx);
  for (let i = 0; i < 10; i++) await breaker.onFailure(await breaker.permit('yelp'), http(i % 2 ? 400 : 404));
  let s = await breaker.snapshot('yelp');
  assert.equal([s.state, s.consecutiveFailures, s.lastError], ['closed', 0, undefined]);
  await breaker.onFailure(await breaker.permit('yelp'), http(500));
  await breaker.onFailure(await breaker.permit('yelp'), http(429));
  await breaker.onSuccess(await breaker.permit('yelp'));
  s = await breaker.snapshot('yelp');
  assert.equal([s.state, s.consecutiveFailures], ['closed', 0]);
  assert.is(s.lastSuccessAt?.getTime(), clock.now().getTime());
  await breaker.onFailure(await breaker.permit('yelp'), http(408));
  await breaker.onFailure(await breaker.permit('yelp'), new Error('socket hang up'));
  await breaker.onFailure(await breaker.permit('yelp'), http(503));
  s = await breaker.snapshot('yelp');
  assert.equal([s.state, s.generation, s.consecutiveFailures], ['open', 1, 3]);
  assert.is(s.openedAt?.getTime(), clock.now().getTime());
  assert.is(s.retryAt?.getTime(), clock.now().getTime() + COOLDOWN);
  assert.match(s.lastError ?? '', 'status 503');
  assert.equal(transitions.map((t) => [t.from, t.to, t.generation]), [['closed', 'open', 1]]);
  const ev = await events(ctx);
  assert.equal(ev.map((e) => [e.type, e.severity, e.dedup_key]), [['breaker.opened', 'critical', 'breaker.opened:yelp:1']]);
  assert.equal([ev[0]!.payload.provider, ev[0]!.payload.from, ev[0]!.payload.to, ev[0]!.payload.generation], ['yelp', 'closed', 'open', 1]);
  assert.match(String(ev[0]!.payload.lastError), 'status 503');
  assert.match(String(ev[0]!.payload.reason), '3 consecutive failures');
});

test('open refuses with retryAt = openedAt + cooldown; after it exactly one probe; 3 probe successes close', async (ctx) => {
  const { clock, breaker, transitions } = make(ctx);
  await trip(breaker);
  const openedAt = clock.now().getTime();
  clock.advance(COOLDOWN - 1);
  const err = await refused(breaker.permit('yelp'));
  assert.is(err.retryAt.getTime(), openedAt + COOLDOWN);
  clock.advance(1);
  const probes = await Promise.allSettled(Array.from({ length: 10 }, () => breaker.permit('yelp')));
  const granted = probes.filter((p): p is PromiseFulfilledResult<Permit> => p.status === 'fulfilled');
  assert.is(granted.length, 1, 'exactly one probe');
  assert.ok(granted[0]!.value.probe);
  for (const p of probes) if (p.status === 'rejected') assert.instance(p.reason, CircuitOpenError);
  const lease = (await refused(breaker.permit('yelp'))).retryAt;
  assert.is(lease.getTime(), clock.now().getTime() + 30_000, 'refused until the probe lease ends');
  for (let i = 1; i <= 3; i++) {
    const probe = i === 1 ? granted[0]!.value : await breaker.permit('yelp');
    assert.ok(probe.probe);
    if (i < 3) await refused(breaker.permit('yelp'));
    clock.advance(10);
    await breaker.onSuccess(probe);
    const s = await breaker.snapshot('yelp');
    assert.equal([s.state, s.halfOpenSuccesses], i < 3 ? ['half_open', i] : ['closed', 3]);
  }
  const s = await breaker.snapshot('yelp');
  assert.equal([s.consecutiveFailures, s.openedAt, s.retryAt, s.generation], [0, undefined, undefined, 1]);
  assert.equal((await breaker.permit('yelp')).probe, false);
  assert.equal(transitions.map((t) => `${t.from}>${t.to}:${t.generation}`), ['closed>open:1', 'open>half_open:1', 'half_open>closed:1']);
  const ev = await events(ctx);
  assert.equal(ev.map((e) => e.type), ['breaker.opened', 'breaker.half_opened', 'breaker.closed']);
  assert.equal(ev.map((e) => e.severity), ['critical', 'info', 'info']);
  assert.is(ev[2]!.dedup_key, 'breaker.closed:yelp:1');
});

test('probe failure re-opens (same generation, no new breaker.opened); an expired probe lease lets one more probe', async (ctx) => {
  const { clock, breaker } = make(ctx, 5000);
  await trip(breaker);
  clock.advance(COOLDOWN);
  const p0 = await breaker.permit('yelp');
  await breaker.onFailure(p0, http(400)); // says nothing about health: the probe only hands its lease back
  assert.equal([(await breaker.snapshot('yelp')).state, (await breaker.snapshot('yelp')).probeUntil], ['half_open', undefined]);
  const p1 = await breaker.permit('yelp');
  assert.ok(p1.probe, 'the next caller probes at once');
  await refused(breaker.permit('yelp'));
  clock.advance(5000);
  const p2 = await breaker.permit('yelp');
  assert.ok(p2.probe, 'the lease expired: a new probe');
  await breaker.onSuccess(p1); // the old probe's late answer changes nothing
  await breaker.onFailure(p1, http(500));
  assert.equal([(await breaker.snapshot('yelp')).state, (await breaker.snapshot('yelp')).halfOpenSuccesses], ['half_open', 0]);
  await breaker.onFailure(p2, http(502));
  let s = await breaker.snapshot('yelp');
  assert.equal([s.state, s.generation, s.openedAt?.getTime()], ['open', 1, clock.now().getTime()]);
  await refused(breaker.permit('yelp'));
  clock.advance(COOLDOWN);
  const p3 = await breaker.permit('yelp');
  await breaker.onSuccess(p3);
  s = await breaker.snapshot('yelp');
  assert.equal([s.state, s.generation, s.halfOpenSuccesses], ['half_open', 1, 1]);
  const ev = await events(ctx);
  assert.equal(ev.map((e) => [e.type, e.severity]), [
    ['breaker.opened', 'critical'],
    ['breaker.half_opened', 'info'],
    ['breaker.reopened', 'warning'],
    ['breaker.half_opened', 'info'],
  ]);
  assert.is(new Set(ev.map((e) => e.dedup_key)).size, 4);
  assert.match(String(ev[2]!.payload.lastError), 'status 502');
});

test('stale generations: a slow success from before the trip does not close; a late failure after reset does not open', async (ctx) => {
  const { clock, breaker } = make(ctx);
  const slow = await Promise.all(Array.from({ length: 5 }, () => breaker.permit('yelp')));
  await trip(breaker);
  await breaker.onSuccess(slow[0]!);
  let s = await breaker.snapshot('yelp');
  assert.equal([s.state, s.consecutiveFailures], ['open', 3]);
  assert.ok(s.lastSuccessAt, 'the success is still noted');
  // a reset is not a recovery: half_open, and only probe successes close it
  await breaker.reset('yelp', 'test');
  for (let i = 0; i < 3; i++) await breaker.onSuccess(await breaker.permit('yelp'));
  assert.is((await breaker.snapshot('yelp')).state, 'closed');
  // six simultaneous failures with threshold 3: one trip, and the breaker still goes half_open later
  const six = await Promise.all(Array.from({ length: 6 }, () => breaker.permit('yelp')));
  await Promise.all(six.map((p) => breaker.onFailure(p, http(500))));
  s = await breaker.snapshot('yelp');
  assert.equal([s.state, s.generation], ['open', 3]);
  clock.advance(COOLDOWN);
  const probe = await breaker.permit('yelp');
  assert.ok(probe.probe);
  await breaker.reset('yelp', 'provider fixed');
  for (const p of [...slow, ...six, probe]) await breaker.onFailure(p, http(500));
  s = await breaker.snapshot('yelp');
  assert.equal([s.state, s.consecutiveFailures, s.generation], ['half_open', 0, 4]);
  await breaker.onSuccess(probe);
  assert.equal((await breaker.snapshot('yelp')).halfOpenSuccesses, 0, "the old probe's late success counts for nothing");
  const ev = await events(ctx);
  assert.equal(
    ev.filter((e) => ['breaker.opened', 'breaker.closed', 'breaker.reset'].includes(e.type)).map((e) => e.dedup_key),
    ['breaker.opened:yelp:1', 'breaker.reset:yelp:2', 'breaker.closed:yelp:2', 'breaker.opened:yelp:3', 'breaker.reset:yelp:4'],
  );
});

test('forceOpen and reset (remediations); a reset records breaker.reset, never breaker.closed', async (ctx) => {
  const { clock, breaker, transitions } = make(ctx);
  const before = await breaker.permit('yelp');
  await breaker.forceOpen('yelp', 'provider incident');
  let s = await breaker.snapshot('yelp');
  assert.equal([s.state, s.generation, s.retryAt?.getTime()], ['open', 1, clock.now().getTime() + COOLDOWN]);
  await breaker.onSuccess(before);
  await refused(breaker.permit('yelp'));
  clock.advance(30_000);
  await breaker.forceOpen('yelp', 'still down', { by: 'slack:U9' }); // restarts the cooldown, same trip; who holds it is recorded
  s = await breaker.snapshot('yelp');
  assert.equal([s.state, s.generation, s.retryAt?.getTime()], ['open', 1, clock.now().getTime() + COOLDOWN]);
  assert.equal(await breaker.reset('yelp', 'all clear', 'slack:U1'), { from: 'open', to: 'half_open', generation: 2 });
  s = await breaker.snapshot('yelp');
  assert.equal([s.state, s.consecutiveFailures, s.halfOpenSuccesses, s.probeUntil], ['half_open', 0, 0, undefined]);
  // the very next call is the probe, without waiting for the cooldown; a second caller waits for it
  const probe = await breaker.permit('yelp');
  assert.is(probe.probe, true);
  await refused(breaker.permit('yelp'));
  await breaker.onSuccess(probe);
  for (let i = 0; i < 2; i++) await breaker.onSuccess(await breaker.permit('yelp'));
  assert.is((await breaker.snapshot('yelp')).state, 'closed');
  assert.equal(await breaker.reset('yelp', 'again'), { from: 'closed', to: 'closed', generation: 3 }); // no transition
  assert.equal(transitions.map((t) => `${t.from}>${t.to}`), ['closed>open', 'open>half_open', 'half_open>closed']);
  assert.match(transitions[0]!.reason, 'provider incident');
  const ev = await events(ctx);
  assert.equal(ev.map((e) => e.dedup_key.replace(/^(breaker\.held_open:yelp:1):\d+$/, '$1')), ['breaker.opened:yelp:1', 'breaker.held_open:yelp:1', 'breaker.reset:yelp:2', 'breaker.closed:yelp:2']);
  assert.equal([ev[1]!.severity, ev[1]!.payload.by, ev[1]!.payload.reason], ['info', 'slack:U9', 'forced: still down'], 'an open breaker kept open: who, not a transition');
  assert.equal([ev[2]!.severity, ev[2]!.payload.by, ev[2]!.payload.from, ev[2]!.payload.to], ['info', 'slack:U1', 'open', 'half_open']);
  assert.match(String(ev[3]!.payload.reason), '3 probe call(s) succeeded');
  assert.is((await breaker.snapshot('stripe')).state, 'closed', 'snapshot of an unused provider');
});

test('forceClose (an admin override): open → closed at once with a new generation, breaker.force_closed naming who; stale results change nothing', async (ctx) => {
  const { breaker, transitions } = make(ctx);
  const stale = await breaker.permit('yelp');
  await trip(breaker);
  assert.equal(await breaker.forceClose('yelp', 'by slack:U2', 'slack:U2'), { from: 'open', generation: 2 });
  const s = await breaker.snapshot('yelp');
  assert.equal([s.state, s.consecutiveFailures, s.openedAt, s.retryAt], ['closed', 0, undefined, undefined]);
  assert.is((await breaker.permit('yelp')).probe, false, 'calls go through without a probe');
  await breaker.onFailure(stale, http(500)); // from before the trip: counts for nothing
  assert.is((await breaker.snapshot('yelp')).consecutiveFailures, 0);
  const ev = (await events(ctx)).filter((e) => e.type === 'breaker.force_closed');
  assert.equal(ev.map((e) => [e.dedup_key, e.severity, e.payload.by, e.payload.from, e.payload.to]), [['breaker.force_closed:yelp:2', 'warning', 'slack:U2', 'open', 'closed']]);
  assert.equal(transitions.map((t) => `${t.from}>${t.to}`), ['closed>open', 'open>closed']);
  assert.equal(await breaker.forceClose('yelp', 'again'), { from: 'closed', generation: 3 }); // no event
  assert.is((await events(ctx)).filter((e) => e.type === 'breaker.force_closed').length, 1);
});

test('many concurrent failures and probe successes: exactly one breaker.opened and one breaker.closed', async (ctx) => {
  const { clock, breaker } = make(ctx);
  const permits = await Promise.all(Array.from({ length: 20 }, () => breaker.permit('yelp')));
  await Promise.all(permits.map((p) => breaker.onFailure(p, http(500))));
  clock.advance(COOLDOWN);
  for (let i = 0; i < 3; i++) {
    const probes = (await Promise.allSettled(Array.from({ length: 8 }, () => breaker.permit('yelp')))).filter(
      (p): p is PromiseFulfilledResult<Permit> => p.status === 'fulfilled',
    );
    assert.is(probes.length, 1);
    await Promise.all([breaker.onSuccess(probes[0]!.value), breaker.onSuccess(probes[0]!.value)]);
  }
  assert.is((await breaker.snapshot('yelp')).state, 'closed');
  const ev = await events(ctx);
  assert.equal(ev.map((e) => e.type), ['breaker.opened', 'breaker.half_opened', 'breaker.closed']);
});

test('two worker threads racing permit() right after the cooldown: exactly one probe in total', async (ctx) => {
  const { clock, breaker } = make(ctx);
  await trip(breaker);
  const nowMs = clock.now().getTime() + COOLDOWN + 1;
  const data = { url: ctx.db.url, nowMs, calls: 25, cooldownMs: COOLDOWN };
  const results = await race<{ probes: number; refused: number }>('./breaker-race.ts', [data, data]);
  assert.is(results.reduce((n, r) => n + r.probes, 0), 1, JSON.stringify(results));
  assert.is(results.reduce((n, r) => n + r.refused, 0), 49);
  const s = await breaker.snapshot('yelp');
  assert.equal([s.state, s.generation], ['half_open', 1]);
  assert.equal((await events(ctx)).map((e) => e.type), ['breaker.opened', 'breaker.half_opened']);
});

test.run();
