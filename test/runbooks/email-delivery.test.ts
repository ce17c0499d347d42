import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Business, Email, type EmailStatus } from '../../db/entities/index.js';
import type { Database } from '../../db/orm.js';
import { sendPending } from '../../domain/delivery/send.js';
import { emailHash, isSuppressed } from '../../domain/delivery/suppression.js';
import { checkAddressRules } from '../../domain/delivery/validate.js';
import { getSettingEntry } from '../../domain/settings.js';
import { sandboxAdmin, startSandbox, type Sandbox } from '../../domain/sandbox/index.js';
import type { Services } from '../../domain/services.js';
import type { RunbookContext } from '../../runbooks/context.js';
import { diagnose, runDiagnostic, type Diagnosis, type Finding } from '../../runbooks/define.js';
import { maskAddresses } from '../../runbooks/email-delivery-checks.js';
import { runbook } from '../../runbooks/email-delivery.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { pipelineDeps, testServices } from '../helpers/services.js';

type Ctx = { db: Database; sandbox: Sandbox; services: Services; rb: RunbookContext };
const t = suite<Ctx>(`runbook email-delivery (${DB_KIND})`);

t.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.sandbox = await startSandbox({ seed: 3 });
  ctx.services = await testServices(ctx.db, { SANDBOX_URL: ctx.sandbox.url, PROVIDER_TIMEOUT_MS: '2000', GATEWAY_RETRY_ATTEMPTS: '1' });
  ctx.rb = runbookContext(ctx.services);
});
t.after(async (ctx) => {
  await ctx.services.close();
  await ctx.sandbox.close();
  await ctx.db.close();
});
t.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  await sandboxAdmin(ctx.sandbox.url).clearFaults();
  await sandboxAdmin(ctx.sandbox.url).resetStats();
});

const HOUR = 3600_000;
const ago = (ms: number) => new Date(Date.now() - ms);
let seq = 0;

interface Seed {
  to?: string;
  status?: EmailStatus;
  spamScore?: number;
  spamReasons?: string[];
  createdAgo?: number;
  sentAgo?: number;
  claimedAgo?: number;
  bounceReason?: string;
  providerMessageId?: string;
  lastEventAgo?: number;
}

/** Inserts a business and its email with the given timestamps (ms before now); returns the email id. */
async function email(ctx: Ctx, s: Seed = {}): Promise<number> {
  const em = ctx.db.orm.em.fork();
  seq++;
  const b = em.create(Business, { yelpId: `y-${seq}`, name: `Biz ${seq}`, status: 'email_pending' });
  const e = em.create(Email, {
    business: b,
    campaign: 'website-audit',
    toAddress: s.to ?? `info@biz${seq}.example.com`,
    subject: `Hi ${seq}`,
    body: 'Hello.',
    spamScore: s.spamScore ?? 5,
    spamReasons: s.spamReasons ?? [],
    status: s.status ?? 'pending',
  });
  await em.flush();
  const created = ago(s.createdAgo ?? 2 * HOUR);
  await em.getConnection().execute(
    `update emails set created_at = ?, updated_at = ?, sent_at = ?, claimed_at = ?, bounce_reason = ?, provider_message_id = ?, last_event_at = ?,
       bounced_at = case when status = 'bounced' then ?::timestamptz else null end where id = ?`,
    [
      created,
      created,
      s.sentAgo === undefined ? null : ago(s.sentAgo),
      s.claimedAgo === undefined ? null : ago(s.claimedAgo),
      s.bounceReason ?? null,
      s.providerMessageId ?? null,
      s.lastEventAgo === undefined ? null : ago(s.lastEventAgo),
      s.lastEventAgo === undefined ? created : ago(s.lastEventAgo),
      e.id,
    ],
  );
  return e.id;
}

/** Stores a SendGrid event for `emailId`, received `receivedAgo` ms ago. */
async function event(ctx: Ctx, emailId: number | null, name: string, receivedAgo: number, extra: { reason?: string; type?: string } = {}): Promise<void> {
  seq++;
  const at = ago(receivedAgo);
  await ctx.db.orm.em.getConnection().execute(
    `insert into email_events (dedup_key, sg_event_id, email_id, event, reason, occurred_at, received_at, payload) values (?, ?, ?, ?, ?, ?, ?, ?::jsonb)`,
    [`evt-${seq}`, `evt-${seq}`, emailId, name, extra.reason ?? null, at, at, JSON.stringify({ event: name, ...(extra.type ? { type: extra.type } : {}) })],
  );
}

