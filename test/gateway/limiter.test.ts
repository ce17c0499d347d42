import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { ManualClock } from '../../domain/clock.js';
import type { ProviderId } from '../../domain/config.js';
import { QuotaExhaustedError, RateLimitedError } from '../../domain/errors.js';
import type { ProviderLimits } from '../../domain/gateway/config.js';
import { RateLimiter, type LimiterDeps } from '../../domain/gateway/limiter.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { race } from './threads/run.js';

type Ctx = { db: Database };
type RaceResult = { grants: [number, number][]; refused: Record<string, number> };
const test = suite<Ctx>(`rate limiter (${DB_KIND})`);

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
function limitsFor(over: Partial<Record<ProviderId, ProviderLimits>>): Record<ProviderId, ProviderLimits> {
  return { yelp: none, pagespeed: none, openai: none, sendgrid: none, stripe: none, ...over };
}

/** A limiter on a ManualClock whose sleep advances the clock (and is recorded); no jitter. */
function make(ctx: Ctx, limits: Partial<Record<ProviderId, ProviderLimits>>, extra: Partial<LimiterDeps> = {}) {
  const clock = new ManualClock('2026-03-10T12:00:00Z');
  const sleeps: number[] = [];
  const limiter = new RateLimiter({
    orm: ctx.db.orm,
    clock,
    limits: limitsFor(limits),
    maxWaitMs: 0,
    jitterMs: 0,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock.advance(ms);
    },
    ...extra,
  });
  return { clock, sleeps, limiter };
}

async function refusal<E>(p: Promise<unknown>, type: new (...a: never[]) => E): Promise<E> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, type);
    return err as E;
  }
  return assert.unreachable(`expected ${type.name}`) as never;
}

const fivePerSecond: ProviderLimits = { daily: undefined, rates: [{ name: 'per_second', limit: 5, periodMs: 1000, unit: 'request' }] };

test('GCRA: exactly `limit` at once, then RateLimitedError with the right availableAt; budget refills at limit/period', async (ctx) => {
  const { clock, limiter } = make(ctx, { yelp: fivePerSecond });
  const t0 = clock.now().getTime();
  for (let i = 0; i < 5; i++) await limiter.acquire('yelp');
  const err = await refusal(limiter.acquire('yelp'), RateLimitedError);
  assert.is(err.availableAt.getTime(), t0 + 200, 'one unit returns after T = 1000/5 ms');
  assert.is(err.provider, 'yelp');
  clock.advance(199);
  await refusal(limiter.acquire('yelp'), RateLimitedError);
  clock.advance(1);
  await limiter.acquire('yelp');
  await refusal(limiter.acquire('yelp'), RateLimitedError);
  clock.advance(1000);
  for (let i = 0; i < 5; i++) await limiter.acquire('yelp');
  await refusal(limiter.acquire('yelp'), RateLimitedError);
});

test('waits when the wait is within the bound (deps or per call), throws beyond it without taking budget', async (ctx) => {
  const { clock, sleeps, limiter } = make(ctx, { yelp: fivePerSecond }, { maxWaitMs: 250 });
  const t0 = clock.now().getTime();
  for (let i = 0; i < 5; i++) await limiter.acquire('yelp');
  await limiter.acquire('yelp');
  assert.equal(sleeps, [200]);
  assert.is(clock.now().getTime(), t0 + 200);
  const err = await refusal(limiter.acquire('yelp', { maxWaitMs: 100 }), RateLimitedError);
  assert.is(err.availableAt.getTime(), t0 + 400);
  await limiter.acquire('yelp', { maxWaitMs: 1000 });
  assert.equal(sleeps, [200, 200]);
  // many waiters in one process: each waits its turn, none exceeds the bound
  const many = make(ctx, { stripe: fivePerSecond }, { maxWaitMs: 10_000 });
  for (let i = 0; i < 12; i++) await many.limiter.acquire('stripe');
  assert.is(many.clock.now().getTime() - t0, 7 * 200, '5 at once, then one per 200 ms');
});

test('burst capacity per call site: burst 1 spaces calls T apart (never more than limit in any window)', async (ctx) => {
  const { clock, limiter } = make(ctx, { yelp: fivePerSecond }, { maxWaitMs: 10_000 });
  const times: number[] = [];
  for (let i = 0; i < 11; i++) {
    await limiter.acquire('yelp', { burst: 1 });
    times.push(clock.now().getTime());
  }
  for (let i = 1; i < times.length; i++) assert.is(times[i]! - times[i - 1]!, 200);
  for (const t of times) assert.ok(times.filter((u) => u >= t && u < t + 1000).length <= 5, 'at most 5 in any 1 s window');
  const strict = make(ctx, { stripe: fivePerSecond }, { burst: 2 });
  await strict.limiter.acquire('stripe');
  await strict.limiter.acquire('stripe');
  await refusal(strict.limiter.acquire('stripe'), RateLimitedError);
  assert.is((await strict.limiter.status('stripe')).rules[0]!.burst, 2);
});

