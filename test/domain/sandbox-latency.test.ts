import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../../domain/config.js';
import { createOpenAIClient } from '../../domain/providers/openai/index.js';
import { createPageSpeedClient } from '../../domain/providers/pagespeed/index.js';
import { SANDBOX_KEYS, sandboxBaseUrls } from '../../domain/providers/urls.js';
import { LatencyModel, REALISTIC_LATENCY, drawLatencyMs, meanLatencyMs, startSandbox } from '../../domain/sandbox/index.js';
import { mulberry32 } from '../../domain/sandbox/prng.js';

const test = suite('sandbox latency');

/** `n` draws of a profile from a fixed uniform stream, sorted ascending. */
function draws(provider: keyof typeof REALISTIC_LATENCY, n: number, tokens = 0): number[] {
  const u = mulberry32(1234);
  return Array.from({ length: n }, () => drawLatencyMs(REALISTIC_LATENCY[provider], u(), u(), tokens)).sort((a, b) => a - b);
}
const pct = (xs: number[], p: number) => xs[Math.floor((xs.length - 1) * p)]!;

test('default configuration: zero latency, time scale 1; realistic parses with a scale', () => {
  const c = loadConfig({ NODE_ENV: 'test' });
  assert.is(c.sandbox.latency, 'zero');
  assert.is(c.sandbox.timeScale, 1);
  const r = loadConfig({ NODE_ENV: 'test', SANDBOX_LATENCY: 'realistic', SANDBOX_TIME_SCALE: '0.1' });
  assert.is(r.sandbox.latency, 'realistic');
  assert.is(r.sandbox.timeScale, 0.1);
  assert.throws(() => loadConfig({ NODE_ENV: 'test', SANDBOX_LATENCY: 'slow' }), /SANDBOX_LATENCY/);
  assert.throws(() => loadConfig({ NODE_ENV: 'test', SANDBOX_TIME_SCALE: '0' }), /SANDBOX_TIME_SCALE/);
});

test('zero mode never delays; realistic mode does not delay error answers or the sandbox routes', () => {
  const zero = new LatencyModel('zero', 1, 42);
  for (const p of ['yelp', 'pagespeed', 'openai', 'sendgrid', 'stripe'] as const) assert.is(zero.delayMs(p, 200, {}), 0);
  const real = new LatencyModel('realistic', 1, 42);
  assert.is(real.delayMs('pagespeed', 429, {}), 0);
  assert.is(real.delayMs('sandbox', 200, {}), 0);
  assert.ok(real.delayMs('pagespeed', 200, {}) >= REALISTIC_LATENCY.pagespeed.minMs);
});

test('PageSpeed: seconds to tens of seconds (median ~15 s, p95 ~30 s); Yelp and SendGrid: hundreds of ms', () => {
  const ps = draws('pagespeed', 4000);
  assert.ok(pct(ps, 0.5) > 13_000 && pct(ps, 0.5) < 17_000, `median ${pct(ps, 0.5)}`);
  assert.ok(pct(ps, 0.95) > 26_000 && pct(ps, 0.95) < 34_000, `p95 ${pct(ps, 0.95)}`);
  assert.ok(ps[0]! >= 4_000 && ps.at(-1)! <= 60_000);
  for (const p of ['yelp', 'sendgrid'] as const) {
    const xs = draws(p, 4000);
    assert.ok(pct(xs, 0.5) >= 100 && pct(xs, 0.5) < 400, `${p} median ${pct(xs, 0.5)}`);
    assert.ok(pct(xs, 0.95) < 1000, `${p} p95 ${pct(xs, 0.95)}`);
  }
  assert.ok(Math.abs(meanLatencyMs(REALISTIC_LATENCY.pagespeed) - ps.reduce((s, x) => s + x, 0) / ps.length) < 1500);
});

test('OpenAI: seconds, growing with the completion tokens of the answer', () => {
  const short = pct(draws('openai', 2000, 20), 0.5);
  const long = pct(draws('openai', 2000, 300), 0.5);
  assert.ok(long - short > 3000, `300 tokens vs 20: ${long} vs ${short}`);
  assert.ok(long > 2000 && long < 8000);
});

test('the time scale multiplies every delay; same seed, same sequence', () => {
  const a = new LatencyModel('realistic', 1, 9);
  const b = new LatencyModel('realistic', 0.1, 9);
  for (let i = 0; i < 20; i++) {
    const full = a.delayMs('pagespeed', 200, {});
    const scaled = b.delayMs('pagespeed', 200, {});
    assert.ok(Math.abs(scaled - full / 10) <= 1, `${scaled} vs ${full}`);
  }
  assert.throws(() => new LatencyModel('realistic', 0, 1), /timeScale/);
});

test('a realistic sandbox delays real adapter answers (PageSpeed, OpenAI by its usage) and answers normally', async () => {
  const sandbox = await startSandbox({ seed: 3, latency: 'realistic', timeScale: 0.0005 });
  try {
    const urls = sandboxBaseUrls(sandbox.url);
    const ps = createPageSpeedClient({ baseUrl: urls.pagespeed, apiKey: SANDBOX_KEYS.pagespeed, timeoutMs: 5000 });
    const ai = createOpenAIClient({ baseUrl: urls.openai, apiKey: SANDBOX_KEYS.openai, timeoutMs: 5000, model: 'gpt-4o-mini' });
    const r = await ps.run('https://example.com/', 'mobile');
    assert.type(r.scores.performance, 'number');
    const chat = await ai.chat({ system: 'Answer in json.', user: 'Say hi in json.', maxTokens: 50 });
    assert.ok(chat.usage.completionTokens > 0);
    assert.is(sandbox.latency.totals.delayed, 2);
    assert.ok(sandbox.latency.totals.ms >= Math.round(REALISTIC_LATENCY.pagespeed.minMs * 0.0005));
  } finally {
    await sandbox.close();
  }
});

test.run();
