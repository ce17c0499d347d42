import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cliHelp, runCli } from '../../bot/cli.js';
import { ProviderError } from '../../domain/errors.js';
import { createOpenAIClient } from '../../domain/providers/openai/index.js';
import { createPageSpeedClient } from '../../domain/providers/pagespeed/index.js';
import { createSendGridClient } from '../../domain/providers/sendgrid/index.js';
import { createStripeClient } from '../../domain/providers/stripe/index.js';
import { SANDBOX_KEYS, sandboxBaseUrls } from '../../domain/providers/urls.js';
import { createYelpClient } from '../../domain/providers/yelp/index.js';
import { RECORDED_FILES } from '../../domain/sandbox/fault-bodies.js';
import * as bodies from '../../domain/sandbox/fault-bodies.js';
import { HAVE_REAL_FIXTURES, NO_FIXTURES, REAL_FIXTURES } from '../helpers/fixtures.js';
import { testIf } from '../helpers/preconditions.js';
import { FAULT_KINDS, FAULT_PROVIDERS, sandboxAdmin, SandboxAdminError, startSandbox, type FaultKind, type FaultProvider, type Sandbox } from '../../domain/sandbox/index.js';

const ROOT = resolve(import.meta.dirname, '../..');
const FIXTURES = REAL_FIXTURES;

function clients(baseUrl: string, timeoutMs = 5000) {
  const urls = sandboxBaseUrls(baseUrl);
  const k = SANDBOX_KEYS;
  return {
    yelp: createYelpClient({ baseUrl: urls.yelp, apiKey: k.yelp, timeoutMs }),
    pagespeed: createPageSpeedClient({ baseUrl: urls.pagespeed, apiKey: k.pagespeed, timeoutMs }),
    openai: createOpenAIClient({ baseUrl: urls.openai, apiKey: k.openai, timeoutMs, model: 'gpt-4o-mini' }),
    sendgrid: createSendGridClient({ baseUrl: urls.sendgrid, apiKey: k.sendgrid, timeoutMs }),
    stripe: createStripeClient({ baseUrl: urls.stripe, apiKey: k.stripe, timeoutMs }),
  };
}
type Clients = ReturnType<typeof clients>;
const MAIL = { to: 'owner@joes-plumbing.example.com', from: 'audits@leadfactory.example', subject: 'Audit', text: 'Hello' };

/** The fault body constant `name` exported by domain/sandbox/fault-bodies.ts; undefined when there is none. */
function bodyNamed(name: string): string | undefined {
  const v: unknown = Reflect.get(bodies, name);
  return typeof v === 'string' ? v : undefined;
}

/** One real adapter call per provider (SendGrid: mail send, or the key check for bodies mail send ignores). */
const call: Record<FaultProvider, (c: Clients, kind?: FaultKind) => Promise<unknown>> = {
  yelp: (c) => c.yelp.search({ location: 'Austin, TX', limit: 5, offset: 0 }),
  pagespeed: (c) => c.pagespeed.run('https://joes.example.com/'),
  openai: (c) => c.openai.chat({ system: 'Be brief.', user: 'Say hi' }),
  sendgrid: (c, kind) => (kind === 'malformed' ? c.sendgrid.scopes() : c.sendgrid.send(MAIL)),
  stripe: (c) => c.stripe.retrieveBalance(),
};