test('token rules: all rules or none; tokens estimated and adjusted with addTokens', async (ctx) => {
  const openai: ProviderLimits = {
    daily: undefined,
    rates: [
      { name: 'requests_per_minute', limit: 3, periodMs: 60_000, unit: 'request' },
      { name: 'tokens_per_minute', limit: 1000, periodMs: 60_000, unit: 'token' },
    ],
  };
  const { clock, limiter } = make(ctx, { openai });
  const t0 = clock.now().getTime();
  await limiter.acquire('openai', { tokens: 600 });
  const err = await refusal(limiter.acquire('openai', { tokens: 600 }), RateLimitedError);
  assert.is(err.availableAt.getTime(), t0 + 12_000, '200 tokens short at 60 ms per token');
  let s = await limiter.status('openai');
  assert.is(s.rules.find((r) => r.name === 'requests_per_minute')!.available, 2, 'the refused call took no request budget');
  assert.is(s.rules.find((r) => r.name === 'tokens_per_minute')!.available, 400);
  await limiter.addTokens('openai', -300);
  await limiter.acquire('openai', { tokens: 600 });
  await limiter.acquire('openai'); // no estimate: token rule skipped
  await refusal(limiter.acquire('openai'), RateLimitedError);
  s = await limiter.status('openai');
  assert.is(s.rules.find((r) => r.name === 'requests_per_minute')!.available, 0);
  assert.is(s.rules.find((r) => r.name === 'tokens_per_minute')!.available, 100);
});

test('daily quota: QuotaExhaustedError at once with next-midnight-UTC resetAt; resets the next UTC day', async (ctx) => {
  const clock = new ManualClock('2026-03-10T23:59:30Z');
  const limiter = new RateLimiter({
    orm: ctx.db.orm,
    clock,
    limits: limitsFor({ sendgrid: { daily: 3, rates: [] }, yelp: { daily: 2, rates: fivePerSecond.rates } }),
    maxWaitMs: 60_000,
    jitterMs: 0,
    sleep: async () => assert.unreachable('must not wait for an exhausted quota'),
  });
  for (let i = 0; i < 3; i++) await limiter.acquire('sendgrid');
  const err = await refusal(limiter.acquire('sendgrid'), QuotaExhaustedError);
  assert.is(err.resetAt.toISOString(), '2026-03-11T00:00:00.000Z');
  await limiter.acquire('yelp');
  await limiter.acquire('yelp');
  await refusal(limiter.acquire('yelp'), QuotaExhaustedError);
  let s = await limiter.status('sendgrid');
  assert.equal(s.daily, { limit: 3, used: 3, remaining: 0, exhausted: true, resetAt: new Date('2026-03-11T00:00:00Z') });
  clock.advance(30_000);
  await limiter.acquire('sendgrid');
  s = await limiter.status('sendgrid');
  assert.equal([s.daily.used, s.daily.remaining, s.daily.resetAt.toISOString()], [1, 2, '2026-03-12T00:00:00.000Z']);
  const zero = new RateLimiter({ orm: ctx.db.orm, clock, limits: limitsFor({ pagespeed: { daily: 0, rates: [] } }), maxWaitMs: 0 });
  await refusal(zero.acquire('pagespeed'), QuotaExhaustedError);
});

test('markExhausted refuses the rest of the UTC day, also with quota left and for providers without a daily limit', async (ctx) => {
  const { clock, limiter } = make(ctx, { yelp: { daily: 100, rates: fivePerSecond.rates }, stripe: fivePerSecond });
  await limiter.acquire('yelp');
  await limiter.markExhausted('yelp');
  await limiter.markExhausted('stripe');
  const err = await refusal(limiter.acquire('yelp', { maxWaitMs: 5000 }), QuotaExhaustedError);
  assert.is(err.resetAt.toISOString(), '2026-03-11T00:00:00.000Z');
  await refusal(limiter.acquire('stripe'), QuotaExhaustedError);
  const s = await limiter.status('yelp');
  assert.equal([s.daily.used, s.daily.remaining, s.daily.exhausted], [1, 0, true]);
  assert.is(s.rules[0]!.available, 4, 'refusals took no rate budget');
  clock.advance(12 * 3600_000);
  await limiter.acquire('yelp');
  await limiter.acquire('stripe');
});

