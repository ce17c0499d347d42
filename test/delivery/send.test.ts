import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Business, Email, type EmailStatus } from '../../db/entities/index.js';
import type { Database } from '../../db/orm.js';
import { claimPendingBatch, sendPending, staleSending } from '../../domain/delivery/send.js';
import { addSuppression, isSuppressed, emailHash, removeSuppression, suppressionCount } from '../../domain/delivery/suppression.js';
import { verifyUnsubscribeToken } from '../../domain/delivery/unsubscribe.js';
import { validateEmailAddress } from '../../domain/delivery/validate.js';
import { sandboxAdmin, startSandbox, type Sandbox } from '../../domain/sandbox/index.js';
import type { Services } from '../../domain/services.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { pipelineDeps, testServices } from '../helpers/services.js';

type Sent = { emailId: string; body: Record<string, any> };
type Ctx = { db: Database; sandbox: Sandbox; services: Services; sent: Sent[] };
const t = suite<Ctx>(`delivery: sending (${DB_KIND})`);

t.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.sandbox = await startSandbox({ seed: 7 });
  ctx.sent = [];
  // Records every mail/send body that reached the handler (faulted requests are answered before interceptors).
  ctx.sandbox.interceptors.push((route, req) => {
    if (route.path === '/sendgrid/v3/mail/send') {
      const body = JSON.parse(req.body.toString('utf8')) as Record<string, any>;
      ctx.sent.push({ emailId: String(body.personalizations?.[0]?.custom_args?.email_id), body });
    }
    return undefined;
  });
  ctx.services = await testServices(ctx.db, { SANDBOX_URL: ctx.sandbox.url, EMAIL_BATCH_SIZE: '3' });
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
async function pending(ctx: Ctx, to: string, status: EmailStatus = 'pending'): Promise<number> {
  const em = ctx.db.orm.em.fork();
  seq++;
  const b = em.create(Business, { yelpId: `y-${seq}`, name: `Biz ${seq}`, status: 'email_pending' });
  const e = em.create(Email, { business: b, campaign: 'website-audit', toAddress: to, subject: `Hi ${seq}`, body: 'Hello.\nBye.', spamScore: 0, status });
  await em.flush();
  return e.id;
}
const rows = (ctx: Ctx) =>
  ctx.db.orm.em.getConnection().execute<{ id: number; status: string; error_message: string | null; provider_message_id: string | null }[]>(
    'select id, status, error_message, provider_message_id from emails order by id',
  );
const sgRequests = async (ctx: Ctx) => (await sandboxAdmin(ctx.sandbox.url).stats()).requests.sendgrid;

t('address syntax: a pragmatic RFC 5322 subset', () => {
  for (const ok of ['a@b.co', ' Info@Example.com ', "o'brien+tag@mail.example.org", 'x@xn--bcher-kva.ch', 'a.b.c@d-e.fg'])
    assert.ok(validateEmailAddress(ok).ok, ok);
  for (const bad of ['', 'plain', 'a@b', 'a@@b.co', 'a@b@c.co', 'a b@c.co', '.a@b.co', 'a.@b.co', 'a..b@c.co', 'a@-b.co', 'a@b.c0', 'a@b..co', '"q"@b.co', 'ü@b.co', `${'x'.repeat(65)}@b.co`])
    assert.not.ok(validateEmailAddress(bad).ok, bad);
});

t('suppression: hash of the trimmed lower-cased address; add is idempotent and keeps the first reason', async (ctx) => {
  const em = ctx.db.orm.em.fork();
  assert.is(emailHash(' A@B.co '), emailHash('a@b.co'));
  assert.match(emailHash('a@b.co'), /^[0-9a-f]{64}$/);
  assert.ok(await addSuppression(em, 'A@b.co', 'bounce', 'test'));
  assert.not.ok(await addSuppression(em, 'a@B.CO ', 'unsubscribe', 'test'));
  const [row] = await em.getConnection().execute<{ reason: string }[]>('select reason from email_suppressions');
  assert.is(row!.reason, 'bounce');
  assert.ok(await isSuppressed(em, 'a@b.co'));
  assert.is(await suppressionCount(em), 1);
  assert.is(await suppressionCount(em, 'unsubscribe'), 0);
  assert.ok(await removeSuppression(em, 'a@b.co'));
  assert.not.ok(await isSuppressed(em, 'a@b.co'));
});