/** A healthy day: 10 emails sent 2 h ago, delivered, each with processed and delivered events received. */
async function healthy(ctx: Ctx): Promise<void> {
  for (let i = 0; i < 10; i++) {
    const id = await email(ctx, { status: 'delivered', sentAgo: 2 * HOUR, createdAgo: 2 * HOUR, lastEventAgo: 110 * 60_000, providerMessageId: `m${i}` });
    await event(ctx, id, 'processed', 119 * 60_000);
    await event(ctx, id, 'delivered', 110 * 60_000);
  }
}

const finding = (d: Diagnosis, id: string): Finding => {
  const r = d.results.find((x) => x.id === id);
  assert.ok(r, `diagnostic ${id}`);
  return r!.finding;
};
const causes = (d: Diagnosis) => d.rootCauses.map((c) => c.id).sort();
const remediation = (id: string) => runbook.remediations.find((r) => r.id === id)!;
const diagnostic = (id: string) => runbook.diagnostics.find((d) => d.id === id)!;
const rows = (ctx: Ctx) =>
  ctx.db.orm.em.getConnection().execute<{ id: number; status: string; claimed_at: Date | null; error_message: string | null; provider_message_id: string | null }[]>(
    'select id, status, claimed_at, error_message, provider_message_id from emails order by id',
  );

t('a healthy day indicates no root cause and every diagnostic reads ok', async (ctx) => {
  await healthy(ctx);
  const d = await diagnose(runbook, ctx.rb);
  assert.equal(causes(d), [], JSON.stringify(d.rootCauses));
  for (const r of d.results) assert.is(r.finding.status, 'ok', `${r.id}: ${r.finding.summary}`);
  const sg = finding(d, 'sendgrid-config');
  assert.equal([sg.evidence?.apiKey, sg.evidence?.mode, sg.evidence?.mailSend], ['MISSING', 'sandbox', true]);
  assert.is(sg.evidence?.from, ctx.services.config.sendgridFrom);
  assert.equal((finding(d, 'status-distribution').evidence?.last24h as Record<string, number>).delivered, 10);
  assert.equal(finding(d, 'bounce-rate').evidence?.sent, 10);
});

t('an empty database reads no_data, not problems', async (ctx) => {
  const d = await diagnose(runbook, ctx.rb);
  assert.equal(causes(d), []);
  for (const id of ['status-distribution', 'bounce-rate', 'spam-scores', 'webhook-lag']) assert.is(finding(d, id).status, 'no_data', id);
});

t('a 401 from SendGrid indicates sendgrid-api-key; the key value is never in the evidence', async (ctx) => {
  await healthy(ctx);
  await sandboxAdmin(ctx.sandbox.url).setFault('sendgrid', { fault: 'invalid_key' });
  const d = await diagnose(runbook, ctx.rb);
  assert.equal(causes(d), ['sendgrid-api-key']);
  assert.equal(d.rootCauses[0]!.title, 'SendGrid API key invalid or missing scopes');
  assert.equal(d.rootCauses[0]!.remediations, ['pause-sending']);
  const f = finding(d, 'sendgrid-config');
  assert.is(f.status, 'problem');
  assert.is((f.evidence?.auth as { status: number }).status, 401);
  assert.is(f.evidence?.keyProblem, true);
  assert.match(f.summary, /HTTP 401/);
  assert.not.match(JSON.stringify(f), /SG\.|sandbox-key|Bearer/i);
});

t('a key without the mail.send scope indicates sendgrid-api-key too', async (ctx) => {
  const s = await testServices(ctx.db, { SANDBOX_URL: ctx.sandbox.url, SENDGRID_API_KEY: 'SG.nosend-test-key', SENDGRID_BASE_URL: `${ctx.sandbox.url}/sendgrid` });
  try {
    const r = await runDiagnostic(diagnostic('sendgrid-config'), runbookContext(s));
    assert.is(r.finding.status, 'problem', r.finding.summary);
    assert.equal([r.finding.evidence?.apiKey, r.finding.evidence?.mode, r.finding.evidence?.mailSend], ['SET', 'real', false]);
    assert.not.ok(JSON.stringify(r.finding).includes('nosend-test-key'), 'no key value');
    assert.ok(runbook.rootCauses.find((c) => c.id === 'sendgrid-api-key')!.indicatedBy({ 'sendgrid-config': r.finding }));
  } finally {
    await s.close();
  }
});

