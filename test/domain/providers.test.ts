import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ProviderError } from '../../domain/errors.js';
import { parseRetryAfter, retryAfterFrom } from '../../domain/providers/http-errors.js';
import { createOpenAIClient } from '../../domain/providers/openai/index.js';
import { createPageSpeedClient } from '../../domain/providers/pagespeed/index.js';
import { createSendGridClient } from '../../domain/providers/sendgrid/index.js';
import { createStripeClient } from '../../domain/providers/stripe/index.js';
import { SANDBOX_KEYS, sandboxBaseUrls } from '../../domain/providers/urls.js';
import { createYelpClient } from '../../domain/providers/yelp/index.js';
import { startSandbox, type Sandbox } from '../../domain/sandbox/index.js';
import { HAVE_REAL_FIXTURES, NO_FIXTURES, REAL_FIXTURES } from '../helpers/fixtures.js';
import { testIf } from '../helpers/preconditions.js';
import { closedPort, startReplayServer, type ReplayServer } from '../helpers/replay-server.js';

const FIXTURES = REAL_FIXTURES;
const haveFixtures = HAVE_REAL_FIXTURES;
type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

function clients(baseUrl: string, timeoutMs = 5000, keys = SANDBOX_KEYS) {
  const urls = sandboxBaseUrls(baseUrl);
  return {
    yelp: createYelpClient({ baseUrl: urls.yelp, apiKey: keys.yelp, timeoutMs }),
    pagespeed: createPageSpeedClient({ baseUrl: urls.pagespeed, apiKey: keys.pagespeed, timeoutMs }),
    openai: createOpenAIClient({ baseUrl: urls.openai, apiKey: keys.openai, timeoutMs, model: 'gpt-4o-mini' }),
    sendgrid: createSendGridClient({ baseUrl: urls.sendgrid, apiKey: keys.sendgrid, timeoutMs }),
    stripe: createStripeClient({ baseUrl: urls.stripe, apiKey: keys.stripe, timeoutMs }),
  };
}
type Clients = ReturnType<typeof clients>;

async function rejects(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, ProviderError);
    return err as ProviderError;
  }
  assert.unreachable('expected a ProviderError, the call resolved');
  throw new Error('unreachable');
}

const MAIL = { to: 'owner@joes-plumbing.example.com', from: 'audits@leadfactory.example', subject: 'Audit', text: 'Hello' };

// ---------------------------------------------------------------- adapters against the generated sandbox
type Ctx = { sb: Sandbox; twin: Sandbox; c: Clients };
const gen = suite<Ctx>('providers: adapters against the generated sandbox');
gen.before(async (ctx) => {
  ctx.sb = await startSandbox({ seed: 42 });
  ctx.twin = await startSandbox({ seed: 42 });
  ctx.c = clients(ctx.sb.url);
});
gen.after(async (ctx) => {
  await ctx.sb.close();
  await ctx.twin.close();
});

