import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { ManualClock } from '../../domain/clock.js';
import type { ProviderId } from '../../domain/config.js';
import { CircuitOpenError, QuotaExhaustedError, RateLimitedError } from '../../domain/errors.js';
import { CircuitBreaker } from '../../domain/gateway/breaker.js';
import { ProviderStateListener } from '../../domain/gateway/breaker-cache.js';
import type { GatewayConfig, ProviderLimits } from '../../domain/gateway/config.js';
import { CostLedger } from '../../domain/gateway/ledger.js';
import { RateLimiter } from '../../domain/gateway/limiter.js';
import { ReservationPool } from '../../domain/gateway/reservations.js';
import { loadConfig } from '../../domain/config.js';
import { rateQueuedAt } from '../../domain/concurrency/signals.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';

type Ctx = { db: Database };
const test = suite<Ctx>(`gateway bookkeeping off the hot path (${DB_KIND})`);

test.before(async (ctx) => {
  ctx.db = await freshDatabase();
});
test.after(async (ctx) => {
  await ctx.db.close();
});
test.before.each(async (ctx) => {
  await truncateAll(ctx.db);
});

const none: ProviderLimits = { daily: undefined, rates: [] };
const limits = (over: Partial<Record<ProviderId, ProviderLimits>>) => ({ yelp: none, pagespeed: none, openai: none, sendgrid: none, stripe: none, ...over });
const sql = <T>(ctx: Ctx, q: string, p: unknown[] = []) => ctx.db.orm.em.getConnection().execute<T[]>(q, p);
const gatewayConfig = (): GatewayConfig => loadConfig({ NODE_ENV: 'test' }).gateway;

async function refusal<E>(p: Promise<unknown>, type: new (...a: never[]) => E): Promise<E> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, type);
    return err as E;
  }
  return assert.unreachable(`expected ${type.name}`) as never;
}

test('a batch reservation takes at most the free burst and the daily quota; the limit is never exceeded', async (ctx) => {
  const clock = new ManualClock('2026-03-10T12:00:00Z');
  const five: ProviderLimits = { daily: 7, rates: [{ name: 'per_second', limit: 5, periodMs: 1000, unit: 'request' }] };
  const limiter = new RateLimiter({ orm: ctx.db.orm, clock, limits: limits({ yelp: five }), maxWaitMs: 0, jitterMs: 0 });
  assert.is(await limiter.acquire('yelp', { units: 16 }), 5, 'capped by the bucket (5 per second)');
  await refusal(limiter.acquire('yelp', { units: 16 }), RateLimitedError);
  clock.advance(400);
  assert.is(await limiter.acquire('yelp', { units: 16 }), 2, 'two units free again after 400 ms, and 2 of the daily 7 left');
  clock.advance(1000);
  await refusal(limiter.acquire('yelp', { units: 4 }), QuotaExhaustedError);
  await limiter.release('yelp', 3);
  clock.advance(1000);
  assert.is(await limiter.acquire('yelp', { units: 3 }), 3, 'released quota units can be taken again');
  assert.is((await limiter.status('yelp')).daily.used, 7);
});

test('the reservation pool: a busy caller reserves several units per statement; units never outlive their TTL', async (ctx) => {
  const clock = new ManualClock('2026-03-10T12:00:00Z');
  const ten: ProviderLimits = { daily: 1000, rates: [{ name: 'per_second', limit: 10, periodMs: 1000, unit: 'request' }] };
  const limiter = new RateLimiter({ orm: ctx.db.orm, clock, limits: limits({ yelp: ten }), maxWaitMs: 0, jitterMs: 0 });
  let statements = 0;
  const counted = new Proxy(limiter, {
    get: (t, k) => (k === 'acquire' ? (...a: Parameters<RateLimiter['acquire']>) => (statements++, t.acquire(...a)) : Reflect.get(t, k)),
  });
  const pool = new ReservationPool(counted, { maxBatch: 16, ttlMs: 60_000 });
  for (let i = 0; i < 10; i++) await pool.acquire('yelp');
  await refusal(pool.acquire('yelp'), RateLimitedError);
  assert.ok(statements < 10, `10 calls took ${statements} limiter statements`);
  assert.is((await limiter.status('yelp')).daily.used, 10, 'every unit granted was used: none wasted, none extra');
  const short = new ReservationPool(limiter, { maxBatch: 16, ttlMs: 1 });
  clock.advance(1000);
  for (let i = 0; i < 5; i++) await short.acquire('yelp');
  await short.close();
  let used = (await limiter.status('yelp')).daily.used;
  for (let i = 0; i < 100 && used !== 15; i++) {
    await new Promise((r) => setTimeout(r, 30)); // an expired unit is given back in the background
    used = (await limiter.status('yelp')).daily.used;
  }
  assert.is(used, 15, 'expired and unspent units give their daily quota back: 10 + 5 calls');
});