test('blockUntil (Retry-After) is honoured, waited out within the bound, and never moved earlier', async (ctx) => {
  const { clock, sleeps, limiter } = make(ctx, { yelp: fivePerSecond, sendgrid: { daily: 10, rates: [] } });
  const t0 = clock.now().getTime();
  await limiter.blockUntil('yelp', new Date(t0 + 5000));
  await limiter.blockUntil('yelp', new Date(t0 + 1000));
  await limiter.blockUntil('sendgrid', new Date(t0 + 3000));
  const err = await refusal(limiter.acquire('yelp', { maxWaitMs: 1000 }), RateLimitedError);
  assert.is(err.availableAt.getTime(), t0 + 5000, 'the later block stands');
  assert.match(err.message, 'Retry-After');
  await refusal(limiter.acquire('sendgrid'), RateLimitedError);
  assert.is((await limiter.status('yelp')).blockedUntil?.getTime(), t0 + 5000);
  await limiter.acquire('yelp', { maxWaitMs: 10_000 });
  assert.equal(sleeps, [5000]);
  await limiter.acquire('sendgrid');
  assert.is((await limiter.status('yelp')).blockedUntil, undefined);
  assert.is((await limiter.status('sendgrid')).daily.used, 1, 'refused calls took no daily quota');
});

test('status(): limits, used today, remaining, reset time, per-rule availability', async (ctx) => {
  const { clock, limiter } = make(ctx, { yelp: { daily: 10, rates: fivePerSecond.rates } });
  const now = clock.now();
  let s = await limiter.status('yelp');
  assert.equal(s.rules, [{ name: 'per_second', unit: 'request', limit: 5, periodMs: 1000, burst: 5, available: 5, nextAvailableAt: now }]);
  assert.equal(s.daily, { limit: 10, used: 0, remaining: 10, exhausted: false, resetAt: new Date('2026-03-11T00:00:00Z') });
  assert.is(s.blockedUntil, undefined);
  await limiter.acquire('yelp');
  await limiter.acquire('yelp');
  s = await limiter.status('yelp');
  assert.equal([s.daily.used, s.daily.remaining, s.rules[0]!.available], [2, 8, 3]);
  for (let i = 0; i < 3; i++) await limiter.acquire('yelp');
  s = await limiter.status('yelp');
  assert.is(s.rules[0]!.available, 0);
  assert.is(s.rules[0]!.nextAvailableAt.getTime(), now.getTime() + 200);
  const open = await limiter.status('openai');
  assert.equal([open.daily.limit, open.daily.remaining, open.rules.length], [undefined, undefined, 0]);
});

test('two worker threads share one rate budget (real clock): grants stay within burst + elapsed × rate', async (ctx) => {
  // a second, looser rule makes every grant lock two rows (all rules or none, in one statement)
  const rates = [
    { name: 'per_second', limit: 20, periodMs: 1000, unit: 'request' as const },
    { name: 'per_minute', limit: 1000, periodMs: 60_000, unit: 'request' as const },
  ];
  const limits = limitsFor({ yelp: { daily: undefined, rates } });
  const data = { url: ctx.db.url, limits, durationMs: 2000, attempts: 10_000, concurrency: 3, maxWaitMs: 150 };
  const results = await race<RaceResult>('./limiter-race.ts', [data, data]);
  const grants = results.flatMap((r) => r.grants);
  // every grant happened inside [first call's start, last grant's end]: GCRA allows burst + span / T + 1 there
  const span = Math.max(...grants.map((g) => g[1])) - Math.min(...grants.map((g) => g[0]));
  const allowed = 20 + Math.floor(span / 50) + 1;
  assert.ok(grants.length <= allowed, `granted ${grants.length} in ${span} ms; allowed ${allowed}`);
  assert.ok(grants.length >= 20 + span / 100, `granted only ${grants.length} in ${span} ms: the budget should be used`);
  for (const r of results) assert.ok(r.grants.length > 0, 'each thread got some budget');
  const refused = results.reduce((n, r) => n + (r.refused.rate_limited ?? 0), 0);
  assert.ok(refused > 0, 'callers beyond the budget were refused');
  for (const r of results) assert.equal(Object.keys(r.refused).filter((k) => k !== 'rate_limited'), []);
});

test('two worker threads share one daily quota exactly (30/day, 2 × 25 attempts → exactly 30 granted)', async (ctx) => {
  const limits = limitsFor({ yelp: { daily: 30, rates: [] } });
  const data = { url: ctx.db.url, limits, durationMs: 30_000, attempts: 25, concurrency: 5, maxWaitMs: 0 };
  const results = await race<RaceResult>('./limiter-race.ts', [data, data]);
  const granted = results.reduce((n, r) => n + r.grants.length, 0);
  const exhausted = results.reduce((n, r) => n + (r.refused.quota_exhausted ?? 0), 0);
  assert.is(granted, 30);
  assert.is(exhausted, 20);
  const rows = await ctx.db.orm.em.getConnection().execute<{ used: number }[]>(`select used from provider_quota_usage where provider = 'yelp'`);
  assert.equal(rows.map((r) => r.used), [30]);
});

test.run();