/** Raw request to a provider route, with its key, to read the exact bytes the sandbox sends. */
const rawPath: Record<FaultProvider, { path: string; method: string; auth: Record<string, string> }> = {
  yelp: { path: '/yelp/v3/businesses/search?location=Austin', method: 'GET', auth: { Authorization: 'Bearer k' } },
  pagespeed: { path: '/pagespeed/pagespeedonline/v5/runPagespeed?url=https://a.example.com/', method: 'GET', auth: {} },
  openai: { path: '/openai/v1/chat/completions', method: 'POST', auth: { Authorization: 'Bearer sk-k' } },
  sendgrid: { path: '/sendgrid/v3/mail/send', method: 'POST', auth: { Authorization: 'Bearer SG.k' } },
  stripe: { path: '/v1/balance', method: 'GET', auth: { Authorization: 'Bearer sk_test_k' } },
};
async function raw(sb: Sandbox, p: FaultProvider): Promise<{ status: number; headers: Headers; text: string }> {
  const r = rawPath[p];
  const res = await fetch(sb.url + r.path, { method: r.method, headers: r.auth, body: r.method === 'POST' ? '{}' : undefined });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

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

type Expect = [status: number | undefined, providerCode: string | undefined, retryable: boolean];
const EXPECTED: Record<Exclude<FaultKind, 'slow' | 'timeout' | 'runtime_error'>, Record<FaultProvider, Expect>> = {
  rate_limit: {
    yelp: [429, 'TOO_MANY_REQUESTS_PER_SECOND', true],
    pagespeed: [429, 'RESOURCE_EXHAUSTED', true],
    openai: [429, 'rate_limit_exceeded', true],
    sendgrid: [429, 'too_many_requests', true],
    stripe: [429, 'rate_limit', true],
  },
  server_error: {
    yelp: [503, 'INTERNAL_ERROR', true],
    pagespeed: [503, 'UNAVAILABLE', true],
    openai: [503, 'server_error', true],
    sendgrid: [503, 'service_unavailable', true],
    stripe: [503, 'api_error', true],
  },
  invalid_key: {
    yelp: [401, 'TOKEN_INVALID', false],
    pagespeed: [400, 'INVALID_ARGUMENT', false],
    openai: [401, 'invalid_api_key', false],
    sendgrid: [401, 'unauthorized', false],
    stripe: [401, 'invalid_request_error', false],
  },
  quota_exhausted: {
    yelp: [429, 'ACCESS_LIMIT_REACHED', false],
    pagespeed: [429, 'RESOURCE_EXHAUSTED', false],
    openai: [429, 'insufficient_quota', false],
    // SendGrid's credits are gone until the plan renews: not retryable. Stripe has no daily quota: its 429 is a rate limit.
    sendgrid: [429, 'maximum_credits_exceeded', false],
    stripe: [429, 'rate_limit', true],
  },
  bad_request: {
    yelp: [400, 'VALIDATION_ERROR', false],
    pagespeed: [400, 'INVALID_ARGUMENT', false],
    openai: [400, 'invalid_request_error', false],
    sendgrid: [400, 'personalizations.0.to.0.email', false],
    stripe: [400, 'invalid_request_error', false],
  },
  malformed: {
    yelp: [200, undefined, false],
    pagespeed: [200, undefined, false],
    openai: [200, undefined, false],
    sendgrid: [200, undefined, false],
    stripe: [200, undefined, false],
  },
};

/** Which recorded body each (kind, provider) must serve byte for byte. */
const RECORDED: Partial<Record<FaultKind, Partial<Record<FaultProvider, keyof typeof RECORDED_FILES>>>> = {
  rate_limit: { yelp: 'YELP_429_PER_SECOND', pagespeed: 'PAGESPEED_429_PER_100S', openai: 'OPENAI_429_RATE_LIMIT', sendgrid: 'SENDGRID_429', stripe: 'STRIPE_429_RATE_LIMIT' },
  server_error: { yelp: 'YELP_500_INTERNAL' },
  invalid_key: { sendgrid: 'SENDGRID_401_INVALID_KEY', stripe: 'STRIPE_401_INVALID_KEY' },
  bad_request: { sendgrid: 'SENDGRID_400_TO_EMAIL_REQUIRED' },
  quota_exhausted: { yelp: 'YELP_429_ACCESS_LIMIT', openai: 'OPENAI_429_INSUFFICIENT_QUOTA' },
};

type Ctx = { sb: Sandbox; c: Clients; admin: ReturnType<typeof sandboxAdmin> };
const t = suite<Ctx>('sandbox faults through the real adapters');
t.before(async (ctx) => {
  ctx.sb = await startSandbox({ seed: 42 });
  ctx.c = clients(ctx.sb.url);
  ctx.admin = sandboxAdmin(ctx.sb.url);
});
t.after(async (ctx) => {
  await ctx.sb.close();
});
t.before.each(async (ctx) => {
  await ctx.admin.clearFaults();
});

t('error kinds → the right ProviderError for every provider; Retry-After on rate limits', async ({ c, admin }) => {
  for (const [kind, byProvider] of Object.entries(EXPECTED) as [keyof typeof EXPECTED, Record<FaultProvider, Expect>][]) {
    for (const p of FAULT_PROVIDERS) {
      await admin.setFault(p, { fault: kind });
      const err = await rejects(call[p](c, kind));
      const where = `${p} ${kind}`;
      assert.equal([err.provider, err.status, err.providerCode, err.retryable], [p, ...byProvider[p]], where);
      assert.is(err.retryAfterMs, kind === 'rate_limit' ? 1000 : undefined, `${where} retryAfterMs`);
    }
  }
  for (const p of FAULT_PROVIDERS) {
    await admin.setFault(p, { fault: 'rate_limit', retryAfterSeconds: 7 });
    assert.is((await rejects(call[p](c))).retryAfterMs, 7000, `${p} Retry-After 7`);
    await admin.setFault(p, { fault: 'server_error', status: 500, retryAfterSeconds: 2 });
    const e500 = await rejects(call[p](c));
    assert.equal([e500.status, e500.retryable, e500.retryAfterMs], [500, true, 2000], `${p} 500`);
    await admin.setFault(p, { fault: 'server_error', status: 502 });
    assert.is((await rejects(call[p](c))).status, 502, `${p} 502`);
  }
  await admin.setFault('pagespeed', { fault: 'invalid_key', status: 403 });
  assert.equal((await rejects(call.pagespeed(c))).providerCode, 'PERMISSION_DENIED');
});

testIf(t, HAVE_REAL_FIXTURES, NO_FIXTURES)('the fault bodies are the recorded files byte for byte', async () => {
  let compared = 0;
  for (const byProvider of Object.values(RECORDED) as Partial<Record<FaultProvider, string>>[]) {
    for (const name of Object.values(byProvider) as string[]) {
      const constant = bodyNamed(name);
      assert.is(constant, await readFile(join(FIXTURES, RECORDED_FILES[name]!), 'utf8'), `${name} = ${RECORDED_FILES[name]}`);
      compared++;
    }
  }
  assert.is(compared, 11);
});

t('recorded bodies are served byte for byte', async ({ sb, admin }) => {
  for (const [kind, byProvider] of Object.entries(RECORDED) as [FaultKind, Partial<Record<FaultProvider, string>>][]) {
    for (const [p, name] of Object.entries(byProvider) as [FaultProvider, string][]) {
      await admin.setFault(p, { fault: kind });
      const res = await raw(sb, p);
      const constant = bodyNamed(name);
      assert.is(res.text, constant, `${p} ${kind} serves ${name}`);
    }
  }
  await admin.setFault('yelp', { fault: 'rate_limit' });
  assert.is((await raw(sb, 'yelp')).headers.get('retry-after'), '1');
});

t('malformed: the success status and a body that is not JSON', async ({ sb, admin }) => {
  for (const p of FAULT_PROVIDERS) {
    await admin.setFault(p, { fault: 'malformed' });
    const res = await raw(sb, p);
    assert.is(res.status, p === 'sendgrid' ? 202 : 200, p);
    assert.throws(() => JSON.parse(res.text), undefined, p);
  }
});

t('slow delays the normal answer; timeout hangs until the adapter gives up', async ({ sb, admin }) => {
  for (const p of FAULT_PROVIDERS) await admin.setFault(p, { fault: 'slow', ms: 300 });
  const c = clients(sb.url);
  for (const p of FAULT_PROVIDERS) {
    const t0 = performance.now();
    await call[p](c);
    assert.ok(performance.now() - t0 >= 280, `${p} slow`);
  }
  for (const p of FAULT_PROVIDERS) await admin.setFault(p, { fault: 'timeout' });
  const fast = clients(sb.url, 250);
  for (const p of FAULT_PROVIDERS) {
    const t0 = performance.now();
    const err = await rejects(call[p](fast));
    const ms = performance.now() - t0;
    assert.equal([err.status, err.retryable], [undefined, true], p);
    assert.match(err.message, /time/i, p);
    assert.ok(ms >= 200 && ms < 3000, `${p} gave up after ${ms} ms`);
  }
});

t('count faults expire; clearing restores normal answers; faults survive clearing interceptors', async ({ sb, c, admin }) => {
  const f = await admin.setFault('yelp', { fault: 'server_error', count: 2 });
  assert.equal([f.remaining, f.served], [2, 0]);
  await rejects(call.yelp(c));
  assert.is((await admin.faults()).yelp?.remaining, 1);
  await rejects(call.yelp(c));
  assert.equal(await admin.faults(), {});
  await call.yelp(c);
  for (const p of FAULT_PROVIDERS) await admin.setFault(p, { fault: 'invalid_key' });
  sb.interceptors.length = 0;
  await rejects(call.stripe(c));
  assert.equal(await admin.clearFaults('stripe'), ['stripe']);
  await call.stripe(c);
  assert.equal(Object.keys(await admin.faults()).sort(), ['openai', 'pagespeed', 'sendgrid', 'yelp']);
  assert.equal((await admin.clearFaults()).sort(), ['openai', 'pagespeed', 'sendgrid', 'yelp']);
  for (const p of FAULT_PROVIDERS) await call[p](c);
  assert.is((await fetch(`${sb.url}/sandbox/health`)).status, 200);
});

t('admin routes validate input', async ({ sb, admin }) => {
  const put = (path: string, body: string) => fetch(sb.url + path, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body });
  assert.is((await put('/sandbox/faults/yelp', '{"fault":"gremlins"}')).status, 400);
  assert.is((await put('/sandbox/faults/yelp', '{"fault":"slow","ms":-1}')).status, 400);
  assert.is((await put('/sandbox/faults/yelp', 'not json')).status, 400);
  assert.is((await put('/sandbox/limits/yelp', '{"perSecond":0}')).status, 400);
  const unknown = await put('/sandbox/faults/bing', '{"fault":"timeout"}');
  assert.is(unknown.status, 404);
  assert.match(((await unknown.json()) as { message: string }).message, /unknown provider "bing"/);
  try {
    await admin.setFault('yelp', { fault: 'nope' as FaultKind });
    assert.unreachable('should reject');
  } catch (err) {
    assert.instance(err, SandboxAdminError);
    assert.is((err as SandboxAdminError).status, 400);
    assert.match((err as Error).message, /"fault" must be one of/);
  }
  assert.equal(await admin.faults(), {});
  assert.equal([...FAULT_KINDS].sort(), ['bad_request', 'invalid_key', 'malformed', 'quota_exhausted', 'rate_limit', 'runtime_error', 'server_error', 'slow', 'timeout']);
});