test('the reservation pool: 120 calls starting together on a 400-unit bucket take 120 units, and none waits or signals an empty budget', async (ctx) => {
  const clock = new ManualClock('2026-03-10T12:00:00Z');
  const ps: ProviderLimits = { daily: 25_000, rates: [{ name: 'per_100_seconds', limit: 400, periodMs: 100_000, unit: 'request' }] };
  // maxWaitMs 0: a call that finds no budget is refused at once (it would wait for ever on the manual clock)
  const limiter = new RateLimiter({ orm: ctx.db.orm, clock, limits: limits({ pagespeed: ps }), maxWaitMs: 0, jitterMs: 0 });
  const waits: number[] = [];
  const pool = new ReservationPool(limiter, { maxBatch: 16, ttlMs: 60_000 });
  const queuedBefore = rateQueuedAt('pagespeed');
  await Promise.all(Array.from({ length: 120 }, () => pool.acquire('pagespeed', { onWait: (ms) => waits.push(ms) })));
  assert.equal(waits, [], 'before: each of the 120 asked for a batch of up to 16 and the bucket looked empty');
  assert.is(rateQueuedAt('pagespeed'), queuedBefore, 'the gates were told nothing');
  await pool.close();
  assert.is((await limiter.status('pagespeed')).rules[0]!.available, 280, 'unspent reserved units given back: 400 - 120');
});

test('ledger: rows are written in batches behind the call, bounded, and all of them on close', async (ctx) => {
  const clock = new ManualClock('2026-03-10T12:00:00Z');
  const ledger = new CostLedger({ orm: ctx.db.orm, clock, config: gatewayConfig(), batching: { batch: 10, flushMs: 60_000, maxBuffered: 25 } });
  const row = { provider: 'yelp' as const, operation: 'search', outcome: 'ok', attempts: 1, latencyMs: 3, costUsd: 0.5, cacheHit: false };
  for (let i = 0; i < 9; i++) await ledger.record(row);
  assert.is((await sql<{ n: number }>(ctx, 'select count(*)::int as n from api_calls'))[0]!.n, 0, 'nothing written yet');
  assert.is(await ledger.spend('yelp', new Date(0)), 4.5, 'spend counts the buffered rows');
  for (let i = 0; i < 30; i++) await ledger.record(row);
  assert.ok(ledger.pending < 25, 'the buffer stays within its bound');
  await ledger.close();
  assert.is(ledger.pending, 0);
  assert.is((await sql<{ n: number }>(ctx, 'select count(*)::int as n from api_calls'))[0]!.n, 39, 'every row written');
});

// The embedded PGlite (one shared session) delivers no notifications across connections: there the caches stay
// off (breaker-cache.ts) and this test is skipped.
(DB_KIND === 'postgres' ? test : test.skip)('breaker cache: a change by another writer reaches a cached breaker through NOTIFY, long before its TTL', async (ctx) => {
  const clock = new ManualClock(new Date());
  const listener = new ProviderStateListener(ctx.db.url);
  await listener.start();
  for (let i = 0; i < 250 && !listener.listening; i++) await new Promise((r) => setTimeout(r, 20));
  try {
    assert.ok(listener.listening, 'the probe notification from another connection arrived');
    const breaker = new CircuitBreaker({ orm: ctx.db.orm, clock, config: { failureThreshold: 5, cooldownMs: 60_000, halfOpenSuccesses: 3 }, cacheMs: 600_000 });
    const p = await breaker.permit('stripe');
    assert.is(p.probe, false);
    await breaker.onSuccess(p);
    await breaker.permit('stripe'); // cached now
    // another replica (plain SQL on its own connection) opens the breaker
    const other = await freshConnection(ctx);
    await other.query(`update provider_state set breaker_state = 'open', generation = generation + 1, opened_at = $1 where provider = 'stripe'`, [clock.now()]);
    await other.end();
    let refused = false;
    for (let i = 0; i < 500 && !refused; i++) {
      try {
        await breaker.permit('stripe');
        await new Promise((r) => setTimeout(r, 20));
      } catch (err) {
        assert.instance(err, CircuitOpenError);
        refused = true;
      }
    }
    assert.ok(refused, 'the cached closed state was dropped by the notification (TTL is 10 minutes)');
  } finally {
    await listener.close();
  }
});

async function freshConnection(ctx: Ctx) {
  const pg = (await import('pg')).default;
  const c = new pg.Client({ connectionString: ctx.db.url });
  await c.connect();
  return c;
}

test.run();
