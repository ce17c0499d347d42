/**
 * Failed sends recover (issue #14 point 5): classification, backoff, and the email stage's retries against the
 * sandbox's SendGrid (real adapter, gateway, activity feed) — a 401 that is cleared is sent once by the next batch,
 * a 400 stays failed, a timed-out send SendGrid took is confirmed from its activity feed instead of resent.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Business, Email } from '../../db/entities/index.js';
import type { Database } from '../../db/orm.js';
import { sendPending } from '../../domain/delivery/send.js';
import { classifySendFailure, nextAttemptAt, RETRYABLE_CLASSES, SEND_ERROR_CLASSES } from '../../domain/delivery/send-failures.js';
import { BudgetExceededError, CircuitOpenError, ProviderError, RateLimitedError } from '../../domain/errors.js';
import { activityQueryByCustomArg } from '../../domain/providers/sendgrid/index.js';
import { sandboxAdmin, startSandbox, type Sandbox } from '../../domain/sandbox/index.js';
import type { Services } from '../../domain/services.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { pipelineDeps, testServices } from '../helpers/services.js';

type Ctx = { db: Database; sandbox: Sandbox; services: Services; sent: string[] };
const t = suite<Ctx>(`delivery: retries of failed sends (${DB_KIND})`);
const env = (ctx: Ctx, more: Record<string, string> = {}) => ({
  SANDBOX_URL: ctx.sandbox.url,
  EMAIL_BATCH_SIZE: '10',
  EMAIL_SEND_RETRY_BASE_SECONDS: '0', // a retry is due at once: the next call is "the next batch"
  SENDGRID_ACTIVITY_SETTLE_SECONDS: '0',
  ...more,
});

t.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.sandbox = await startSandbox({ seed: 11 });
  ctx.sent = [];
  ctx.sandbox.interceptors.push((route, req) => {
    if (route.path === '/sendgrid/v3/mail/send') ctx.sent.push(String(JSON.parse(req.body.toString('utf8')).personalizations?.[0]?.custom_args?.email_id));
    return undefined;
  });
  ctx.services = await testServices(ctx.db, env(ctx));
});
t.after(async (ctx) => {
  await ctx.services.close();
  await ctx.sandbox.close();
  await ctx.db.close();
});
t.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  await sandboxAdmin(ctx.sandbox.url).clearFaults();
  ctx.sent.length = 0;
});

let seq = 0;
async function pending(ctx: Ctx, n: number): Promise<number[]> {
  const em = ctx.db.orm.em.fork();
  // ids never repeat across tests: the sandbox's activity feed outlives the truncation between them
  await em.getConnection().execute(`select setval('emails_id_seq', ?)`, [1000 * ++seq]);
  const ids: { id: number }[] = [];
  for (let i = 0; i < n; i++) {
    seq++;
    const b = em.create(Business, { yelpId: `r-${seq}`, name: `Biz ${seq}`, status: 'email_pending' });
    ids.push(em.create(Email, { business: b, campaign: 'website-audit', toAddress: `owner${seq}@shop.example.com`, subject: `Hi ${seq}`, body: 'Hello.', spamScore: 0 }));
  }
  await em.flush();
  return ids.map((e) => e.id);
}
type Row = { id: number; status: string; send_attempts: number; next_attempt_at: Date | null; last_error_class: string | null };
const rows = (ctx: Ctx) =>
  ctx.db.orm.em.getConnection().execute<Row[]>('select id, status, send_attempts, next_attempt_at, last_error_class from emails order by id');

const pe = (status: number | undefined, message = 'x', extra: Partial<{ providerCode: string; retryAfterMs: number }> = {}) =>
  new ProviderError({ provider: 'sendgrid', operation: 'mail.send', status, message, retryable: false, ...extra });

t('classification: 400 recipient/content permanent; 401/403/429/5xx/network/timeout/breaker/limits retryable', () => {
  const now = new Date('2026-12-05T12:00:00Z');
  const cls = (err: unknown) => classifySendFailure(err, now);
  assert.is(cls(pe(400, 'HTTP 400 personalizations.0.to.0.email: The to email parameter is required.')).errorClass, 'invalid_recipient');
  assert.is(cls(pe(400, 'HTTP 400 content: The content value must be a string')).errorClass, 'invalid_content');
  assert.is(cls(pe(413, 'HTTP 413 payload too large')).retryable, false);
  assert.equal([cls(pe(401)).errorClass, cls(pe(401)).retryable], ['auth', true]);
  assert.equal([cls(pe(403)).errorClass, cls(pe(403)).retryable], ['permission', true]);
  const limited = cls(pe(429, 'too many', { retryAfterMs: 30_000 }));
  assert.equal([limited.errorClass, limited.notBefore?.toISOString()], ['rate_limited', '2026-12-05T12:00:30.000Z']);
  assert.is(cls(pe(503)).errorClass, 'provider_error');
  assert.is(cls(pe(undefined, 'network error (ECONNREFUSED)', { providerCode: 'ECONNREFUSED' })).errorClass, 'network');
  assert.is(cls(pe(undefined, 'timeout (ETIMEDOUT): Timeout awaiting request', { providerCode: 'ETIMEDOUT' })).errorClass, 'timeout');
  assert.is(cls(pe(undefined, 'network error (ECONNRESET)', { providerCode: 'ECONNRESET' })).errorClass, 'connection_lost');
  const open = cls(new CircuitOpenError('sendgrid', new Date('2026-12-05T12:05:00Z'), 'open'));
  assert.equal([open.errorClass, open.retryable, open.notBefore?.toISOString()], ['breaker_open', true, '2026-12-05T12:05:00.000Z']);
  assert.is(cls(new RateLimitedError('sendgrid', now, 'rps')).errorClass, 'rate_limited');
  assert.is(cls(new BudgetExceededError('sendgrid', 'daily')).errorClass, 'budget');
  assert.equal([cls(new Error('bug')).errorClass, cls(new Error('bug')).retryable], ['other', false]);
  for (const c of RETRYABLE_CLASSES) assert.ok(SEND_ERROR_CLASSES.includes(c), c);
});

t('backoff: exponential with jitter in [½, 1), capped, never before Retry-After; none when permanent or spent', () => {
  const now = new Date(0);
  const policy = { maxAttempts: 5, baseMs: 60_000, maxMs: 300_000 };
  const retry = classifySendFailure(pe(503), now);
  const at = (attempts: number, r: number) => nextAttemptAt(retry, attempts, now, policy, { random: () => r })?.getTime();
  assert.equal([at(1, 0), at(1, 0.999)], [30_000, 59_970]);
  assert.equal([at(2, 0), at(3, 0), at(4, 0)], [60_000, 120_000, 150_000], 'doubles, capped at maxMs');
  assert.is(at(5, 0), undefined, 'attempts spent');
  assert.is(nextAttemptAt(classifySendFailure(pe(400), now), 1, now, policy), undefined, 'permanent');
  const late = nextAttemptAt(classifySendFailure(pe(429, 'x', { retryAfterMs: 600_000 }), now), 1, now, policy, { random: () => 0 });
  assert.is(late?.getTime(), 600_000, 'Retry-After wins over a shorter backoff');
  const unknown = nextAttemptAt(classifySendFailure(pe(undefined, 'timeout', { providerCode: 'ETIMEDOUT' }), now), 1, now, policy, { random: () => 0, settleMs: 90_000 });
  assert.is(unknown?.getTime(), 90_000, 'an unknown outcome waits for the activity feed to settle');
});

t('a SendGrid 401 fails the batch as retryable; once the key works again the next batch sends each email exactly once', async (ctx) => {
  const ids = await pending(ctx, 4);
  await sandboxAdmin(ctx.sandbox.url).setFault('sendgrid', { fault: 'invalid_key' });
  const first = await sendPending(pipelineDeps(ctx.services));
  assert.equal([first.emailed, first.failed, first.willRetry], [0, 4, 4]);
  const failed = await rows(ctx);
  assert.ok(failed.every((r) => r.status === 'failed' && r.last_error_class === 'auth' && r.send_attempts === 1 && r.next_attempt_at !== null), JSON.stringify(failed));
  assert.is(ctx.sent.length, 0, 'the faulted answers never reached the handler');
  await sandboxAdmin(ctx.sandbox.url).clearFaults();
  const second = await sendPending(pipelineDeps(ctx.services));
  assert.equal([second.retried, second.emailed, second.failed], [4, 4, 0]);
  const third = await sendPending(pipelineDeps(ctx.services));
  assert.equal([third.retried, third.emailed], [0, 0], 'nothing left to retry');
  assert.equal(ctx.sent.sort(), ids.map(String).sort(), 'each email sent once');
  const done = await rows(ctx);
  assert.ok(done.every((r) => r.status === 'sent' && r.send_attempts === 2 && r.next_attempt_at === null), JSON.stringify(done));
});

t('a SendGrid 400 stays failed: permanent, never retried by a later batch', async (ctx) => {
  await pending(ctx, 2);
  await sandboxAdmin(ctx.sandbox.url).setFault('sendgrid', { fault: 'bad_request' });
  const first = await sendPending(pipelineDeps(ctx.services));
  assert.equal([first.failed, first.willRetry], [2, 0]);
  await sandboxAdmin(ctx.sandbox.url).clearFaults();
  const again = await sendPending(pipelineDeps(ctx.services));
  assert.equal([again.retried, again.emailed], [0, 0]);
  const r = await rows(ctx);
  assert.ok(r.every((x) => x.status === 'failed' && x.last_error_class === 'invalid_recipient' && x.next_attempt_at === null), JSON.stringify(r));
});

t('attempts are bounded (EMAIL_SEND_MAX_ATTEMPTS): after the last one the email waits for an operator', async (ctx) => {
  const services = await testServices(ctx.db, env(ctx, { EMAIL_SEND_MAX_ATTEMPTS: '2' }));
  try {
    await pending(ctx, 1);
    await sandboxAdmin(ctx.sandbox.url).setFault('sendgrid', { fault: 'invalid_key' });
    await sendPending(pipelineDeps(services));
    const second = await sendPending(pipelineDeps(services));
    assert.equal([second.retried, second.failed, second.willRetry], [1, 1, 0]);
    const [r] = await rows(ctx);
    assert.equal([r!.status, r!.send_attempts, r!.last_error_class, r!.next_attempt_at], ['failed', 2, 'auth', null]);
    assert.is((await sendPending(pipelineDeps(services))).retried, 0);
  } finally {
    await services.close();
  }
});

t('a timed-out send SendGrid did take is confirmed from its activity feed, never resent', async (ctx) => {
  // `slow` answers after the client gave up: the sandbox took the message (it is in its activity feed) but we saw a timeout
  const services = await testServices(ctx.db, env(ctx, { PROVIDER_TIMEOUT_MS: '150', GATEWAY_RETRY_ATTEMPTS: '1' }));
  try {
    const [id] = await pending(ctx, 1);
    await sandboxAdmin(ctx.sandbox.url).setFault('sendgrid', { fault: 'slow', ms: 400, count: 1 });
    const first = await sendPending(pipelineDeps(services));
    assert.equal([first.failed, first.willRetry], [1, 1]);
    assert.is((await rows(ctx))[0]!.last_error_class, 'timeout');
    await new Promise((r) => setTimeout(r, 500)); // the slow answer lands in the sandbox's feed
    const second = await sendPending(pipelineDeps(services));
    assert.equal([second.retried, second.emailed], [0, 0]);
    const [r] = await rows(ctx);
    assert.is(r!.status, 'sent');
    const inFeed = await services.rawProviders.sendgrid.searchMessages(activityQueryByCustomArg('email_id', String(id)), 10);
    assert.is(inFeed.length, 1, 'SendGrid holds one message for it: not resent');
  } finally {
    await services.close();
  }
});

t('a timed-out send SendGrid never got is resent once after the activity feed says so', async (ctx) => {
  const services = await testServices(ctx.db, env(ctx, { PROVIDER_TIMEOUT_MS: '150', GATEWAY_RETRY_ATTEMPTS: '1' }));
  try {
    const [id] = await pending(ctx, 1);
    await sandboxAdmin(ctx.sandbox.url).setFault('sendgrid', { fault: 'timeout', count: 1 });
    assert.is((await sendPending(pipelineDeps(services))).failed, 1);
    const second = await sendPending(pipelineDeps(services));
    assert.equal([second.retried, second.emailed], [1, 1]);
    assert.equal(ctx.sent, [String(id)]);
  } finally {
    await services.close();
  }
});

t.run();
