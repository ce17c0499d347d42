import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMetrics } from '../../alerts/metrics.js';
import { webhookRoutes, type WebhookRoute } from '../../bot/webhooks/index.js';
import { Business, Email } from '../../db/entities/index.js';
import type { Database } from '../../db/orm.js';
import { emailHash } from '../../domain/delivery/suppression.js';
import {
  createUnsubscribeToken,
  UNSUBSCRIBE_TOKEN_TTL_MS,
  UnsubscribeTokenError,
  verifyUnsubscribeToken,
} from '../../domain/delivery/unsubscribe.js';
import type { Services } from '../../domain/services.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { testServices } from '../helpers/services.js';

type Ctx = { db: Database; services: Services; server: http.Server; base: string };
const t = suite<Ctx>(`delivery: unsubscribe (${DB_KIND})`);
const SECRET = 'unit-secret';

t.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.services = await testServices(ctx.db, { UNSUBSCRIBE_SECRET: SECRET });
  const s = ctx.services;
  // the real route list, as bot/main.ts mounts it on Bolt
  const routes: WebhookRoute[] = webhookRoutes({ config: s.config, logger: s.logger, orm: s.orm, clock: s.clock, metrics: createMetrics(), providers: s.providers });
  assert.ok(routes.some((r) => r.path === '/unsubscribe'));
  ctx.server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const r = routes.find((x) => x.path === path && x.method.includes(req.method ?? ''));
    if (r) r.handler(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((ok) => ctx.server.listen(0, '127.0.0.1', ok));
  ctx.base = `http://127.0.0.1:${(ctx.server.address() as AddressInfo).port}`;
});
t.after(async (ctx) => {
  await new Promise((ok) => ctx.server.close(ok));
  await ctx.services.close();
  await ctx.db.close();
});
t.before.each(async (ctx) => {
  await truncateAll(ctx.db);
});

async function sentEmail(ctx: Ctx, to: string): Promise<number> {
  const em = ctx.db.orm.em.fork();
  const b = em.create(Business, { yelpId: `u-${to}`, name: 'Biz', status: 'emailed' });
  const e = em.create(Email, { business: b, campaign: 'c', toAddress: to, subject: 's', body: 'b', spamScore: 0, status: 'delivered', sentAt: new Date() });
  await em.flush();
  return e.id;
}
const sql = <T>(ctx: Ctx, q: string, p: unknown[] = []) => ctx.db.orm.em.getConnection().execute<T[]>(q, p);
const state = async (ctx: Ctx) => ({
  emails: await sql<{ status: string }>(ctx, 'select status from emails order by id'),
  suppressions: await sql<{ email_hash: string; reason: string; source: string }>(ctx, 'select email_hash, reason, source from email_suppressions'),
});
const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof UnsubscribeTokenError ? err.code : 'other';
  }
};

t('token round trip; tampered, foreign-secret, malformed and expired tokens are refused', () => {
  const now = new Date('2026-03-01T00:00:00Z');
  const token = createUnsubscribeToken(SECRET, 42, ' Owner@Shop.example ', now);
  assert.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  const c = verifyUnsubscribeToken(SECRET, token, now);
  assert.equal(c, { emailId: 42, emailHash: emailHash('owner@shop.example'), expiresAt: now.getTime() / 1000 + UNSUBSCRIBE_TOKEN_TTL_MS / 1000 });
  const [body, sig] = token.split('.') as [string, string];
  const forged = Buffer.from(JSON.stringify({ e: 43, h: c.emailHash, x: c.expiresAt })).toString('base64url');
  assert.is(codeOf(() => verifyUnsubscribeToken(SECRET, `${forged}.${sig}`, now)), 'bad_signature');
  assert.is(codeOf(() => verifyUnsubscribeToken(SECRET, `${body}.${sig.slice(0, -2)}AA`, now)), 'bad_signature');
  assert.is(codeOf(() => verifyUnsubscribeToken('other-secret', token, now)), 'bad_signature');
  assert.is(codeOf(() => verifyUnsubscribeToken(SECRET, 'garbage', now)), 'malformed');
  assert.is(codeOf(() => verifyUnsubscribeToken(SECRET, '', now)), 'malformed');
  const late = new Date(now.getTime() + UNSUBSCRIBE_TOKEN_TTL_MS + 1000);
  assert.is(codeOf(() => verifyUnsubscribeToken(SECRET, token, late)), 'expired');
  assert.ok(verifyUnsubscribeToken(SECRET, token, new Date(now.getTime() + UNSUBSCRIBE_TOKEN_TTL_MS - 1000)));
});

t('GET shows a confirmation page and changes nothing; one-click POST suppresses and marks the email; idempotent', async (ctx) => {
  const id = await sentEmail(ctx, 'owner@shop.example');
  const token = createUnsubscribeToken(SECRET, id, 'owner@shop.example');
  const url = `${ctx.base}/unsubscribe?token=${encodeURIComponent(token)}`;
  const before = await state(ctx);
  const get = await fetch(url);
  assert.is(get.status, 200);
  const html = await get.text();
  assert.match(html, /<form method="post"/);
  assert.match(html, /<button type="submit">Unsubscribe<\/button>/);
  assert.equal(await state(ctx), before, 'GET changes nothing');

  const oneClick = () =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
  assert.is((await oneClick()).status, 200);
  const after = await state(ctx);
  assert.equal(after.emails.map((e) => e.status), ['unsubscribed']);
  assert.equal(after.suppressions, [{ email_hash: emailHash('owner@shop.example'), reason: 'unsubscribe', source: 'unsubscribe_link' }]);
  const again = await oneClick();
  assert.is(again.status, 200);
  assert.match(await again.text(), /unsubscribed/);
  assert.equal(await state(ctx), after, 'second POST changes nothing');
});

t('bad, tampered or expired tokens → 400 with a clear message, nothing changes', async (ctx) => {
  const id = await sentEmail(ctx, 'keep@shop.example');
  const good = createUnsubscribeToken(SECRET, id, 'keep@shop.example');
  const expired = createUnsubscribeToken(SECRET, id, 'keep@shop.example', new Date(Date.now() - UNSUBSCRIBE_TOKEN_TTL_MS - 60_000));
  const tampered = `${good.split('.')[0]}x.${good.split('.')[1]}`;
  const before = await state(ctx);
  for (const [token, msg] of [
    [tampered, /not valid/],
    [expired, /expired/],
    ['', /malformed/],
    [createUnsubscribeToken('someone-else', id, 'keep@shop.example'), /not valid/],
  ] as const) {
    for (const method of ['GET', 'POST']) {
      const res = await fetch(`${ctx.base}/unsubscribe?token=${encodeURIComponent(token)}`, { method, ...(method === 'POST' ? { body: 'List-Unsubscribe=One-Click' } : {}) });
      assert.is(res.status, 400, `${method} ${token.slice(0, 10)}`);
      assert.match(await res.text(), msg);
    }
  }
  assert.equal(await state(ctx), before);
});

t.run();
