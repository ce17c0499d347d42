import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AdaptiveLimit, processBound, type CallSample } from '../../domain/concurrency/adaptive.js';
import { waitingInOwnQueue } from '../../domain/concurrency/budget.js';
import { Gate } from '../../domain/concurrency/gate.js';
import { REALISTIC_LATENCY, drawLatencyMs, meanLatencyMs } from '../../domain/sandbox/latency.js';
import { rng } from '../../domain/sandbox/prng.js';

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
  round(2000);
  assert.ok(c.limit >= Math.floor(top * 0.75), `fast recovery to 3/4 of where the 429 came within one round trip (${c.limit})`);
  assert.ok(c.limit < top, 'but not straight back to where the provider refused');
  let rounds = 1;
  while (c.limit < top && rounds < 100) {
    round(2000);
    rounds++;
  }
  assert.is(c.limit, top, 'recovered');
  assert.ok(rounds >= 2 && rounds <= 4, `recovery takes a few round trips, not ten (${rounds})`);
});

test('backs off when latency grows, and when calls wait for the shared rate budget', () => {
  const { c, round } = rig({ rate: 20 });
  for (let i = 0; i < 100; i++) round(1000);
  const before = c.limit;
  for (let i = 0; i < 2; i++) {
    round(4000);
    assert.ok(c.limit < before, `round ${i + 1} of the growth: ${c.limit} < ${before}`);
  }
  assert.ok(c.backoffs.latency >= 1, 'latency growth noticed');
  for (let i = 0; i < 8; i++) round(4000);
  assert.ok(c.limit > before, `once 4 s is the norm, the rate admits more in flight (Little's law): ${c.limit} > ${before}`);
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

test("the gate tells its controller a call's own wait for budget apart from the provider's latency", async () => {
  const samples: CallSample[] = [];
  const control = new AdaptiveLimit({ rate: Infinity, burst: 0, maxLimit: 5 });
  const finish = control.finish.bind(control);
  control.finish = (id, s) => (samples.push(s), finish(id, s));
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
  // 120 ms in our own limiter (the gateway wraps its wait for budget so), then 60 ms at the provider
  await new Gate('pagespeed', control).run(async () => {
    await waitingInOwnQueue(() => sleep(120));
    await sleep(60);
  });
  const [s] = samples;
  assert.ok(s!.waitMs! >= 110 && s!.waitMs! < 170, `wait ${s!.waitMs}`);
  assert.ok(s!.latencyMs - s!.waitMs! >= 50 && s!.latencyMs - s!.waitMs! < 110, `provider ${s!.latencyMs - s!.waitMs!}`);
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

/**
 * A discrete-event run of `calls` calls through one controller against a provider that admits `rate` calls/s
 * with a GCRA bucket of `burst` (a call without budget sleeps until its unit is due, telling the controller
 * first, as the shared limiter does) and answers after `latency(i)` ms. Every call is ready at t = 0 (a backlog).
 */
function simulate(opts: { calls: number; rate: number; burst: number; maxLimit: number; latency: (i: number) => number }) {
  let t = 0;
  let takenAt = -Infinity;
  const c = new AdaptiveLimit({ rate: opts.rate, burst: opts.burst, maxLimit: opts.maxLimit, now: () => t, budgetTakenAt: () => takenAt });
  const T = 1000 / opts.rate;
  let tat = 0;
  let next = 0;
  let maxWait = 0;
  const grants: number[] = [];
  const flying: { id: number; startedAt: number; waitMs: number; doneAt: number }[] = [];
  const trace: { t: number; inFlight: number; limit: number }[] = [];
  const admit = () => {
    while (next < opts.calls && c.inFlight < c.limit) {
      const id = c.start();
      const grantAt = Math.max(t, tat + T - opts.burst * T);
      tat = Math.max(tat, grantAt) + T;
      if (grantAt - t >= 20) takenAt = t; // the limiter's signal, before the call sleeps (signals.ts)
      maxWait = Math.max(maxWait, grantAt - t);
      grants.push(grantAt);
      flying.push({ id, startedAt: t, waitMs: grantAt - t, doneAt: grantAt + opts.latency(next++) });
    }
  };
  admit();
  while (flying.length > 0) {
    flying.sort((a, b) => a.doneAt - b.doneAt);
    const f = flying.shift()!;
    trace.push({ t, inFlight: c.inFlight, limit: c.limit });
    t = f.doneAt;
    c.finish(f.id, { latencyMs: t - f.startedAt, waitMs: f.waitMs, outcome: 'ok' });
    admit();
  }
  /** Mean calls in flight over [fromMs, toMs] (time-weighted). */
  const meanInFlight = (fromMs: number, toMs: number) => {
    let area = 0;
    for (let i = 0; i < trace.length; i++) {
      const a = Math.max(fromMs, trace[i]!.t);
      const b = Math.min(toMs, trace[i + 1]?.t ?? t);
      if (b > a) area += trace[i]!.inFlight * (b - a);
    }
    return area / (toMs - fromMs);
  };
  return { makespanMs: t, maxWait, grants, c, meanInFlight };
}

test('PageSpeed-like (4 calls/s, burst 400, 4–60 s answers): uses the burst at once, then holds rate × latency in flight, near the bound', () => {
  const profile = REALISTIC_LATENCY.pagespeed;
  const r = rng(11, 'adaptive-sim');
  const latencies = Array.from({ length: 836 }, () => drawLatencyMs(profile, r.next(), r.next()));
  const sim = simulate({ calls: 836, rate: 4, burst: 400, maxLimit: 200, latency: (i) => latencies[i]! });
  const meanS = meanLatencyMs(profile) / 1000;
  const boundS = (836 - 400) / 4 + meanS; // bench/pipeline-bounds.ts: the burst at t = 0, the rest at the rate, one latency
  const makespanS = sim.makespanMs / 1000;
  assert.ok(makespanS <= 1.15 * boundS, `makespan ${makespanS.toFixed(1)} s, bound ${boundS.toFixed(1)} s`);
  assert.is(sim.grants.filter((g) => g < 1000).length, 200, 'the process bound (200) started at once: the burst needs no probing');
  assert.ok(sim.maxWait < 30_000, `no call waits for budget past GATEWAY_MAX_WAIT_MS (longest ${(sim.maxWait / 1000).toFixed(1)} s)`);
  // steady state: the bucket is empty from ~30 s and the first cohort's tail back by ~60 s; Little's law wants
  // 4/s × ~17 s ≈ 68 calls in flight, the ceiling keeps 1.2 × that + 1 (the margin for latency's spread)
  const steady = sim.meanInFlight(60_000, 100_000);
  assert.ok(steady >= 0.9 * 4 * meanS, `mean in flight ${steady.toFixed(1)} in the steady state (rate × latency ${(4 * meanS).toFixed(1)})`);
  assert.ok(steady <= 1.3 * 4 * meanS + 1, `and not far beyond it: the rest would only queue in our limiter (${steady.toFixed(1)})`);
  assert.equal(sim.c.backoffs, { rate_limited: 0, waiting: 0, latency: 0 }, 'the burst answering fastest-first is not latency growth, nor is the margin\'s own wait a budget taken');
  for (let i = 0; i + 1 < sim.grants.length; i++) {
    const window = sim.grants.filter((g) => g >= sim.grants[i]! && g < sim.grants[i]! + 100_000).length;
    if (window > 800) assert.unreachable(`${window} grants in 100 s from ${sim.grants[i]}`);
  }
});

test('the process bound: a quarter of the heap per call size, and 20 calls per pooled connection', () => {
  assert.is(processBound(4e9, 2e6, 10), 200);
  assert.is(processBound(4e8, 2e6, 10), 50);
});

test.run();