t('bounces above 10% of at least 20 sends indicate high-bounce-rate, with reasons (addresses masked)', async (ctx) => {
  for (let i = 0; i < 20; i++) {
    const bounced = i < 4;
    const id = await email(ctx, { status: bounced ? 'bounced' : 'delivered', sentAgo: 3 * HOUR, createdAgo: 3 * HOUR, lastEventAgo: 2 * HOUR, bounceReason: bounced ? `550 5.1.1 <info@biz${i}.example.com>: Recipient address rejected` : undefined });
    await event(ctx, id, 'processed', 3 * HOUR - 60_000);
    if (bounced) await event(ctx, id, 'bounce', 2 * HOUR, { type: 'bounce', reason: `550 5.1.1 <info@biz${i}.example.com>: Recipient address rejected` });
    else await event(ctx, id, 'delivered', 2 * HOUR);
  }
  const d = await diagnose(runbook, ctx.rb);
  assert.equal(causes(d), ['high-bounce-rate']);
  assert.equal(d.rootCauses[0]!.title, 'Bounce rate above 10%');
  const br = finding(d, 'bounce-rate');
  assert.is(br.status, 'problem');
  assert.equal([br.evidence?.sent, br.evidence?.bounced, br.evidence?.rate, br.evidence?.threshold], [20, 4, 0.2, 0.1]);
  const rb = finding(d, 'recent-bounces');
  assert.is(rb.status, 'warn');
  assert.equal([rb.evidence?.count, rb.evidence?.hard], [4, 4]);
  assert.equal(rb.evidence?.topReasons, [{ reason: '550 5.1.1 <<address>>: Recipient address rejected', n: 4 }]);
  assert.not.match(JSON.stringify(rb), /biz\d+\.example/);
});

t('bounces above the rate on too few sends only warn', async (ctx) => {
  for (let i = 0; i < 5; i++) await email(ctx, { status: i < 2 ? 'bounced' : 'delivered', sentAgo: HOUR / 2, lastEventAgo: HOUR / 4 });
  const f = (await runDiagnostic(diagnostic('bounce-rate'), ctx.rb)).finding;
  assert.is(f.status, 'warn');
  assert.match(f.summary, /too few to judge/);
  const rb = (await runDiagnostic(diagnostic('recent-bounces'), ctx.rb)).finding;
  assert.equal([rb.evidence?.count, rb.evidence?.source], [2, 'emails']);
});

t('stuck sending and pending indicate emails-stuck-pending; resend-stuck requeues only what SendGrid provably never accepted', async (ctx) => {
  await healthy(ctx); // the webhook delivered events in the last 2 h: it works
  const lost = await email(ctx, { status: 'sending', claimedAgo: 4 * HOUR, createdAgo: 4 * HOUR });
  const accepted = await email(ctx, { status: 'sending', claimedAgo: 4 * HOUR, createdAgo: 4 * HOUR });
  await event(ctx, accepted, 'processed', 4 * HOUR - 60_000); // SendGrid took it before the worker died
  const withId = await email(ctx, { status: 'sending', claimedAgo: 4 * HOUR, providerMessageId: 'msg-x' });
  const fresh = await email(ctx, { status: 'sending', claimedAgo: 60_000 }); // a live worker's claim
  const oldPending = await email(ctx, { status: 'pending', createdAgo: 5 * HOUR });

  const d = await diagnose(runbook, ctx.rb);
  assert.equal(causes(d), ['emails-stuck-pending']);
  const f = finding(d, 'stuck-emails');
  assert.is(f.status, 'problem');
  assert.equal([f.evidence?.stuckSending, f.evidence?.stuckPending, f.evidence?.thresholdMinutes], [3, 1, 30]);
  assert.equal(f.evidence?.sendingIds, [lost, accepted, withId]);

  const r = await remediation('resend-stuck').run(ctx.rb, {}, 'test:op');
  assert.match(r.summary, /Requeued 1 email/);
  assert.match(r.summary, /2 left in sending/);
  assert.match(r.summary, /1 pending for more than 30 min/);
  const byId = new Map((await rows(ctx)).map((x) => [x.id, x]));
  assert.is(byId.get(lost)!.status, 'pending');
  assert.is(byId.get(lost)!.claimed_at, null);
  assert.match(byId.get(lost)!.error_message ?? '', /requeued/);
  for (const id of [accepted, withId, fresh]) assert.is(byId.get(id)!.status, 'sending', `email ${id} kept`);
  assert.is(byId.get(oldPending)!.status, 'pending');
  // A second run changes nothing.
  assert.match((await remediation('resend-stuck').run(ctx.rb, {}, 'test:op')).summary, /Requeued 0 email/);

  // The requeued email goes out once with the next batch; the kept ones are never sent again: the batch's reaper
  // step marks them sent on the proof we hold (an event for one, the X-Message-Id for the other), with no lookup.
  await sandboxAdmin(ctx.sandbox.url).resetStats();
  await sendPending(pipelineDeps(ctx.services));
  assert.is((await sandboxAdmin(ctx.sandbox.url).stats()).requests.sendgrid, 2, 'the requeued email and the old pending one, nothing else');
  const after = new Map((await rows(ctx)).map((x) => [x.id, x]));
  assert.equal([lost, oldPending, accepted, withId, fresh].map((id) => after.get(id)!.status), ['sent', 'sent', 'sent', 'sent', 'sending']);
  assert.is(after.get(withId)!.provider_message_id, 'msg-x');
});