gen('yelp: paging, mapping, rate limit, determinism across sandboxes with the same seed', async ({ sb, twin, c }) => {
  const p1 = await c.yelp.search({ location: 'Austin, TX', category: 'plumbing', limit: 20, offset: 0 });
  const p2 = await c.yelp.search({ location: 'Austin, TX', category: 'plumbing', limit: 20, offset: 20 });
  assert.is(p1.businesses.length, 20);
  assert.is(p1.total, p2.total);
  assert.ok(p1.total >= 40 && p1.total <= 240);
  const ids = [...p1.businesses, ...p2.businesses].map((b) => b.id);
  assert.is(new Set(ids).size, 40, 'pages do not overlap');
  const b = p1.businesses[0]!;
  assert.is(b.city, 'Austin');
  assert.ok(b.categories.includes('plumbing'));
  assert.match(b.address ?? '', /, Austin, TX \d{5}$/);
  assert.match(b.yelpUrl ?? '', /^https:\/\/www\.yelp\.com\/biz\//);
  for (const x of p1.businesses) assert.ok(x.website === null || /^https:\/\/[a-z0-9-]+\.example\.com$/.test(x.website), String(x.website));
  assert.ok(p1.businesses.some((x) => x.website !== null));
  assert.is(p1.rateLimit.dailyLimit, 5000);
  assert.type(p1.rateLimit.remaining, 'number');
  assert.ok(p2.rateLimit.remaining! < p1.rateLimit.remaining!);
  assert.match(p1.rateLimit.resetTime ?? '', /T00:00:00\+00:00$/);
  const again = await clients(twin.url).yelp.search({ location: 'Austin, TX', category: 'plumbing', limit: 20, offset: 0 });
  assert.equal(again.businesses, p1.businesses, 'same seed → same businesses');
  assert.ok(sb.url !== twin.url);
});

gen('yelp: sandbox validation errors become classified ProviderErrors', async ({ c }) => {
  const big = await rejects(c.yelp.search({ location: 'Austin', limit: 51, offset: 0 }));
  assert.equal([big.provider, big.operation, big.status, big.providerCode, big.retryable], ['yelp', 'search', 400, 'VALIDATION_ERROR', false]);
  const deep = await rejects(c.yelp.search({ location: 'Austin', limit: 50, offset: 990 }));
  assert.equal([deep.status, deep.providerCode, deep.retryable], [500, 'INTERNAL_ERROR', true]);
  const anon = await rejects(createYelpClient({ baseUrl: 'x', apiKey: '', timeoutMs: 1000 }).search({ location: 'a', limit: 1, offset: 0 }));
  assert.is(anon.status, undefined, 'invalid URL: no answer');
});

gen('pagespeed: scores = round(score × 100), metrics, top-5 opportunities by savings', async ({ sb, c }) => {
  const url = 'https://joes-plumbing.example.com/';
  const res = await c.pagespeed.run(url);
  const raw: Json = await (
    await fetch(`${sb.url}/pagespeed/pagespeedonline/v5/runPagespeed?url=${encodeURIComponent(url)}&strategy=mobile&category=performance,accessibility,best-practices,seo`)
  ).json();
  const lr = raw.lighthouseResult;
  assert.equal(res.scores, {
    performance: Math.round(lr.categories.performance.score * 100),
    accessibility: Math.round(lr.categories.accessibility.score * 100),
    bestPractices: Math.round(lr.categories['best-practices'].score * 100),
    seo: Math.round(lr.categories.seo.score * 100),
  });
  assert.is(res.strategy, 'mobile');
  assert.is(res.requestedUrl, url);
  assert.is(res.metrics.lcpMs, lr.audits['largest-contentful-paint'].numericValue);
  assert.is(res.metrics.cls, lr.audits['cumulative-layout-shift'].numericValue);
  assert.is(res.metrics.tbtMs, lr.audits['total-blocking-time'].numericValue);
  assert.is(res.metrics.fcpMs, lr.audits['first-contentful-paint'].numericValue);
  assert.ok(res.opportunities.length <= 5 && res.opportunities.length > 0);
  const savings = res.opportunities.map((o) => o.savingsMs);
  assert.equal(savings, [...savings].sort((a, b) => b - a));
  const best = Math.max(...Object.values(lr.audits).filter((a: Json) => a.details?.type === 'opportunity' && !(typeof a.score === 'number' && a.score >= 1)).map((a: Json) => a.details.overallSavingsMs));
  assert.is(savings[0], best);
  const desktop = await c.pagespeed.run(url, 'desktop');
  assert.is(desktop.strategy, 'desktop');
  const err = await rejects(c.pagespeed.run('not a url'));
  assert.equal([err.status, err.providerCode, err.retryable], [400, 'INVALID_ARGUMENT', false]);
});

gen('openai: json insight through the SDK', async ({ c }) => {
  const res = await c.openai.chat({ system: 'Return JSON with a summary and recommendations.', user: 'Audit https://joes.example.com', maxTokens: 800, json: true });
  assert.is(res.model, 'gpt-4o-mini');
  assert.is(res.finishReason, 'stop');
  const insight = JSON.parse(res.text);
  assert.type(insight.summary, 'string');
  assert.is(insight.recommendations.length, 3);
  assert.ok(res.usage.totalTokens === res.usage.promptTokens + res.usage.completionTokens && res.usage.completionTokens > 0);
  const text = await c.openai.chat({ system: 'Be brief.', user: 'Say hi' });
  assert.type(text.text, 'string');
  assert.ok(text.text.length > 0);
  const same = await c.openai.chat({ system: 'Be brief.', user: 'Say hi' });
  assert.is(same.text, text.text);
  const noJson = await rejects(c.openai.chat({ system: 'x', user: 'y', json: true }));
  assert.equal([noJson.status, noJson.retryable], [400, false]);
});

gen('sendgrid: 202 with a message id, unique per send; validation errors', async ({ c }) => {
  const a = await c.sendgrid.send({ ...MAIL, customArgs: { lead_id: '17' }, headers: { 'X-Campaign': 'c1' } });
  const b = await c.sendgrid.send(MAIL);
  assert.match(a.messageId ?? '', /^[A-Za-z0-9_-]{22}$/);
  assert.is.not(a.messageId, b.messageId);
  const bad = await rejects(c.sendgrid.send({ ...MAIL, to: 'not-an-address' }));
  assert.equal([bad.status, bad.providerCode, bad.retryable], [400, 'personalizations.0.to.0.email', false]);
});

gen('stripe: balance in integer cents through the SDK; bad key', async ({ sb, c }) => {
  const bal = await c.stripe.retrieveBalance();
  assert.is(bal.livemode, false);
  assert.is(bal.available[0]!.currency, 'usd');
  assert.ok(Number.isInteger(bal.available[0]!.amountCents));
  const bad = await rejects(createStripeClient({ baseUrl: sb.url, apiKey: 'nope', timeoutMs: 2000 }).retrieveBalance());
  assert.equal([bad.provider, bad.status, bad.providerCode, bad.retryable], ['stripe', 401, 'invalid_request_error', false]);
});

gen.run();

// ---------------------------------------------------------------- fixture mode
const fix = suite<{ sb?: Sandbox }>('providers: adapters against the fixture-mode sandbox');
fix.before(async (ctx) => {
  if (haveFixtures) ctx.sb = await startSandbox({ seed: 42, fixturesDir: FIXTURES });
});
fix.after(async (ctx) => {
  await ctx.sb?.close();
});
const fixTest = testIf(fix, haveFixtures, NO_FIXTURES);

fixTest('yelp ids and names equal the recorded San Francisco search', async ({ sb }) => {
  const rec = JSON.parse(await readFile(join(FIXTURES, 'yelp/businesses-search.location-san-francisco.vcr-erikgrueter1.json'), 'utf8'));
  const res = await clients(sb!.url).yelp.search({ location: 'San Francisco', limit: 20, offset: 0 });
  assert.equal(res.businesses.map((b) => [b.id, b.name]), rec.businesses.map((b: Json) => [b.id, b.name]));
  assert.is(res.total, rec.total);
  assert.is(res.businesses[0]!.website, null, 'recorded bodies have no attributes.business_url');
  assert.is(res.businesses[0]!.address, rec.businesses[0].location.display_address.join(', '));
  const next = await clients(sb!.url).yelp.search({ location: 'San Francisco', limit: 20, offset: 20 });
  assert.equal(next.businesses, []);
});

fixTest('pagespeed performance = round(score × 100) of the recorded run', async ({ sb }) => {
  const rec = JSON.parse(await readFile(join(FIXTURES, 'pagespeed/runPagespeed.v5.desktop.www-google-com.measure-grill.json'), 'utf8'));
  const res = await clients(sb!.url).pagespeed.run('https://www.google.com/');
  assert.is(res.scores.performance, Math.round(rec.lighthouseResult.categories.performance.score * 100));
  assert.is(res.scores.seo, Math.round(rec.lighthouseResult.categories.seo.score * 100));
  assert.is(res.strategy, 'desktop', 'the recorded run is a desktop run');
  assert.is(res.metrics.lcpMs, rec.lighthouseResult.audits['largest-contentful-paint'].numericValue);
  assert.equal(res.opportunities.map((o) => o.id), ['unused-javascript'], 'server-response-time passes (score 1): not an opportunity');
});

fix.run();

// ---------------------------------------------------------------- recorded error bodies replayed
type Replay = { srv: ReplayServer; c: Clients };
const rep = suite<Replay>('providers: recorded error bodies → ProviderError');
rep.before(async (ctx) => {
  ctx.srv = await startReplayServer();
  ctx.c = clients(ctx.srv.url, 1000);
});
rep.after(async (ctx) => {
  await ctx.srv.close();
});

const QUOTA = new Set(['ACCESS_LIMIT_REACHED', 'insufficient_quota']);
const SENDGRID_CODES: Record<string, string> = {
  'api.error.429.too-many-requests.json': 'too_many_requests',
  'mail-send.error.400.bad-request-no-detail.json': 'bad_request',
  'mail-send.error.400.duplicate-recipient.json': 'personalizations.0',
  'mail-send.error.400.personalizations-to-required.json': 'personalizations.0.to',
  'mail-send.error.400.to-email-required.json': 'personalizations.0.to.0.email',
  'mail-send.error.401.invalid-api-key.json': 'unauthorized',
  'mail-send.error.403.unverified-sender.json': 'from',
};
const expectedCode: Record<string, (body: Json, file: string) => string | undefined> = {
  yelp: (b) => b.error.code,
  openai: (b) => b.error.code ?? b.error.type,
  stripe: (b) => b.error.code ?? b.error.type,
  pagespeed: (b) => b.error.status ?? b.error.errors[0].reason,
  sendgrid: (_b, f) => SENDGRID_CODES[f],
};
const call: Record<string, (c: Clients) => Promise<unknown>> = {
  yelp: (c) => c.yelp.search({ location: 'Austin', limit: 10, offset: 0 }),
  openai: (c) => c.openai.chat({ system: 's', user: 'u' }),
  stripe: (c) => c.stripe.retrieveBalance(),
  pagespeed: (c) => c.pagespeed.run('https://joes.example.com/'),
  sendgrid: (c) => c.sendgrid.send(MAIL),
};
const filePattern: Record<string, RegExp> = {
  yelp: /^error\.\d{3}\./,
  openai: /^error\.\d{3}\./,
  stripe: /^error\.\d{3}\./,
  pagespeed: /^error\.\d{3}\./,
  sendgrid: /error\.\d{3}\./,
};

testIf(rep, haveFixtures, NO_FIXTURES)('every recorded error body maps to the right status, providerCode and retryable', async ({ srv, c }) => {
  let n = 0;
  for (const provider of Object.keys(call)) {
    for (const file of (await readdir(join(FIXTURES, provider))).sort()) {
      if (!filePattern[provider]!.test(file)) continue;
      const status = Number(/error\.(\d{3})\./.exec(file)![1]);
      const text = await readFile(join(FIXTURES, provider, file), 'utf8');
      srv.reply = { status, body: text };
      srv.requests.length = 0;
      const err = await rejects(call[provider]!(c));
      const code = expectedCode[provider]!(JSON.parse(text), file);
      const retryable = (status === 408 || status === 429 || status >= 500) && !QUOTA.has(code ?? '');
      const where = `${provider}/${file}`;
      assert.is(err.provider, provider, where);
      assert.is(err.status, status, where);
      assert.is(err.providerCode, code, where);
      assert.is(err.retryable, retryable, where);
      assert.is(srv.requests.length, 1, `${where}: no retry inside the adapter`);
      n++;
    }
  }
  assert.ok(n >= 20, `replayed ${n} files`);
});

testIf(rep, haveFixtures, NO_FIXTURES)('quota-exhausted 429s are not retryable, rate-limit 429s are', async ({ srv, c }) => {
  const play = async (provider: string, file: string) => {
    srv.reply = { status: 429, body: await readFile(join(FIXTURES, provider, file), 'utf8') };
    return rejects(call[provider]!(c));
  };
  assert.is((await play('yelp', 'error.429.access-limit-reached.yelp-fusion-issue-444.json')).retryable, false);
  assert.is((await play('yelp', 'error.429.too-many-requests-per-second.yelp-docs.json')).retryable, true);
  assert.is((await play('openai', 'error.429.insufficient-quota.nextchat-3664.json')).retryable, false);
  assert.is((await play('openai', 'error.429.rate-limit-tokens-per-min.openai-codex-88.json')).retryable, true);
});

rep('malformed JSON: retryable only with a 5xx status', async ({ srv, c }) => {
  for (const provider of ['yelp', 'pagespeed', 'openai', 'stripe']) {
    srv.reply = { status: 200, body: '{"truncated": ', headers: { 'Request-Id': 'req_ok200' } };
    const ok = await rejects(call[provider]!(c));
    assert.equal([ok.status, ok.retryable], [200, false], `${provider} 200`);
    srv.reply = { status: 502, body: '<html>Bad Gateway</html>', headers: { 'Content-Type': 'text/html', 'Request-Id': 'req_bad502' } };
    const bad = await rejects(call[provider]!(c));
    assert.equal([bad.status, bad.retryable], [502, true], `${provider} 502`);
  }
  srv.reply = { status: 503, body: 'upstream down', headers: { 'Content-Type': 'text/plain' } };
  const sg = await rejects(call.sendgrid!(c));
  assert.equal([sg.status, sg.retryable, srv.requests.at(-1)?.method], [503, true, 'POST']);
});

rep('timeouts and refused connections: no status, retryable', async ({ srv, c }) => {
  srv.reply = { status: 200, hang: true };
  const fast = clients(srv.url, 150);
  for (const provider of Object.keys(call)) {
    const err = await rejects(call[provider]!(fast));
    assert.equal([err.provider, err.status, err.retryable], [provider, undefined, true], provider);
  }
  const dead = clients(`http://127.0.0.1:${await closedPort()}`, 1000);
  for (const provider of Object.keys(call)) {
    const err = await rejects(call[provider]!(dead));
    assert.equal([err.status, err.retryable], [undefined, true], `${provider} refused`);
  }
  srv.reply = { status: 200, body: '{}' };
  void c;
});

rep('requests carry credentials and parameters the way each API expects', async ({ srv, c }) => {
  srv.reply = { status: 200, body: JSON.stringify({ businesses: [], total: 0, region: {} }) };
  await c.yelp.search({ location: 'San Francisco, CA', category: 'plumbing', limit: 50, offset: 950 });
  let r = srv.requests.at(-1)!;
  assert.is(r.headers.authorization, `Bearer ${SANDBOX_KEYS.yelp}`);
  const yq = new URL(r.url, 'http://x').searchParams;
  assert.equal([new URL(r.url, 'http://x').pathname, yq.get('location'), yq.get('categories'), yq.get('limit'), yq.get('offset')], ['/yelp/v3/businesses/search', 'San Francisco, CA', 'plumbing', '50', '950']);
  srv.reply = { status: 200, body: JSON.stringify({ lighthouseResult: { categories: { performance: { score: null } }, audits: {} } }) };
  const psi = await c.pagespeed.run('https://a.example.com/');
  assert.is(psi.scores.performance, null);
  r = srv.requests.at(-1)!;
  const pq = new URL(r.url, 'http://x').searchParams;
  assert.equal([pq.get('url'), pq.get('strategy'), pq.getAll('category'), pq.get('key')], ['https://a.example.com/', 'mobile', ['PERFORMANCE', 'ACCESSIBILITY', 'BEST_PRACTICES', 'SEO'], SANDBOX_KEYS.pagespeed]);
  srv.reply = { status: 202, body: '', headers: { 'X-Message-Id': 'abc' } };
  assert.equal(await c.sendgrid.send({ ...MAIL, customArgs: { lead_id: '9' } }), { messageId: 'abc' });
  r = srv.requests.at(-1)!;
  assert.is(r.headers.authorization, `Bearer ${SANDBOX_KEYS.sendgrid}`);
  assert.equal(JSON.parse(r.body), {
    personalizations: [{ to: [{ email: MAIL.to }], custom_args: { lead_id: '9' } }],
    from: { email: MAIL.from },
    subject: MAIL.subject,
    content: [{ type: 'text/plain', value: MAIL.text }],
  });
});

rep.run();

// ---------------------------------------------------------------- Retry-After
const ra = suite<Replay>('providers: Retry-After → ProviderError.retryAfterMs');
ra.before(async (ctx) => {
  ctx.srv = await startReplayServer();
  ctx.c = clients(ctx.srv.url, 2000);
});
ra.after(async (ctx) => {
  await ctx.srv.close();
});

ra('parseRetryAfter / retryAfterFrom: delta-seconds, decimals, HTTP dates, retry-after-ms, garbage', () => {
  const now = Date.parse('2026-03-01T12:00:00Z');
  assert.is(parseRetryAfter('2', now), 2000);
  assert.is(parseRetryAfter(' 0 ', now), 0);
  assert.is(parseRetryAfter('1.5', now), 1500);
  assert.is(parseRetryAfter('Sun, 01 Mar 2026 12:00:30 GMT', now), 30_000);
  assert.is(parseRetryAfter('Sun, 01 Mar 2026 11:59:00 GMT', now), 0, 'a date in the past means now');
  for (const bad of [undefined, null, '', 'soon', '-3', '1e3x']) assert.is(parseRetryAfter(bad as string | undefined, now), undefined, String(bad));
  const h = (o: Record<string, string>) => (n: string) => o[n];
  assert.is(retryAfterFrom(h({ 'retry-after-ms': '250' })), 250);
  assert.is(retryAfterFrom(h({ 'retry-after': '3', 'retry-after-ms': '250' })), 3000, 'Retry-After wins');
  assert.is(retryAfterFrom(h({})), undefined);
});

ra('every adapter carries Retry-After (seconds or HTTP date) on error answers, and none without it', async ({ srv, c }) => {
  const body = JSON.stringify({ error: { code: 'busy', message: 'try later', type: 'api_error' } });
  for (const provider of Object.keys(call)) {
    srv.reply = { status: 429, body, headers: { 'Retry-After': '7', 'Request-Id': 'req_ra1' } };
    const secs = await rejects(call[provider]!(c));
    assert.equal([secs.status, secs.retryAfterMs], [429, 7000], `${provider} seconds`);

    const at = new Date(Date.now() + 30_000).toUTCString();
    srv.reply = { status: 503, body, headers: { 'Retry-After': at, 'Request-Id': 'req_ra2' } };
    const date = await rejects(call[provider]!(c));
    assert.is(date.status, 503, provider);
    assert.ok(date.retryAfterMs !== undefined && date.retryAfterMs > 27_000 && date.retryAfterMs <= 30_000, `${provider} date → ${date.retryAfterMs}`);

    srv.reply = { status: 400, body, headers: { 'Request-Id': 'req_ra3' } };
    assert.is((await rejects(call[provider]!(c))).retryAfterMs, undefined, `${provider} absent`);
  }
  srv.reply = { status: 429, body, headers: { 'retry-after-ms': '1500' } };
  assert.is((await rejects(call.openai!(c))).retryAfterMs, 1500, "OpenAI's retry-after-ms");
  srv.reply = { status: 503, body: 'upstream down', headers: { 'Content-Type': 'text/plain', 'Retry-After': '4' } };
  for (const provider of ['yelp', 'pagespeed', 'sendgrid', 'openai']) {
    assert.is((await rejects(call[provider]!(c))).retryAfterMs, 4000, `${provider} non-JSON error body`);
  }
});

ra('sendgrid scopes: the key check lists mail.send; a bad key is a 401 ProviderError', async () => {
  const sb = await startSandbox({ seed: 1 });
  try {
    const urls = sandboxBaseUrls(sb.url);
    const ok = createSendGridClient({ baseUrl: urls.sendgrid, apiKey: SANDBOX_KEYS.sendgrid, timeoutMs: 2000 });
    assert.ok((await ok.scopes()).includes('mail.send'));
    const nosend = createSendGridClient({ baseUrl: urls.sendgrid, apiKey: 'SG.nosend', timeoutMs: 2000 });
    assert.not.ok((await nosend.scopes()).includes('mail.send'));
    const anon = await rejects(createSendGridClient({ baseUrl: urls.sendgrid, apiKey: '', timeoutMs: 2000 }).scopes());
    assert.equal([anon.provider, anon.operation, anon.status, anon.providerCode, anon.retryable], ['sendgrid', 'scopes', 401, 'unauthorized', false]);
    const raw = await fetch(`${sb.url}/sendgrid/v3/scopes`);
    assert.is(await raw.text(), '{"errors":[{"message":"The provided authorization grant is invalid, expired, or revoked","field":null,"help":null}]}');
  } finally {
    await sb.close();
  }
});

ra.run();
