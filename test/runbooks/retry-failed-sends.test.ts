/**
 * "Failed sends recover" (issue #14 point 5), the operator's part: the email-delivery runbook's `failed-sends`
 * diagnostic and root cause, and the "Retry failed sends" remediation through every door (the Slack button's value,
 * `/lf fix`), against real PostgreSQL and the sandbox's SendGrid (real adapter and gateway). Every `mail/send` the
 * sandbox receives is recorded with its `custom_args.email_id`, so "sent exactly once" is counted, not assumed.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Business, Email, type IEmail } from '../../db/entities/index.js';
import type { Database } from '../../db/orm.js';
import { executeLf } from '../../bot/commands/execute.js';
import { parseLf } from '../../bot/commands/spec.js';
import { sendPending } from '../../domain/delivery/send.js';
import { addSuppression } from '../../domain/delivery/suppression.js';
import { AppError } from '../../domain/errors.js';
import { sandboxAdmin, startSandbox, type Sandbox } from '../../domain/sandbox/index.js';
import type { Services } from '../../domain/services.js';
import { executeRemediation, recentAudit, type Actor } from '../../runbooks/actions.js';
import type { RunbookContext } from '../../runbooks/context.js';
import { diagnose, runDiagnostic, type Diagnosis, type Finding } from '../../runbooks/define.js';
import { runbook } from '../../runbooks/email-delivery.js';
import { RUNBOOKS } from '../../runbooks/index.js';
import { REMEDIATE_ACTION_PREFIX, diagnosisBlocks, type RemediationButtonValue } from '../../bot/render/diagnosis-blocks.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { pipelineDeps, testServices } from '../helpers/services.js';

type Ctx = { db: Database; sandbox: Sandbox; services: Services; rb: RunbookContext; sent: string[] };
const t = suite<Ctx>(`runbook email-delivery: retry failed sends (${DB_KIND})`);

const OPERATOR: Actor = { id: 'slack:UOPER', role: 'operator', source: 'slack', display: '<@UOPER>' };
const VIEWER: Actor = { id: 'slack:UVIEW', role: 'viewer', source: 'slack', display: '<@UVIEW>' };
const ACTION = 'remediation:email-delivery/retry-failed-sends';

t.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.sandbox = await startSandbox({ seed: 14 });
  ctx.sent = [];
  ctx.sandbox.interceptors.push((route, req) => {
    if (route.path === '/sendgrid/v3/mail/send') ctx.sent.push(String(JSON.parse(req.body.toString('utf8')).personalizations?.[0]?.custom_args?.email_id));
    return undefined;
  });
  // the default backoff (60 s, doubling): after a failed batch the retries are scheduled in the future, so only the
  // operator's retry makes the next batch send them
  ctx.services = await testServices(ctx.db, { SANDBOX_URL: ctx.sandbox.url, EMAIL_BATCH_SIZE: '50', PROVIDER_TIMEOUT_MS: '2000', GATEWAY_RETRY_ATTEMPTS: '1' });
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
  ctx.sent.length = 0;
});

let seq = 0;
/** `n` pending emails (ids never repeat across tests: the sandbox's activity feed outlives the truncation). */
async function pending(ctx: Ctx, n: number, to?: (i: number) => string): Promise<number[]> {
  const em = ctx.db.orm.em.fork();
  await em.getConnection().execute(`select setval('emails_id_seq', ?)`, [1000 * ++seq]);
  const out: IEmail[] = [];
  for (let i = 0; i < n; i++) {
    seq++;
    const b = em.create(Business, { yelpId: `rf-${seq}`, name: `Biz ${seq}`, status: 'email_pending' });
    out.push(em.create(Email, { business: b, campaign: 'website-audit', toAddress: to?.(i) ?? `owner${seq}@shop.example.com`, subject: `Hi ${seq}`, body: 'Hello.', spamScore: 0 }));
  }
  await em.flush();
  return out.map((e) => e.id);
}

/** `n` emails sent while SendGrid refuses our key (401): they fail as `auth`, their retry scheduled by the backoff. */
async function failedOn401(ctx: Ctx, n: number): Promise<number[]> {
  const ids = await pending(ctx, n);
  await sandboxAdmin(ctx.sandbox.url).setFault('sendgrid', { fault: 'invalid_key' });
  const r = await sendPending(pipelineDeps(ctx.services));
  assert.equal([r.emailed, r.failed, r.willRetry], [0, n, n]);
  return ids;
}

type Row = { id: number; status: string; send_attempts: number; next_attempt_at: Date | null; last_error_class: string | null; error_message: string | null };
const rows = async (ctx: Ctx): Promise<Map<number, Row>> =>
  new Map(
    (
      await ctx.db.orm.em
        .getConnection()
        .execute<Row[]>('select id, status, send_attempts, next_attempt_at, last_error_class, error_message from emails order by id')
    ).map((r) => [Number(r.id), r]),
  );