t('without webhook proof, stuck sending emails are never requeued', async (ctx) => {
  const id = await email(ctx, { status: 'sending', claimedAgo: 4 * HOUR });
  const r = await remediation('resend-stuck').run(ctx.rb, {}, 'test:op');
  assert.match(r.summary, /Requeued 0 email.*1 left in sending/);
  assert.is((await rows(ctx)).find((x) => x.id === id)!.status, 'sending');
});

t('requeued emails make the stuck-emails recheck read ok', async (ctx) => {
  await healthy(ctx);
  await email(ctx, { status: 'sending', claimedAgo: 3 * HOUR });
  assert.is((await runDiagnostic(diagnostic('stuck-emails'), ctx.rb)).finding.status, 'problem');
  await remediation('resend-stuck').run(ctx.rb, {}, 'test:op');
  const f = (await runDiagnostic(diagnostic(remediation('resend-stuck').recheck), ctx.rb)).finding;
  assert.is(f.status, 'ok', f.summary);
});

t('held drafts and spam reports indicate spam-content', async (ctx) => {
  await healthy(ctx);
  for (let i = 0; i < 4; i++) await email(ctx, { status: 'held', spamScore: 70, spamReasons: ['ALL CAPS subject', 'free offer'], createdAgo: HOUR });
  await email(ctx, { status: 'spam_reported', spamScore: 45, sentAgo: 3 * HOUR, lastEventAgo: HOUR, spamReasons: ['free offer'] });
  const d = await diagnose(runbook, ctx.rb);
  assert.ok(causes(d).includes('spam-content'), JSON.stringify(causes(d)));
  const f = finding(d, 'spam-scores');
  assert.is(f.status, 'problem');
  assert.equal([f.evidence?.held, f.evidence?.threshold, f.evidence?.spamReports24h, f.evidence?.maxScore], [4, 50, 1, 70]);
  assert.equal((f.evidence?.topRules as { rule: string; n: number }[])[0], { rule: 'free offer', n: 5 });
});

t('sends with no webhook events for hours indicate webhook-not-receiving', async (ctx) => {
  for (let i = 0; i < 6; i++) await email(ctx, { status: 'sent', sentAgo: 3 * HOUR, createdAgo: 3 * HOUR, providerMessageId: `m${i}` });
  await event(ctx, null, 'open', 30 * HOUR);
  const d = await diagnose(runbook, ctx.rb);
  assert.equal(causes(d), ['webhook-not-receiving']);
  const f = finding(d, 'webhook-lag');
  assert.equal([f.status, f.evidence?.sentWindow, f.evidence?.silent, f.evidence?.lastEventAgeMinutes], ['problem', 6, 6, 1800]);
});

t('pause-sending: the delivery stage sends nothing and says so; resume-sending lets the batch go', async (ctx) => {
  const ids = [await email(ctx, { createdAgo: 60_000 }), await email(ctx, { createdAgo: 60_000 })];
  const pause = remediation('pause-sending');
  assert.is(pause.requiredRole, 'operator');
  assert.match((await pause.run(ctx.rb, {}, 'slack:U1')).summary, /paused by slack:U1/);
  const setting = await getSettingEntry(ctx.db.orm.em.fork(), 'delivery.paused');
  assert.equal([setting?.value, setting?.updatedBy], [true, 'slack:U1']);
  const recheck = (await runDiagnostic(diagnostic(pause.recheck), ctx.rb)).finding;
  assert.equal([recheck.status, recheck.evidence?.by], ['warn', 'slack:U1']);
  const d = await diagnose(runbook, ctx.rb);
  assert.equal(causes(d), ['delivery-paused']);

  await sandboxAdmin(ctx.sandbox.url).resetStats();
  const r = await sendPending(pipelineDeps(ctx.services));
  assert.equal(r.paused?.by, 'slack:U1');
  assert.is(r.emailed, 0);
  assert.is((await sandboxAdmin(ctx.sandbox.url).stats()).requests.sendgrid, 0);
  assert.equal((await rows(ctx)).map((x) => x.status), ['pending', 'pending']);

  const resume = remediation('resume-sending');
  assert.match((await resume.run(ctx.rb, {}, 'slack:U2')).summary, /resumed by slack:U2 \(paused by slack:U1\)/);
  assert.is((await runDiagnostic(diagnostic(resume.recheck), ctx.rb)).finding.status, 'ok');
  const r2 = await sendPending(pipelineDeps(ctx.services));
  assert.equal([r2.emailed, r2.paused], [2, undefined]);
  assert.equal((await rows(ctx)).filter((x) => ids.includes(x.id)).map((x) => x.status), ['sent', 'sent']);
});