t('enforced limit: a burst above n/s gets the provider 429 with Retry-After, and stats count them', async ({ sb, c, admin }) => {
  await admin.resetStats();
  await admin.setLimit('yelp', 5);
  const answers = await Promise.all(Array.from({ length: 15 }, () => raw(sb, 'yelp')));
  const limited = answers.filter((a) => a.status === 429);
  assert.ok(limited.length >= 9 && limited.length <= 10, `${limited.length} of 15 limited`);
  for (const a of limited) {
    assert.is(a.text, bodies.YELP_429_PER_SECOND);
    assert.is(a.headers.get('retry-after'), '1');
  }
  const err = await rejects(call.yelp(c));
  assert.equal([err.status, err.providerCode, err.retryAfterMs], [429, 'TOO_MANY_REQUESTS_PER_SECOND', 1000]);
  const stats = await admin.stats();
  assert.is(stats.requests.yelp, 16);
  assert.is(stats.rateLimited.yelp, limited.length + 1);
  assert.is(stats.rateLimited.openai, 0);
  assert.equal(stats.limits, { yelp: { perSecond: 5 } });
  await new Promise((r) => setTimeout(r, 450)); // 2 tokens back at 5/s
  await call.yelp(c);
  await call.yelp(c);
  await admin.clearLimit('yelp');
  await Promise.all(Array.from({ length: 10 }, () => call.yelp(c)));
  assert.equal((await admin.stats()).limits, {});
});