const finding = (d: Diagnosis, id: string): Finding => d.results.find((r) => r.id === id)!.finding;
const press = (ctx: Ctx, actor: Actor, nonce: string, input: Record<string, unknown> = {}) =>
  executeRemediation(ctx.rb, RUNBOOKS, { runbook: 'email-delivery', remediation: 'retry-failed-sends', input, nonce }, actor);
/** How many times each email id reached SendGrid's mail/send. */
const sendsPerEmail = (ctx: Ctx): Map<string, number> => {
  const m = new Map<string, number>();
  for (const id of ctx.sent) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
};

t('45 sends failed on a 401: failed-sends finds them, the root cause names SendGrid 401 (auth) and offers the Retry button', async (ctx) => {
  const ids = await failedOn401(ctx, 45);
  const d = await diagnose(runbook, ctx.rb);
  const f = finding(d, 'failed-sends');
  assert.is(f.status, 'problem', f.summary);
  assert.equal(f.evidence?.retryable, { total: 45, due: 0, scheduled: 45, stopped: 0, waiting: 45 });
  assert.equal(f.evidence?.permanent, { total: 0, invalidAddress: 0 });
  const [group] = f.evidence?.byClass as { errorClass: string; httpStatus: number; retryable: boolean; n: number; maxAttempts: number; lastError: string }[];
  assert.equal([group!.errorClass, group!.httpStatus, group!.retryable, group!.n, group!.maxAttempts], ['auth', 401, true, 45, 1]);
  assert.match(group!.lastError, /HTTP 401 unauthorized/, group!.lastError);
  assert.ok(f.evidence?.oldestFailedAt, 'the oldest failure is named');
  assert.match(f.summary, /^45 sends failed in the last 24 h \(45 on SendGrid 401 \(auth\)\)/);

  const cause = d.rootCauses.find((c) => c.id === 'failed-sends');
  assert.ok(cause, JSON.stringify(d.rootCauses));
  assert.is(cause!.title, '45 sends failed on SendGrid 401 (auth) in the last 24 h; retryable once the key is fixed');
  assert.equal(cause!.remediations, ['retry-failed-sends']);
  assert.ok(d.rootCauses.some((c) => c.id === 'sendgrid-api-key'), 'the key itself is the other cause');

  // the Slack message carries the button, with its confirmation naming the role
  const msg = diagnosisBlocks({ kind: 'diagnosis', diagnosis: d, runbook, nonce: 'nonce-45', issuedAt: new Date(), full: true });
  const buttons = msg.blocks.flatMap((b) => (b.type === 'actions' ? (b.elements as { action_id: string; value: string; confirm?: { text: { text: string } } }[]) : []));
  const retry = buttons.find((b) => b.action_id === `${REMEDIATE_ACTION_PREFIX}email-delivery/retry-failed-sends`);
  assert.ok(retry, JSON.stringify(buttons.map((b) => b.action_id)));
  assert.match(retry!.confirm!.text.text, /never touched\. Inputs: none\. \(needs the operator role; risk: write\)$/, 'the confirmation is shown whole');
  assert.match(msg.text, /45 sends failed on SendGrid 401/);
  assert.is(ids.length, 45);
});