t('suppression is checked before sending: a suppressed address is never sent; an invalid one fails and is suppressed', async (ctx) => {
  const em = ctx.db.orm.em.fork();
  await addSuppression(em, 'gone@example.com', 'unsubscribe', 'test');
  const suppressedId = await pending(ctx, '  Gone@Example.COM ');
  const invalidId = await pending(ctx, 'not an address@example');
  const before = await sgRequests(ctx);
  const r = await sendPending(pipelineDeps(ctx.services));
  assert.equal(r, { emailed: 0, failed: 1, suppressed: 1, invalid: 1, retried: 0, willRetry: 0 });
  assert.is(await sgRequests(ctx), before, 'SendGrid never called');
  const [s, i] = await rows(ctx);
  assert.is(s!.id, suppressedId);
  assert.is(s!.status, 'suppressed');
  assert.is(i!.id, invalidId);
  assert.is(i!.status, 'failed');
  assert.match(i!.error_message ?? '', /invalid address/);
  const [row] = await em.getConnection().execute<{ reason: string }[]>('select reason from email_suppressions where email_hash = ?', [emailHash('not an address@example')]);
  assert.is(row?.reason, 'invalid');
  const biz = await em.getConnection().execute<{ status: string }[]>('select status from businesses order by id');
  assert.equal(biz.map((b) => b.status), ['suppressed', 'suppressed']);
});

t('what SendGrid receives: email_id custom arg, List-Unsubscribe + One-Click headers, link and postal footer', async (ctx) => {
  const id = await pending(ctx, 'owner@shop.example.com');
  const r = await sendPending(pipelineDeps(ctx.services));
  assert.is(r.emailed, 1);
  assert.is(ctx.sent.length, 1);
  const body = ctx.sent[0]!.body;
  assert.is(body.personalizations[0].custom_args.email_id, String(id));
  const lu: string = body.headers['List-Unsubscribe'];
  const m = /^<(http:\/\/localhost:3000\/unsubscribe\?token=([^>]+))>, <mailto:unsubscribe@leadfactory\.example\?subject=[^>]+>$/.exec(lu);
  assert.ok(m, lu);
  assert.is(body.headers['List-Unsubscribe-Post'], 'List-Unsubscribe=One-Click');
  const claims = verifyUnsubscribeToken(ctx.services.config.delivery.unsubscribeSecret, decodeURIComponent(m![2]!));
  assert.is(claims.emailId, id);
  assert.is(claims.emailHash, emailHash('owner@shop.example.com'));
  const text: string = body.content[0].value;
  assert.ok(text.startsWith('Hello.\nBye.'));
  assert.ok(text.includes(m![1]!), 'footer has the unsubscribe link');
  assert.ok(text.trimEnd().endsWith(ctx.services.config.delivery.postalAddress), 'postal address last');
  const [row] = await rows(ctx);
  assert.is(row!.status, 'sent');
  assert.ok(row!.provider_message_id, 'X-Message-Id kept');
});

