import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AdaptiveLimit, processBound } from '../../domain/concurrency/adaptive.js';
import { Gate } from '../../domain/concurrency/gate.js';

const test = suite('adaptive concurrency');

/** A controller on a manual clock, and a helper running `n` calls of `latencyMs` each at its current limit. */
function rig(opts: { rate: number; burst?: number; maxLimit?: number }) {
  let t = 0;
  const c = new AdaptiveLimit({ rate: opts.rate, burst: opts.burst ?? 0, maxLimit: opts.maxLimit ?? 10_000, now: () => t });
  const seen: number[] = [];
  /** One round trip: `limit` calls start together and finish `latencyMs` later with `outcome`. */
  const round = (latencyMs: number, outcome: 'ok' | 'rate_limited' = 'ok', waitMs = 0) => {
    const ids = Array.from({ length: c.limit }, () => c.start());
    seen.push(c.inFlight);
    t += latencyMs;
    for (const id of ids) c.finish(id, { latencyMs, outcome, waitMs });
  };
  return { c, round, seen, advance: (ms: number) => (t += ms) };
}

test('never exceeds the provider ceiling (burst + rate × latency) nor the process bound', () => {
  const { c, round, seen } = rig({ rate: 4, burst: 0 });
  for (let i = 0; i < 200; i++) round(1000);
  assert.is(c.ceiling(), 5, '4 calls/s × 1 s × 1.2 + 1');
  assert.ok(Math.max(...seen) <= 5, `peak in flight ${Math.max(...seen)}`);
  assert.is(c.limit, 5, 'and it gets there without tuning');
  const capped = rig({ rate: 4, burst: 400, maxLimit: 30 });
  for (let i = 0; i < 50; i++) capped.round(15_000);
  assert.ok(Math.max(...capped.seen) <= 30, 'the process bound (memory, pool) caps even a large burst');
  assert.is(capped.c.limit, 30);
  const unlimited = rig({ rate: Infinity, maxLimit: 10 });
  for (let i = 0; i < 20; i++) unlimited.round(200);
  assert.is(unlimited.c.limit, 10, 'no rate rule: the process bound (SendGrid: 10 connections)');
});

test('slow start: the limit follows the latency before the first answer (oldest call in flight)', () => {
  const { c, advance } = rig({ rate: 4 });
  const first = c.start();
  advance(10_000);
  assert.is(c.ceiling(), 49, 'a call 10 s old: 4/s × 10 s × 1.2 + 1');
  c.finish(first, { latencyMs: 10_000, outcome: 'ok' });
});

test('backs off on a 429 (halves, once per round trip) and recovers to the ceiling after', () => {
  const { c, round } = rig({ rate: 10 });
  for (let i = 0; i < 100; i++) round(2000);
  const top = c.limit;
  assert.is(top, 25);
  round(2000, 'rate_limited');
  assert.is(c.limit, Math.floor(top * 0.5), 'halved once, not once per refused call');
  assert.is(c.backoffs.rate_limited, 1);
  let rounds = 0;
  while (c.limit < top && rounds < 100) {
    round(2000);
    rounds++;
  }
  assert.is(c.limit, top, 'recovered');
  assert.ok(rounds > 2, `recovery is gradual (${rounds} round trips)`);
});

test('backs off when latency grows, and when calls wait for the shared rate budget', () => {
  const { c, round } = rig({ rate: 20 });
  for (let i = 0; i < 100; i++) round(1000);
  const before = c.limit;
  for (let i = 0; i < 3; i++) round(4000);
  assert.ok(c.backoffs.latency >= 1, 'latency growth noticed');
  assert.ok(c.limit < before, `${c.limit} < ${before}`);
  const shared = rig({ rate: 20 });
  for (let i = 0; i < 100; i++) shared.round(1000);
  const top = shared.c.limit;
  shared.round(1500, 'ok', 500);
  assert.is(shared.c.backoffs.waiting, 1, 'a third of the call spent waiting for budget another replica took');
  assert.ok(shared.c.limit < top);
});

test('a gate never lets more calls in flight than its limit', async () => {
  let t = 0;
  const gate = new Gate('pagespeed', new AdaptiveLimit({ rate: 2, burst: 0, maxLimit: 100, now: () => t }));
  let inFlight = 0;
  let peak = 0;
  const call = async () => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise((r) => setTimeout(r, 2));
    t += 1000;
    inFlight--;
  };
  await Promise.all(Array.from({ length: 60 }, () => gate.run(call)));
  assert.ok(peak <= gate.control.ceiling() + 1, `peak ${peak}, ceiling ${gate.control.ceiling()}`);
  assert.is(gate.peak, peak);
});

test('starts at the published burst, drops the burst once the shared budget is found empty, counts it again after a refill', () => {
  let t = 0;
  let takenAt = -Infinity;
  const c = new AdaptiveLimit({ rate: 4, burst: 400, maxLimit: 10_000, now: () => t, budgetTakenAt: () => takenAt });
  assert.is(c.limit, 401, 'the provider admits its burst at once: no slow start needed');
  const id = c.start();
  t += 10_000;
  c.finish(id, { latencyMs: 10_000, outcome: 'ok' });
  assert.is(c.ceiling(), 449, 'burst + 4/s × 10 s × 1.2 + 1');
  takenAt = t; // a call had to wait for budget: the bucket is empty
  assert.is(c.ceiling(), 49, 'only what the rate admits during one call: never more than the provider allows');
  assert.ok(c.limit <= 49);
  t += 99_000;
  assert.is(c.ceiling(), 49, 'still within one refill time (400 / 4 per s = 100 s)');
  t += 1_000;
  assert.is(c.ceiling(), 449, 'a full bucket again');
});

test('the process bound: a quarter of the heap per call size, and 20 calls per pooled connection', () => {
  assert.is(processBound(4e9, 2e6, 10), 200);
  assert.is(processBound(4e8, 2e6, 10), 50);
});

test.run();
