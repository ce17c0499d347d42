import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../domain/clock.js';
import { startSandbox, type Sandbox } from '../../domain/sandbox/index.js';
import { HAVE_REAL_FIXTURES, NO_FIXTURES, REAL_FIXTURES } from '../helpers/fixtures.js';
import { testIf } from '../helpers/preconditions.js';

const FIXTURES = REAL_FIXTURES;
const AUTH = { Authorization: 'Bearer sandbox-key' };
type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

async function get(sb: Sandbox, path: string, headers: Record<string, string> = AUTH) {
  const res = await fetch(sb.url + path, { headers });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: (): Json => JSON.parse(text) };
}
async function post(sb: Sandbox, path: string, body: unknown, headers: Record<string, string> = AUTH) {
  const res = await fetch(sb.url + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: (): Json => JSON.parse(text) };
}
const search = (q: string) => `/yelp/v3/businesses/search?${q}`;

// ---------------------------------------------------------------- generated mode
type Ctx = { sb: Sandbox; other: Sandbox };
const gen = suite<Ctx>('sandbox: generated answers');
gen.before(async (ctx) => {
  ctx.sb = await startSandbox({ seed: 7, clock: new ManualClock('2026-03-04T05:06:07Z') });
  ctx.other = await startSandbox({ seed: 8 });
});
gen.after(async (ctx) => {
  await ctx.sb.close();
  await ctx.other.close();
});