t('exactly once across a crash: claimed emails are never sent again; stale ones are reported', async (ctx) => {
  const ids: number[] = [];
  for (let i = 0; i < 5; i++) ids.push(await pending(ctx, `crash${i}@example.com`));
  let n = 0;
  // One at a time, so "killed after the 2nd send" leaves the 3rd claimed but unsent.
  const serial = await testServices(ctx.db, { SANDBOX_URL: ctx.sandbox.url, EMAIL_BATCH_SIZE: '3', EMAIL_CONCURRENCY: '1' });
  const crash = sendPending(pipelineDeps(serial), (stage) => {
    if (stage === 'emailed' && ++n === 2) throw new Error('process killed');
  });
  const crashed = await crash.then(() => false, (e: Error) => e.message === 'process killed');
  await serial.close();
  assert.ok(crashed, 'the run died mid-batch');
  let st = await rows(ctx);
  const claimed = st.slice(0, 3).map((r) => r.status);
  assert.ok(claimed.every((x) => x === 'sent' || x === 'sending'), `claimed batch: ${claimed}`);
  assert.ok(claimed.includes('sending'), 'at least one claimed email was cut off');
  assert.equal(st.slice(3).map((r) => r.status), ['pending', 'pending'], 'the next batch was never claimed');
  const cutOff = ids.filter((_, i) => claimed[i] === 'sending');

  const again = await sendPending(pipelineDeps(ctx.services));
  assert.is(again.emailed, 2, 'only the still-pending ones');
  st = await rows(ctx);
  assert.equal(st.slice(3).map((r) => r.status), ['sent', 'sent']);
  assert.equal(st.filter((r) => r.status === 'sending').length, cutOff.length, 'cut-off claims stay claimed');
  const perEmail = new Map<string, number>();
  for (const x of ctx.sent) perEmail.set(x.emailId, (perEmail.get(x.emailId) ?? 0) + 1);
  for (const id of ids) assert.ok((perEmail.get(String(id)) ?? 0) <= 1, `email ${id} sent at most once`);

  const em = ctx.db.orm.em.fork();
  const stuckMs = ctx.services.config.stages.stuckAfterMs;
  assert.equal(await staleSending(em, new Date(), stuckMs), [], 'not stale yet');
  const stale = await staleSending(em, new Date(Date.now() + stuckMs + 60_000), stuckMs);
  assert.equal(stale.map((x) => x.id), cutOff);
  assert.equal(await claimPendingBatch(em, 10, new Date()), [], 'nothing pending to claim');
});

t('two senders at once never claim the same email', async (ctx) => {
  for (let i = 0; i < 8; i++) await pending(ctx, `par${i}@example.com`);
  const [r1, r2] = await Promise.all([sendPending(pipelineDeps(ctx.services)), sendPending(pipelineDeps(ctx.services))]);
  assert.is(r1.emailed + r2.emailed, 8);
  const ids = ctx.sent.map((s) => s.emailId);
  assert.is(new Set(ids).size, 8, 'each email sent once');
  assert.is(ids.length, 8);
});

t('a hanging SendGrid: the emails fail, and a later run does not re-send them before their retry is due', async (ctx) => {
  // GATEWAY_RETRY_ATTEMPTS=1 keeps the test short; the gateway never resends a timed-out mail/send anyway
  // (test/gateway/gateway.test.ts).
  const services = await testServices(ctx.db, {
    SANDBOX_URL: ctx.sandbox.url,
    EMAIL_BATCH_SIZE: '3',
    PROVIDER_TIMEOUT_MS: '200',
    GATEWAY_RETRY_ATTEMPTS: '1',
  });
  try {
    await pending(ctx, 'hang1@example.com');
    await pending(ctx, 'hang2@example.com');
    await sandboxAdmin(ctx.sandbox.url).setFault('sendgrid', { fault: 'timeout' });
    const before = await sgRequests(ctx);
    const r = await sendPending(pipelineDeps(services));
    assert.is(r.failed, 2);
    const during = await sgRequests(ctx);
    assert.ok(during - before <= 2, `one request per email at most (saw ${during - before})`);
    await sandboxAdmin(ctx.sandbox.url).clearFaults();
    const r2 = await sendPending(pipelineDeps(services));
    assert.is(r2.emailed + r2.failed, 0, 'failed emails are not retried before their backoff (test/delivery/send-retry.test.ts)');
    assert.is(await sgRequests(ctx), during);
    assert.equal((await rows(ctx)).map((x) => x.status), ['failed', 'failed']);
  } finally {
    await services.close();
  }
});

t.run();
