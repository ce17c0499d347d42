/**
 * Poison-proof intake, end to end on the real routes and signature schemes (SendGrid ECDSA Signed Event Webhook,
 * Alertmanager bearer token) and the real database (PostgreSQL with DATABASE_URL): U+0000 and lone surrogates are
 * made storable, a bad event is dead-lettered while the rest of its batch is applied, the provider gets its 2xx,
 * every refusal is audited, `/lf deadletters` lists them and the replay (operator) re-applies one.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMetrics } from '../../alerts/metrics.js';
import { alertmanagerWebhookRoute, type AlertmanagerWebhookRoute } from '../../bot/webhooks/alertmanager.js';
import type { WebhookDeps, WebhookRoute } from '../../bot/webhooks/index.js';
import { sendgridWebhookRoute } from '../../bot/webhooks/sendgrid.js';
import { executeLf } from '../../bot/commands/execute.js';
import { parseLf } from '../../bot/commands/spec.js';
import { errorMessage } from '../../bot/listeners/commands/lf.js';
import { classifyError as classify } from '../../domain/errors.js';
import { Business, Email } from '../../db/entities/index.js';
import type { Database } from '../../db/orm.js';
import { emailHash } from '../../domain/delivery/suppression.js';
import type { Services } from '../../domain/services.js';
import type { Actor } from '../../runbooks/actions.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';

const keys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const PUBLIC_KEY = keys.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
const TOKEN = 'am-poison-token-0123456789';
const OPERATOR: Actor = { id: 'slack:UOPER', role: 'operator', source: 'slack', display: '<@UOPER>' };
const VIEWER: Actor = { ...OPERATOR, id: 'slack:UVIEW', role: 'viewer' };

type Ctx = { db: Database; services: Services; server: http.Server; base: string; routes: WebhookRoute[]; am: AlertmanagerWebhookRoute };
const t = suite<Ctx>(`poison-proof intake (${DB_KIND})`);

t.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.services = await testServices(ctx.db);
  const s = ctx.services;
  const deps: WebhookDeps = {
    config: { ...s.config, delivery: { ...s.config.delivery, sendgridWebhookPublicKey: PUBLIC_KEY }, alerting: { ...s.config.alerting, alertmanagerToken: TOKEN } },
    logger: s.logger,
    orm: ctx.db.orm,
    clock: s.clock,
    metrics: createMetrics(),
    providers: s.providers,
  };
  ctx.am = alertmanagerWebhookRoute(deps);
  ctx.routes = [sendgridWebhookRoute(deps), ctx.am];
  ctx.server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const r = ctx.routes.find((x) => x.path === path);
    if (r) r.handler(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((ok) => ctx.server.listen(0, '127.0.0.1', ok));
  ctx.base = `http://127.0.0.1:${(ctx.server.address() as AddressInfo).port}`;
});
t.after(async (ctx) => {
  await ctx.am.idle();
  await new Promise((ok) => ctx.server.close(ok));
  await ctx.services.close();
  await ctx.db.close();
});
t.before.each(async (ctx) => {
  await ctx.am.idle();
  await truncateAll(ctx.db);
});

const sql = <T>(ctx: Ctx, q: string, p: unknown[] = []) => ctx.db.orm.em.getConnection().execute<T[]>(q, p);
async function post(ctx: Ctx, path: string, body: string, headers: Record<string, string>): Promise<{ status: number; json: any }> {
  const res = await fetch(ctx.base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}
function sendgrid(ctx: Ctx, events: unknown[], opts: { badSignature?: boolean } = {}) {
  const body = JSON.stringify(events) + '\r\n';
  const ts = String(Math.floor(Date.now() / 1000));
  const sig = sign('sha256', Buffer.concat([Buffer.from(ts), Buffer.from(opts.badSignature ? body + ' ' : body)]), keys.privateKey).toString('base64');
  return post(ctx, '/webhooks/sendgrid', body, { 'X-Twilio-Email-Event-Webhook-Signature': sig, 'X-Twilio-Email-Event-Webhook-Timestamp': ts });
}
let seq = 0;
async function sentEmail(ctx: Ctx, to: string): Promise<{ id: number; msg: string }> {
  const em = ctx.db.orm.em.fork();
  seq++;
  const b = em.create(Business, { yelpId: `p-${seq}`, name: `Biz ${seq}`, status: 'emailed' });
  const msg = `pmsg${seq}xxxxxxxxxxxxxxxx`.slice(0, 22);
  const e = em.create(Email, { business: b, campaign: 'c', toAddress: to, subject: 's', body: 'b', spamScore: 0, status: 'sent', providerMessageId: msg, sentAt: new Date(Date.now() - 3600_000) });
  await em.flush();
  return { id: e.id, msg };
}
const ev = (m: { id: number; msg: string }, to: string, event: string, extra: Record<string, unknown> = {}) => ({
  email: to,
  event,
  timestamp: Math.floor(Date.now() / 1000) - 60,
  sg_event_id: `sg-${event}-${m.id}`,
  sg_message_id: `${m.msg}.filter0001`,
  email_id: String(m.id),
  ...extra,
});

t('SendGrid batch [delivered, bounce whose reason ends in U+0000, spamreport]: 200, all applied, spam report suppresses, no 5xx on redelivery', async (ctx) => {
  const a = await sentEmail(ctx, 'a@example.com');
  const b = await sentEmail(ctx, 'b@example.com');
  const c = await sentEmail(ctx, 'c@example.com');
  const batch = [
    ev(a, 'a@example.com', 'delivered'),
    ev(b, 'b@example.com', 'bounce', { type: 'bounce', reason: '550 5.1.1 mailbox does not exist\u0000' }),
    ev(c, 'c@example.com', 'spamreport'),
  ];
  const statuses: number[] = [];
  const first = await sendgrid(ctx, batch);
  statuses.push(first.status);
  for (let i = 0; i < 3; i++) statuses.push((await sendgrid(ctx, batch)).status);
  const emails = await sql<{ to_address: string; status: string; bounce_reason: string | null }>(ctx, 'select to_address, status, bounce_reason from emails order by id');
  const supp = await sql<{ reason: string }>(ctx, 'select reason from email_suppressions where email_hash = ?', [emailHash('c@example.com')]);
  const [stored] = await sql<{ n: number; raw: number }>(ctx, 'select count(*)::int as n, count(raw_json)::int as raw from email_events');
  const [bounce] = await sql<{ reason: string; raw_json: string }>(ctx, "select reason, raw_json from email_events where event = 'bounce'");
  console.log(`  figures: SendGrid answers ${statuses.join(', ')}; first batch ${JSON.stringify({ stored: first.json.stored, applied: first.json.applied, sanitized: first.json.sanitized, deadLettered: first.json.deadLettered })}; ` +
    `emails ${emails.map((e) => e.status).join('/')}; spamreport suppression rows ${supp.length}; events stored ${stored!.n} (raw kept for ${stored!.raw})`);
  assert.equal(statuses, [200, 200, 200, 200], 'no 5xx, first delivery or redelivery');
  assert.equal([first.json.stored, first.json.applied, first.json.sanitized, first.json.deadLettered], [3, 3, 1, 0]);
  assert.equal(emails.map((e) => e.status), ['delivered', 'bounced', 'spam_reported']);
  assert.is(emails[1]!.bounce_reason, '550 5.1.1 mailbox does not exist\uFFFD');
  assert.equal(supp.map((r) => r.reason), ['spamreport']);
  assert.is(stored!.n, 3, 'redeliveries are duplicates');
  assert.is(bounce!.reason, '550 5.1.1 mailbox does not exist\uFFFD');
  assert.is(JSON.parse(bounce!.raw_json).reason, '550 5.1.1 mailbox does not exist\u0000', 'the original kept, losslessly');
});

t('a bad event is dead-lettered with its reason and an audit row; the rest of the batch is applied; 200', async (ctx) => {
  const a = await sentEmail(ctx, 'a@example.com');
  const c = await sentEmail(ctx, 'c@example.com');
  const batch = [
    ev(a, 'a@example.com', 'delivered'),
    ev(a, 'a@example.com', 'open', { timestamp: 1e17, sg_event_id: 'sg-far-future' }), // no PostgreSQL timestamp can hold it
    'not an event',
    ev(c, 'c@example.com', 'spamreport', { sg_event_id: 'sg-spam-lone-\uD800' }),
  ];
  const r = await sendgrid(ctx, batch);
  const again = await sendgrid(ctx, batch);
  assert.is(r.status, 200);
  assert.is(again.status, 200);
  assert.equal([r.json.stored, r.json.deadLettered, r.json.skipped], [2, 2, 1]);
  const dls = await sql<{ id: number; source: string; dedup_key: string; reason: string; attempts: number; status: string }>(ctx, 'select id, source, dedup_key, reason, attempts, status from dead_letters order by id');
  assert.equal(dls.map((d) => [d.source, d.dedup_key.startsWith('invalid:') ? 'invalid' : d.dedup_key, d.attempts, d.status]), [
    ['sendgrid', 'sg-far-future', 2, 'open'],
    ['sendgrid', 'invalid', 2, 'open'],
  ]);
  assert.match(dls[1]!.reason, 'not a SendGrid event');
  const supp = await sql(ctx, 'select 1 from email_suppressions where email_hash = ?', [emailHash('c@example.com')]);
  assert.is(supp.length, 1, 'the event after the bad ones still suppressed its address');
  const audits = await sql<{ actor: string; action: string; outcome: string }>(ctx, "select actor, action, outcome from audit_log where action = 'intake:dead_letter'");
  assert.is(audits.length, 4, 'one audit row per dead-lettering (2 events × 2 deliveries)');
  assert.equal([audits[0]!.actor, audits[0]!.outcome], ['webhook:sendgrid', 'refused']);

  // /lf deadletters lists them (viewer); replay is operator-only and re-applies once fixed
  const ctxRb = runbookContext(ctx.services);
  const view = await executeLf(ctxRb, parseLf('deadletters'), VIEWER);
  assert.is(view.kind, 'diagnosis');
  const finding = view.kind === 'diagnosis' ? view.diagnosis.results[0]!.finding : undefined;
  assert.is(finding?.evidence?.open, 2);
  assert.match(finding?.summary ?? '', '2 open dead letter(s) (sendgrid 2)');
  const refused = await executeLf(ctxRb, parseLf(`fix dead-letters replay-dead-letter id=${dls[0]!.id}`), VIEWER);
  assert.ok(refused.kind === 'remediation' && refused.outcome.status === 'refused');
  const still = await executeLf(ctxRb, parseLf(`fix dead-letters replay-dead-letter id=${dls[0]!.id}`), OPERATOR);
  assert.ok(still.kind === 'remediation' && still.outcome.status === 'failed', 'the far-future event still cannot be stored');
  await sql(ctx, `update dead_letters set payload = jsonb_set(payload, '{timestamp}', to_jsonb(?::bigint)) where id = ?`, [Math.floor(Date.now() / 1000) - 30, dls[0]!.id]);
  const ok = await executeLf(ctxRb, parseLf(`fix dead-letters replay-dead-letter id=${dls[0]!.id}`), OPERATOR);
  assert.ok(ok.kind === 'remediation' && ok.outcome.status === 'succeeded', JSON.stringify(ok));
  const [row] = await sql<{ status: string; replayed_by: string }>(ctx, 'select status, replayed_by from dead_letters where id = ?', [dls[0]!.id]);
  assert.equal([row!.status, row!.replayed_by], ['replayed', 'slack:UOPER']);
  const [opened] = await sql<{ n: number }>(ctx, "select count(*)::int as n from email_events where sg_event_id = 'sg-far-future'");
  assert.is(opened!.n, 1);
});

t('bad signature: 403, nothing stored, an audit row', async (ctx) => {
  const a = await sentEmail(ctx, 'a@example.com');
  const r = await sendgrid(ctx, [ev(a, 'a@example.com', 'delivered')], { badSignature: true });
  assert.is(r.status, 403);
  const audits = await sql<{ action: string; outcome: string }>(ctx, 'select action, outcome from audit_log');
  assert.equal(audits.map((x) => [x.action, x.outcome]), [['intake:sendgrid:signature', 'refused']]);
  assert.is((await sql(ctx, 'select 1 from email_events')).length, 0);
});

function amPayload(annotation: string) {
  return {
    version: '4',
    groupKey: '{}:{alertname="DiskFull"}',
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'leadfactory',
    groupLabels: { alertname: 'DiskFull' },
    commonLabels: { alertname: 'DiskFull', severity: 'warning' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    alerts: [
      {
        status: 'firing',
        labels: { alertname: 'DiskFull', severity: 'warning', instance: 'db-1' },
        annotations: { summary: annotation, description: 'lone \uDC00 surrogate' },
        startsAt: '2026-12-05T07:00:00Z',
        endsAt: '0001-01-01T00:00:00Z',
        fingerprint: 'abc123',
      },
    ],
  };
}

t('Alertmanager annotation with U+0000 and a lone surrogate: 200, stored and processed; wrong token audited', async (ctx) => {
  const body = JSON.stringify(amPayload('disk 97% full\u0000'));
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) statuses.push((await post(ctx, '/alerts/alertmanager', body, { authorization: `Bearer ${TOKEN}` })).status);
  await ctx.am.idle();
  const inbox = await sql<{ processed_at: Date | null; error: string | null; payload: any; raw_json: string | null }>(ctx, "select processed_at, error, payload, raw_json from webhook_inbox where provider = 'alertmanager'");
  const alerts = await sql<{ name: string; annotations: any }>(ctx, 'select * from alerts');
  console.log(`  figures: Alertmanager answers ${statuses.join(', ')}; inbox rows ${inbox.length}, processed ${inbox.filter((r) => r.processed_at).length}, alerts stored ${alerts.length}`);
  assert.equal(statuses, [200, 200, 200]);
  assert.is(inbox.length, 1);
  assert.ok(inbox[0]!.processed_at, inbox[0]!.error ?? 'processed');
  assert.is(inbox[0]!.payload.alerts[0].annotations.summary, 'disk 97% full\uFFFD');
  assert.is(inbox[0]!.payload.alerts[0].annotations.description, 'lone \uFFFD surrogate');
  assert.match(inbox[0]!.raw_json ?? '', '\\u0000');
  assert.ok(alerts.length >= 1, 'the alert reached the alerts table');
  const bad = await post(ctx, '/alerts/alertmanager', body, { authorization: 'Bearer wrong' });
  assert.is(bad.status, 401);
  const audits = await sql<{ action: string }>(ctx, "select action from audit_log where action like 'intake:alertmanager%'");
  assert.equal(audits.map((x) => x.action), ['intake:alertmanager:token']);
});

t('/lf with U+0000 in its arguments: a clear bad_request (not internal) and an audit row', async (ctx) => {
  const rb = runbookContext(ctx.services);
  let err: unknown;
  try {
    await executeLf(rb, parseLf('pause daily-pipeline\u0000'), OPERATOR);
  } catch (e) {
    err = e;
  }
  const app = classify(err);
  assert.is(app.code, 'bad_request');
  assert.match(app.message, 'U+0000');
  assert.match(errorMessage(app).text, '`bad_request`');
  const [row] = await sql<{ action: string; outcome: string; detail: string; input: any }>(ctx, 'select action, outcome, detail, input from audit_log');
  assert.equal([row!.action, row!.outcome], ['command:pause', 'refused']);
  assert.match(row!.detail, 'U+0000 at 20');
  assert.equal(row!.input.args, ['daily-pipeline\uFFFD']);
});

t.run();