gen('health and unknown paths', async ({ sb }) => {
  const h = await get(sb, '/sandbox/health');
  assert.is(h.status, 200);
  assert.equal(h.json(), { ok: true });
  assert.match(sb.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const s = await get(sb, '/v1/customers', { Authorization: 'Bearer sk_test_x' });
  assert.is(s.status, 404);
  assert.is(s.json().error.type, 'invalid_request_error');
  assert.is((await get(sb, '/nope')).status, 404);
});

gen('yelp: recorded business shape, attributes.business_url, totals, rate-limit headers', async ({ sb }) => {
  const r = await get(sb, search('location=Austin%2C%20TX&categories=plumbing&limit=50&offset=0'));
  assert.is(r.status, 200);
  const body = r.json();
  assert.ok(body.total >= 40 && body.total <= 240, `total ${body.total}`);
  assert.is(body.businesses.length, Math.min(50, body.total));
  assert.type(body.region.center.latitude, 'number');
  const b = body.businesses[0];
  assert.is(b.id.length, 22);
  assert.is(b.categories[0].alias, 'plumbing');
  assert.is(b.location.state, 'TX');
  assert.match(b.url, /^https:\/\/www\.yelp\.com\/biz\//);
  const all = [];
  for (let off = 0; off < body.total; off += 50) all.push(...(await get(sb, search(`location=Austin%2C%20TX&categories=plumbing&limit=50&offset=${off}`))).json().businesses);
  assert.is(all.length, body.total);
  assert.is(new Set(all.map((x: Json) => x.id)).size, all.length, 'ids unique');
  assert.is(new Set(all.map((x: Json) => x.alias)).size, all.length, 'aliases unique');
  const sites = all.map((x: Json) => x.attributes.business_url).filter(Boolean);
  const share = sites.length / all.length;
  assert.ok(share > 0.7 && share < 0.97, `website share ${share}`);
  for (const s of sites) {
    assert.match(s, /^https:\/\/[a-z0-9-]+\.example\.com$/);
    assert.not.match(s, /localhost|127\.0\.0\.1/);
  }
  assert.is(r.headers.get('ratelimit-dailylimit'), '5000');
  assert.is(r.headers.get('ratelimit-resettime'), '2026-03-05T00:00:00+00:00');
  const before = Number(r.headers.get('ratelimit-remaining'));
  const again = await get(sb, search('location=Austin&limit=1'));
  assert.ok(Number(again.headers.get('ratelimit-remaining')) < before);
});

gen('yelp: deterministic per seed, paging without overlap, default limit 20', async ({ sb, other }) => {
  const q = search('location=Denver&categories=hvac&limit=10&offset=0');
  const a = await get(sb, q);
  const b = await get(sb, q);
  assert.is(a.text, b.text);
  const seed8 = (await get(other, q)).json();
  assert.not.equal(seed8.businesses.map((x: Json) => x.id), a.json().businesses.map((x: Json) => x.id));
  const p2 = (await get(sb, search('location=Denver&categories=hvac&limit=10&offset=10'))).json();
  const wide = (await get(sb, search('location=Denver&categories=hvac&limit=20&offset=0'))).json();
  assert.equal(wide.businesses, [...a.json().businesses, ...p2.businesses]);
  const dflt = (await get(sb, search('location=Denver&categories=hvac'))).json();
  assert.is(dflt.businesses.length, 20);
  const past = (await get(sb, search(`location=Denver&categories=hvac&limit=10&offset=${wide.total + 5}`))).json();
  assert.equal(past.businesses, []);
  assert.is(past.total, wide.total);
});

gen('yelp: recorded errors for limit > 50, offset + limit > 1000, missing token', async ({ sb }) => {
  const big = await get(sb, search('location=Austin&limit=100'));
  assert.is(big.status, 400);
  assert.equal(big.json(), { error: { code: 'VALIDATION_ERROR', description: 'The supplied limit: 100 is invalid.' } });
  const deep = await get(sb, search('location=Austin&limit=50&offset=960'));
  assert.is(deep.status, 500);
  assert.is(deep.json().error.code, 'INTERNAL_ERROR');
  const anon = await get(sb, search('location=Austin'), {});
  assert.is(anon.status, 401);
  assert.is(anon.json().error.code, 'TOKEN_MISSING');
  assert.is((await get(sb, search('limit=5'))).json().error.code, 'VALIDATION_ERROR');
});

gen('pagespeed: v5 shape, requested categories, determinism, Google 400 for a missing url', async ({ sb, other }) => {
  const q = '/pagespeed/pagespeedonline/v5/runPagespeed?url=https%3A%2F%2Fjoes-plumbing.example.com%2F&strategy=mobile' +
    '&category=PERFORMANCE&category=ACCESSIBILITY&category=best-practices&category=seo&key=k';
  const r = await get(sb, q, {});
  assert.is(r.status, 200);
  const body = r.json();
  assert.is(body.kind, 'pagespeedonline#result');
  assert.is(body.id, 'https://joes-plumbing.example.com/');
  assert.is(body.analysisUTCTimestamp, '2026-03-04T05:06:07.000Z');
  const lr = body.lighthouseResult;
  assert.is(lr.requestedUrl, 'https://joes-plumbing.example.com/');
  assert.is(lr.configSettings.formFactor, 'mobile');
  assert.equal(Object.keys(lr.categories).sort(), ['accessibility', 'best-practices', 'performance', 'seo']);
  for (const c of Object.values(lr.categories) as Json[]) assert.ok(c.score >= 0 && c.score <= 1 && c.id && c.title);
  for (const id of ['largest-contentful-paint', 'cumulative-layout-shift', 'total-blocking-time', 'first-contentful-paint']) {
    assert.type(lr.audits[id].numericValue, 'number');
    assert.type(lr.audits[id].displayValue, 'string');
    assert.type(lr.audits[id].score, 'number');
  }
  const opps = Object.values(lr.audits).filter((a: Json) => a.details?.type === 'opportunity') as Json[];
  assert.ok(opps.length >= 5);
  for (const o of opps) assert.type(o.details.overallSavingsMs, 'number');
  assert.is((await get(sb, q, {})).text, r.text, 'same seed, same url → same body');
  assert.not.equal((await get(other, q, {})).json().lighthouseResult.categories, lr.categories);
  const perfOnly = (await get(sb, '/pagespeed/pagespeedonline/v5/runPagespeed?url=https://a.example.com', {})).json();
  assert.equal(Object.keys(perfOnly.lighthouseResult.categories), ['performance']);
  const missing = await get(sb, '/pagespeed/pagespeedonline/v5/runPagespeed?strategy=mobile', {});
  assert.is(missing.status, 400);
  const e = missing.json().error;
  assert.is(e.code, 400);
  assert.is(e.status, 'INVALID_ARGUMENT');
  assert.type(e.errors[0].reason, 'string');
  const unreachable = (await get(sb, '/pagespeed/pagespeedonline/v5/runPagespeed?url=https://down.invalid/', {})).json();
  assert.is(unreachable.error.errors[0].reason, 'lighthouseUserError');
});

gen('openai: chat.completion shape, json_object content, determinism, errors', async ({ sb }) => {
  const req = {
    model: 'gpt-4o-mini',
    messages: [
      { role: 'system', content: 'You audit small-business websites. Answer in JSON.' },
      { role: 'user', content: 'Site: https://joes-plumbing.example.com performance 41' },
    ],
    max_tokens: 600,
    response_format: { type: 'json_object' },
  };
  const r = await post(sb, '/openai/v1/chat/completions', req);
  assert.is(r.status, 200);
  const body = r.json();
  assert.match(body.id, /^chatcmpl-[A-Za-z0-9]{29}$/);
  assert.is(body.object, 'chat.completion');
  assert.is(body.model, 'gpt-4o-mini');
  assert.is(body.created, Date.parse('2026-03-04T05:06:07Z') / 1000);
  assert.match(body.system_fingerprint, /^fp_[0-9a-f]{10}$/);
  const choice = body.choices[0];
  assert.equal([choice.index, choice.message.role, choice.message.refusal, choice.logprobs, choice.finish_reason], [0, 'assistant', null, null, 'stop']);
  const insight = JSON.parse(choice.message.content);
  assert.type(insight.summary, 'string');
  assert.is(insight.recommendations.length, 3);
  for (const rec of insight.recommendations) {
    assert.type(rec.title, 'string');
    assert.ok(['high', 'medium', 'low'].includes(rec.impact) && ['high', 'medium', 'low'].includes(rec.effort));
  }
  assert.is(body.usage.total_tokens, body.usage.prompt_tokens + body.usage.completion_tokens);
  assert.is((await post(sb, '/openai/v1/chat/completions', req)).text, r.text);
  const text = (await post(sb, '/openai/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'hi' }] })).json();
  assert.throws(() => JSON.parse(text.choices[0].message.content));
  const anon = await post(sb, '/openai/v1/chat/completions', req, {});
  assert.is(anon.status, 401);
  assert.equal(Object.keys(anon.json().error), ['message', 'type', 'param', 'code']);
  assert.is(anon.json().error.code, 'invalid_api_key');
  const noJsonWord = await post(sb, '/openai/v1/chat/completions', { ...req, messages: [{ role: 'user', content: 'hi' }] });
  assert.is(noJsonWord.status, 400);
  assert.is(noJsonWord.json().error.param, 'messages');
  assert.is((await post(sb, '/openai/v1/chat/completions', '{not json')).status, 400);
  const short = (await post(sb, '/openai/v1/chat/completions', { ...req, max_tokens: 5 })).json();
  assert.is(short.choices[0].finish_reason, 'length');
});

const withFixtures = testIf(gen, HAVE_REAL_FIXTURES, NO_FIXTURES);

withFixtures('yelp: generated businesses carry every key of a recorded search answer', async ({ sb }) => {
  const body = (await get(sb, search('location=Austin%2C%20TX&categories=plumbing&limit=50&offset=0'))).json();
  const rec = JSON.parse(await readFile(join(FIXTURES, 'yelp/businesses-search.location-san-francisco.vcr-erikgrueter1.json'), 'utf8'));
  const recKeys = Object.keys(rec.businesses[1]);
  for (const b of body.businesses) for (const k of recKeys.filter((k) => k !== 'price')) assert.ok(k in b, `missing ${k}`);
  assert.equal(Object.keys(body.businesses[0].location), Object.keys(rec.businesses[0].location));
});

const MAIL = {
  personalizations: [{ to: [{ email: 'owner@joes-plumbing.example.com' }] }],
  from: { email: 'audits@leadfactory.example' },
  subject: 'Your site audit',
  content: [{ type: 'text/plain', value: 'Hello' }],
};

withFixtures('sendgrid: validation and 401 bodies equal the recorded ones', async ({ sb }) => {
  const ok = MAIL;
  const rec = (f: string) => readFile(join(FIXTURES, 'sendgrid', f), 'utf8').then((t) => JSON.parse(t));
  const noTo = await post(sb, '/sendgrid/v3/mail/send', { ...ok, personalizations: [{}] });
  assert.equal(noTo.json(), await rec('mail-send.error.400.personalizations-to-required.json'));
  const noEmail = await post(sb, '/sendgrid/v3/mail/send', { ...ok, personalizations: [{ to: [{ name: 'x' }] }] });
  assert.equal(noEmail.json(), await rec('mail-send.error.400.to-email-required.json'));
  const anon = await post(sb, '/sendgrid/v3/mail/send', ok, {});
  assert.is(anon.status, 401);
  assert.equal(anon.json(), await rec('mail-send.error.401.invalid-api-key.json'));
  const garbage = await post(sb, '/sendgrid/v3/mail/send', '{');
  assert.equal(garbage.json(), await rec('mail-send.error.400.bad-request-no-detail.json'));
});

gen('sendgrid: validation, 401, 202 with unique X-Message-Id', async ({ sb }) => {
  const ok = MAIL;
  const a = await post(sb, '/sendgrid/v3/mail/send', ok);
  const b = await post(sb, '/sendgrid/v3/mail/send', ok);
  assert.is(a.status, 202);
  assert.is(a.text, '');
  assert.match(a.headers.get('x-message-id') ?? '', /^[A-Za-z0-9_-]{22}$/);
  assert.is.not(a.headers.get('x-message-id'), b.headers.get('x-message-id'));
  const noTo = await post(sb, '/sendgrid/v3/mail/send', { ...ok, personalizations: [{}] });
  assert.is(noTo.status, 400);
  assert.is((await post(sb, '/sendgrid/v3/mail/send', ok, {})).status, 401);
  const missing = await post(sb, '/sendgrid/v3/mail/send', {});
  assert.equal(missing.json().errors.map((e: Json) => e.field), ['personalizations', 'from.email', 'subject', 'content']);
});

gen('stripe: balance object, 401 bodies', async ({ sb }) => {
  const r = await get(sb, '/v1/balance', { Authorization: 'Bearer sk_test_sandbox' });
  assert.is(r.status, 200);
  const body = r.json();
  assert.is(body.object, 'balance');
  assert.is(body.livemode, false);
  assert.ok(Number.isInteger(body.available[0].amount));
  assert.is(body.available[0].currency, 'usd');
  assert.match(r.headers.get('request-id') ?? '', /^req_/);
  const anon = await get(sb, '/v1/balance', {});
  assert.is(anon.status, 401);
  assert.is(anon.json().error.type, 'invalid_request_error');
  const bad = await get(sb, '/v1/balance', { Authorization: 'Bearer not-a-stripe-key-1234' });
  assert.match(bad.json().error.message, /^Invalid API Key provided: "not-a-s\*+234"$/);
});

gen('interceptors answer in place of a route (fault-injection seam)', async ({ sb }) => {
  sb.interceptors.push((route) => (route.provider === 'yelp' ? { status: 429, headers: { 'Retry-After': '30' }, json: { error: { code: 'TOO_MANY_REQUESTS_PER_SECOND', description: 'slow down' } } } : undefined));
  try {
    const r = await get(sb, search('location=Austin'));
    assert.is(r.status, 429);
    assert.is(r.headers.get('retry-after'), '30');
    assert.is((await get(sb, '/sandbox/health')).status, 200);
  } finally {
    sb.interceptors.length = 0;
  }
  assert.is((await get(sb, search('location=Austin'))).status, 200);
});

gen.run();

// ---------------------------------------------------------------- fixture mode
type FCtx = { sb?: Sandbox; partial?: Sandbox; tmp?: string };
const fix = suite<FCtx>('sandbox: fixture mode');
fix.before(async (ctx) => {
  if (!HAVE_REAL_FIXTURES) return;
  ctx.sb = await startSandbox({ seed: 1, fixturesDir: FIXTURES });
  ctx.tmp = await mkdtemp(join(tmpdir(), 'lf-sandbox-'));
  await cp(join(FIXTURES, 'yelp'), join(ctx.tmp, 'yelp'), { recursive: true });
  ctx.partial = await startSandbox({ seed: 1, fixturesDir: ctx.tmp });
});
fix.after(async (ctx) => {
  await ctx.sb?.close();
  await ctx.partial?.close();
  if (ctx.tmp) await rm(ctx.tmp, { recursive: true, force: true });
});
const fixTest = testIf(fix, HAVE_REAL_FIXTURES, NO_FIXTURES);

fixTest('yelp: recorded body byte for byte by location, empty page past offset 0, fallback', async ({ sb }) => {
  const file = await readFile(join(FIXTURES, 'yelp/businesses-search.location-san-francisco.vcr-erikgrueter1.json'), 'utf8');
  for (const loc of ['San%20Francisco', 'san+francisco', 'SAN%20FRANCISCO']) {
    const r = await get(sb!, search(`location=${loc}&limit=20&offset=0`));
    assert.is(r.status, 200);
    assert.is(r.text, file);
  }
  const page2 = (await get(sb!, search('location=San%20Francisco&limit=20&offset=20'))).json();
  assert.equal(page2.businesses, []);
  assert.is(page2.total, JSON.parse(file).total);
  assert.equal(page2.region, JSON.parse(file).region);
  assert.is((await get(sb!, search('location=Boise&limit=20'))).text, file, 'first sorted non-empty file');
  assert.is((await get(sb!, search('location=Boise&limit=51'))).status, 400, 'validation still applies');
});

fixTest('pagespeed and openai: recorded bodies verbatim', async ({ sb }) => {
  const google = await readFile(join(FIXTURES, 'pagespeed/runPagespeed.v5.desktop.www-google-com.measure-grill.json'), 'utf8');
  const fallback = await readFile(join(FIXTURES, 'pagespeed/runPagespeed.v5.desktop.origin-fallback.stores-myvi-in.measure-grill.json'), 'utf8');
  assert.is((await get(sb!, '/pagespeed/pagespeedonline/v5/runPagespeed?url=https://www.google.com/search', {})).text, google);
  assert.is((await get(sb!, '/pagespeed/pagespeedonline/v5/runPagespeed?url=https://other.example.com/', {})).text, fallback);
  const chat = await readFile(join(FIXTURES, 'openai/chat.completion.text.openai-python.json'), 'utf8');
  const r = await post(sb!, '/openai/v1/chat/completions', { model: 'x', messages: [{ role: 'user', content: 'hi' }] });
  assert.is(r.text, chat);
  assert.is((await post(sb!, '/sendgrid/v3/mail/send', { personalizations: [{ to: [{ email: 'a@b.example' }] }], from: { email: 'c@d.example' }, subject: 's', content: [{ type: 'text/plain', value: 'v' }] })).status, 202);
});

fixTest('providers without recordings fall back to generated answers', async ({ partial }) => {
  const psi = (await get(partial!, '/pagespeed/pagespeedonline/v5/runPagespeed?url=https://www.google.com/', {})).json();
  assert.is(psi.lighthouseResult.lighthouseVersion, '12.6.0');
  const chat = (await post(partial!, '/openai/v1/chat/completions', { model: 'x', messages: [{ role: 'user', content: 'hi' }] })).json();
  assert.is(chat.model, 'x');
});

fix.run();