t('paused delivery explains pending emails: stuck-emails warns instead of a problem', async (ctx) => {
  await remediation('pause-sending').run(ctx.rb, {}, 'cli');
  await email(ctx, { createdAgo: 3 * HOUR });
  const f = (await runDiagnostic(diagnostic('stuck-emails'), ctx.rb)).finding;
  assert.equal([f.status, f.evidence?.deliveryPaused], ['warn', true]);
});

t('list rules: syntax, reserved domains, misspelled mailbox domains; example.com only in the sandbox', () => {
  assert.ok(checkAddressRules('owner@joes-pizza.com').ok);
  assert.equal(checkAddressRules('a@b'), { ok: false, reason: 'domain has no dot' });
  assert.match((checkAddressRules('x@shop.test') as { reason: string }).reason, /reserved/);
  assert.match((checkAddressRules('bob@gmial.com') as { reason: string }).reason, /misspelled/);
  assert.not.ok(checkAddressRules('info@joes.example.com').ok);
  assert.ok(checkAddressRules('info@joes.example.com', { allowExampleDomains: true }).ok);
  assert.is(maskAddresses('550 <a.b@c.com> rejected'), '550 <<address>> rejected');
});

t('validate-email-list suppresses invalid queued addresses, reports how many, and the recheck reads ok', async (ctx) => {
  await email(ctx, { to: 'good@biz.example.com' });
  const bad = [await email(ctx, { to: 'bob@gmial.com' }), await email(ctx, { to: 'nobody@shop.test', status: 'held' }), await email(ctx, { to: 'a@b' })];
  await email(ctx, { to: 'gone@gmial.com', status: 'delivered', sentAgo: HOUR }); // already sent: not the queue
  const d = await diagnose(runbook, ctx.rb);
  assert.ok(causes(d).includes('invalid-addresses'));
  const f = finding(d, 'invalid-addresses');
  assert.equal([f.status, f.evidence?.checked, f.evidence?.unsuppressed, f.evidence?.ids], ['warn', 4, 3, bad]);

  const rem = remediation('validate-email-list');
  const r = await rem.run(ctx.rb, {}, 'slack:U9');
  assert.match(r.summary, /^Checked 4 queued address\(es\): 3 invalid, 3 newly suppressed, 0 already suppressed/);
  const em = ctx.db.orm.em.fork();
  for (const a of ['bob@gmial.com', 'nobody@shop.test', 'a@b']) assert.ok(await isSuppressed(em, a), a);
  assert.not.ok(await isSuppressed(em, 'good@biz.example.com'));
  assert.not.ok(await isSuppressed(em, 'gone@gmial.com'));
  const [row] = await em.getConnection().execute<{ reason: string; source: string }[]>('select reason, source from email_suppressions where email_hash = ?', [emailHash('a@b')]);
  assert.equal([row?.reason, row?.source], ['invalid', 'operator']);
  assert.is((await runDiagnostic(diagnostic(rem.recheck), ctx.rb)).finding.status, 'ok');
  assert.match((await rem.run(ctx.rb, {}, 'slack:U9')).summary, /3 invalid, 0 newly suppressed, 3 already suppressed/);
  // The delivery stage then skips them instead of sending.
  await sandboxAdmin(ctx.sandbox.url).resetStats();
  await sendPending(pipelineDeps(ctx.services));
  assert.is((await sandboxAdmin(ctx.sandbox.url).stats()).requests.sendgrid, 1);
});

t('remediations declare role, risk, confirmation, idempotency key and a recheck', () => {
  for (const r of runbook.remediations) {
    assert.is(r.requiredRole, 'operator', r.id);
    assert.is(r.risk, 'write', r.id);
    assert.ok(r.confirmation.length > 20, r.id);
    assert.is(r.idempotencyKey({}), r.id);
  }
  assert.equal(runbook.remediations.map((r) => r.id).sort(), ['pause-sending', 'resend-stuck', 'resume-sending', 'retry-failed-sends', 'validate-email-list']);
});

t.run();