t('CLI: `sandbox fault yelp rate_limit --url` changes what the sandbox answers (child process)', async ({ sb, c }) => {
  const cli = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      const env = { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'test', LOG_LEVEL: 'silent' };
      execFile('npx', ['tsx', 'bot/cli.ts', ...args], { cwd: ROOT, env, timeout: 60_000 }, (err, stdout, stderr) =>
        done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
      );
    });
  const set = await cli(['sandbox', 'fault', 'yelp', 'rate_limit', '--retry-after', '3', '--url', sb.url]);
  assert.is(set.code, 0, set.stderr);
  assert.match(set.stdout, /yelp: rate_limit, Retry-After 3 s, until cleared/);
  const err = await rejects(call.yelp(c));
  assert.equal([err.status, err.providerCode, err.retryAfterMs], [429, 'TOO_MANY_REQUESTS_PER_SECOND', 3000]);
  const cleared = await cli(['sandbox', 'clear', 'yelp', `--url=${sb.url}`]);
  assert.is(cleared.code, 0, cleared.stderr);
  assert.match(cleared.stdout, /cleared: yelp/);
  await call.yelp(c);
});

t('CLI in process: faults --json, limit, stats, usage errors, unreachable sandbox, SANDBOX_URL', async ({ sb, admin }) => {
  const run = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    let stdout = '';
    let stderr = '';
    const io = { stdout: async (s: string) => void (stdout += s), stderr: async (s: string) => void (stderr += s) };
    return { code: await runCli(args, env, io), stdout, stderr };
  };
  assert.is((await run(['sandbox', 'fault', 'openai', 'slow', '--ms', '50', '--count', '3', '--url', sb.url])).code, 0);
  const list = await run(['sandbox', 'faults', '--json'], { SANDBOX_URL: sb.url });
  assert.equal(JSON.parse(list.stdout).faults.openai, { ...(await admin.faults()).openai, remaining: 3 });
  const limit = await run(['sandbox', 'limit', 'stripe', '25', '--url', sb.url]);
  assert.match(limit.stdout, /stripe: sandbox answers 429 above 25 req\/s/);
  assert.match((await run(['sandbox', 'stats', '--url', sb.url])).stdout, /stripe .*limit 25\/s/);
  assert.is((await run(['sandbox', 'limit', 'stripe', 'off', '--url', sb.url])).code, 0);
  assert.equal((await admin.stats()).limits, {});
  const bad = await run(['sandbox', 'fault', 'yelp', 'gremlins', '--url', sb.url]);
  assert.equal([bad.code, /kind must be one of/.test(bad.stderr)], [2, true]);
  const badOpt = await run(['sandbox', 'fault', 'yelp', 'slow', '--ms', 'soon', '--url', sb.url]);
  assert.equal([badOpt.code, /option --ms of lf sandbox fault needs a whole number, got "soon"/.test(badOpt.stderr)], [2, true]);
  const down = await run(['sandbox', 'faults', '--url', 'http://127.0.0.1:9']);
  assert.equal([down.code, /unreachable/.test(down.stderr)], [1, true]);
  assert.match(cliHelp(), /sandbox fault <provider> <kind> \[--status N\] \[--ms N\] \[--retry-after S\] \[--count N\]/);
});

t.run();