t('pressed as operator once the key works: the failed sends are due now (history kept) and the next batch sends each exactly once', async (ctx) => {
  const ids = await failedOn401(ctx, 45);
  await sandboxAdmin(ctx.sandbox.url).clearFaults();
  // the backoff has not come round: a batch now sends nothing
  const early = await sendPending(pipelineDeps(ctx.services));
  assert.equal([early.retried, early.emailed], [0, 0]);
  assert.is(ctx.sent.length, 0);

  const d = await diagnose(runbook, ctx.rb);
  assert.is(d.rootCauses.find((c) => c.id === 'failed-sends')?.title, '45 sends failed on SendGrid 401 (auth) in the last 24 h; SendGrid accepts the key again: retry them now');
  const msg = diagnosisBlocks({ kind: 'diagnosis', diagnosis: d, runbook, nonce: 'nonce-op', issuedAt: new Date(), full: true });
  const button = msg.blocks
    .flatMap((b) => (b.type === 'actions' ? (b.elements as { action_id: string; value: string }[]) : []))
    .find((b) => b.action_id.endsWith('/retry-failed-sends'))!;
  const v = JSON.parse(button.value) as RemediationButtonValue;
  // what the button handler (bot/listeners/actions/remediate.ts) does with the click
  const before = Date.now();
  const out = await executeRemediation(ctx.rb, RUNBOOKS, { runbook: v.r, remediation: v.m, input: v.i, nonce: v.n, issuedAt: new Date(v.t) }, OPERATOR);
  assert.is(out.status, 'succeeded', JSON.stringify(out));
  if (out.status !== 'succeeded') return;
  assert.match(out.detail, /^Queued 45 failed sends of the last 24 h \(45 auth; ids /);
  assert.match(out.detail, /attempt history kept: each is sent once/);
  assert.is(out.fixed, true, out.recheck?.finding.summary);
  assert.match(out.recheck!.finding.summary, /45 retryable sends are due: the next email batch retries them/);

  const queued = await rows(ctx);
  for (const id of ids) {
    const r = queued.get(id)!;
    assert.equal([r.status, r.send_attempts, r.last_error_class], ['failed', 1, 'auth'], `email ${id}: attempt history kept`);
    assert.match(r.error_message ?? '', /HTTP 401 unauthorized/);
    assert.ok(r.next_attempt_at && new Date(r.next_attempt_at).getTime() <= Date.now() && new Date(r.next_attempt_at).getTime() >= before - 1000, `email ${id} due now`);
  }
  const [audit] = await recentAudit(ctx.db.orm.em.fork(), { action: ACTION });
  assert.equal([audit!.actor, audit!.actorRole, audit!.outcome], ['slack:UOPER', 'operator', 'succeeded']);
  assert.equal(audit!.input, { includePermanent: false, hours: 24 });

  const batch = await sendPending(pipelineDeps(ctx.services));
  assert.equal([batch.retried, batch.emailed, batch.failed], [45, 45, 0]);
  const again = await sendPending(pipelineDeps(ctx.services));
  assert.equal([again.retried, again.emailed], [0, 0]);
  const per = sendsPerEmail(ctx);
  assert.equal([...per.keys()].sort(), ids.map(String).sort(), 'every email reached SendGrid');
  assert.ok([...per.values()].every((n) => n === 1), `each exactly once: ${JSON.stringify([...per])}`);
  const done = await rows(ctx);
  assert.ok(ids.every((id) => done.get(id)!.status === 'sent' && done.get(id)!.send_attempts === 2), 'sent on the second attempt');

  // a later press (a fresh diagnosis) finds nothing to queue: sent emails are never touched
  const later = await press(ctx, OPERATOR, 'nonce-later');
  assert.ok(later.status === 'succeeded' && /^No failed send of the last 24 h to queue\./.test(later.detail), JSON.stringify(later));
  assert.is((await sendPending(pipelineDeps(ctx.services))).emailed, 0);
  assert.is(ctx.sent.length, 45);
});

t('a viewer is refused and audited; nothing is queued', async (ctx) => {
  const ids = await failedOn401(ctx, 3);
  await sandboxAdmin(ctx.sandbox.url).clearFaults();
  const before = await rows(ctx);
  const out = await press(ctx, VIEWER, 'nonce-viewer');
  assert.equal([out.status, out.status === 'refused' && out.reason], ['refused', 'role']);
  assert.match((out as { detail: string }).detail, /Retry failed sends needs the operator role; slack:UVIEW has viewer/);
  const [audit] = await recentAudit(ctx.db.orm.em.fork(), { action: ACTION });
  assert.equal([audit!.actor, audit!.actorRole, audit!.outcome], ['slack:UVIEW', 'viewer', 'refused']);
  const after = await rows(ctx);
  for (const id of ids) assert.equal(after.get(id)!.next_attempt_at, before.get(id)!.next_attempt_at, `email ${id} untouched`);
  const claims = await ctx.db.orm.em.getConnection().execute<{ n: number }[]>("select count(*)::int as n from remediation_claims where remediation = 'retry-failed-sends'");
  assert.is(claims[0]!.n, 0, 'a refusal takes no claim');
  assert.is((await sendPending(pipelineDeps(ctx.services))).emailed, 0);
});

t('a double press is a duplicate claim: queued once, sent once, both presses audited', async (ctx) => {
  const ids = await failedOn401(ctx, 4);
  await sandboxAdmin(ctx.sandbox.url).clearFaults();
  const [first, second] = await Promise.all([press(ctx, OPERATOR, 'nonce-double'), press(ctx, { ...OPERATOR, id: 'slack:UOTHER', display: '<@UOTHER>' }, 'nonce-double')]);
  const outcomes = [first.status, second.status].sort();
  assert.equal(outcomes, ['duplicate', 'succeeded']);
  const dup = (first.status === 'duplicate' ? first : second) as { detail: string; claimedBy: string };
  assert.match(dup.detail, /^already (done|being done) by slack:U/);
  const audits = await recentAudit(ctx.db.orm.em.fork(), { action: ACTION });
  assert.equal(audits.map((a) => a.outcome).sort(), ['duplicate', 'succeeded']);
  await sendPending(pipelineDeps(ctx.services));
  assert.equal(ctx.sent.slice().sort(), ids.map(String).sort(), 'each sent once');
});

t('invalid addresses, suppressed addresses and accepted sends are never resent, even with includePermanent=true', async (ctx) => {
  // one invalid address (our syntax check: failed + suppressed), four 401s, one of them unsubscribed since
  const [invalid] = await pending(ctx, 1, () => 'not-an-address');
  assert.is((await sendPending(pipelineDeps(ctx.services))).invalid, 1);
  const auth = await failedOn401(ctx, 4);
  const [unsubscribed, accepted, content] = auth;
  const em = ctx.db.orm.em.fork();
  const addr = (await em.getConnection().execute<{ to_address: string }[]>('select to_address from emails where id = ?', [unsubscribed]))[0]!.to_address;
  await addSuppression(em, addr, 'unsubscribe', 'unsubscribe_link');
  // one SendGrid took after all (a webhook event carries its id); one is a permanent failure (SendGrid refused the content)
  await em.getConnection().execute(
    `insert into email_events (dedup_key, sg_event_id, email_id, event, occurred_at, received_at, payload) values ('rf-ev', 'rf-ev', ?, 'processed', now(), now(), '{}'::jsonb)`,
    [accepted],
  );
  await em.getConnection().execute(`update emails set last_error_class = 'invalid_content', next_attempt_at = null, error_message = 'HTTP 400: content: bad' where id = ?`, [content]);
  await sandboxAdmin(ctx.sandbox.url).clearFaults();

  const f = (await runDiagnostic(runbook.diagnostics.find((x) => x.id === 'failed-sends')!, ctx.rb)).finding;
  assert.equal(f.evidence?.permanent, { total: 2, invalidAddress: 1 });

  // without the flag the permanent failure stays
  const plain = await press(ctx, OPERATOR, 'nonce-plain');
  assert.is(plain.status, 'succeeded');
  assert.match((plain as { detail: string }).detail, /Queued 1 failed send .*Left alone: 1 invalid address \(never resent\); 1 suppressed .*; 1 permanent failure \(includePermanent=true resends them\); 1 SendGrid already accepted/);
  // with it (a fresh offer), the permanent one goes too — never the invalid, the suppressed or the accepted one
  const all = await press(ctx, OPERATOR, 'nonce-all', { includePermanent: true });
  assert.is(all.status, 'succeeded', JSON.stringify(all));
  assert.match((all as { detail: string }).detail, /Queued 1 failed send .*\(1 invalid_content;.*Left alone: 1 invalid address \(never resent\); 1 suppressed/);

  const r = await sendPending(pipelineDeps(ctx.services));
  assert.equal(r.emailed, 2, JSON.stringify(r));
  const per = sendsPerEmail(ctx);
  assert.equal([...per.keys()].sort(), [String(auth[3]), String(content)].sort());
  for (const id of [invalid!, unsubscribed!, accepted!]) assert.not.ok(per.has(String(id)), `email ${id} never resent`);
  const after = await rows(ctx);
  assert.equal([after.get(invalid!)!.status, after.get(invalid!)!.last_error_class], ['failed', 'invalid_address']);
  assert.is(after.get(unsubscribed!)!.status, 'failed');
  assert.is(after.get(accepted!)!.status === 'sent' || after.get(accepted!)!.status === 'failed', true);
});

t('lf fix email-delivery retry-failed-sends: typed inputs taken strictly; an unknown key or a bad value is a usage error', async (ctx) => {
  const ids = await failedOn401(ctx, 2);
  await sandboxAdmin(ctx.sandbox.url).clearFaults();
  const cli: Actor = { id: 'cli:alice', role: 'operator', source: 'cli', display: 'alice' };
  for (const bad of ['fix email-delivery retry-failed-sends includePermanant=true', 'fix email-delivery retry-failed-sends includePermanent=']) {
    try {
      await executeLf(ctx.rb, parseLf(bad), cli);
      assert.unreachable(bad);
    } catch (err) {
      assert.instance(err, AppError);
      assert.is((err as AppError).code, 'bad_request');
      assert.match((err as Error).message, /includePermanent/);
    }
  }
  const typo = await executeLf(ctx.rb, parseLf('fix email-delivery retry-failed-sends hours=0'), cli);
  assert.ok(typo.kind === 'remediation' && typo.outcome.status === 'refused' && typo.outcome.reason === 'bad_input', JSON.stringify(typo));
  const ok = await executeLf(ctx.rb, parseLf('fix email retry-failed-sends hours=48'), cli);
  assert.ok(ok.kind === 'remediation' && ok.outcome.status === 'succeeded', JSON.stringify(ok));
  assert.match((ok as { outcome: { detail: string } }).outcome.detail, /^Queued 2 failed sends of the last 48 h/);
  await sendPending(pipelineDeps(ctx.services));
  assert.equal(ctx.sent.slice().sort(), ids.map(String).sort());
});

t.run();
