/**
 * The HTTP surface: HOST binds the chosen interface; /slack/events refuses bodies over 1 MB (413) and signatures dated more than 5 minutes away either way (Bolt alone checks only the past side);
 * /metrics takes an optional bearer token; Stripe signatures dated in the future are refused (the SDK checks only
 * the past); SendGrid signatures are accepted within 24 h + 5 min (its retries span 24 h) and refused beyond, or
 * from the future.
 */
import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMetrics } from '../../alerts/metrics.js';
import { createSlackApp, type SlackApp } from '../../bot/app.js';
import { loadConfig } from '../../domain/config.js';
import { verifySendGridSignature } from '../../domain/delivery/signature.js';
import { createLogger } from '../../domain/logger.js';
import { SENDGRID_SIGNATURE_WINDOW } from '../../domain/signature-window.js';
import { SignatureError, verifyStripeEvent } from '../../domain/storefront/webhook.js';
import { signSlackRequest } from '../helpers/slack.js';

const SECRET = 'hardening-signing-secret';
const test = suite<{ slack: SlackApp; base: string; address: AddressInfo }>('HTTP hardening');

test.before(async (ctx) => {
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', SLACK_SIGNING_SECRET: SECRET, METRICS_TOKEN: 'scrape-token' });
  ctx.slack = createSlackApp({
    config,
    logger: createLogger('silent'),
    orm: undefined as never, // no listener runs: url_verification is answered by Bolt itself
    runbookContext: undefined as never,
    metrics: createMetrics(),
    readiness: async () => ({ ok: true, checks: {} }),
  });
  const server = await ctx.slack.start(0, '127.0.0.1');
  ctx.address = server.address() as AddressInfo;
  ctx.base = `http://127.0.0.1:${ctx.address.port}`;
});
test.after(async (ctx) => {
  await ctx.slack.stop();
});

const challenge = JSON.stringify({ type: 'url_verification', token: 't', challenge: 'c-123' });

function postSigned(ctx: { base: string }, body: string, timestamp: number): Promise<Response> {
  return fetch(`${ctx.base}/slack/events`, { method: 'POST', headers: signSlackRequest(SECRET, body, timestamp, 'application/json'), body });
}

test('HOST: the server listens on the interface given', (ctx) => {
  assert.is(ctx.address.address, '127.0.0.1');
});

test('Slack signature timestamps: accepted within ±5 minutes, refused beyond either way', async (ctx) => {
  const now = Math.floor(Date.now() / 1000);
  const ok = await postSigned(ctx, challenge, now);
  assert.is(ok.status, 200);
  assert.match(await ok.text(), 'c-123');
  assert.is((await postSigned(ctx, challenge, now + 240)).status, 200, '4 minutes ahead: clock skew, accepted');
  assert.is((await postSigned(ctx, challenge, now + 6 * 60)).status, 401, '6 minutes in the future');
  assert.is((await postSigned(ctx, challenge, now - 6 * 60)).status, 401, '6 minutes old');
});

test('/metrics: bearer token required when METRICS_TOKEN is set', async (ctx) => {
  assert.is((await fetch(`${ctx.base}/metrics`)).status, 401);
  assert.is((await fetch(`${ctx.base}/metrics`, { headers: { authorization: 'Bearer wrong-token!' } })).status, 401);
  const ok = await fetch(`${ctx.base}/metrics`, { headers: { authorization: 'Bearer scrape-token' } });
  assert.is(ok.status, 200);
  assert.match(await ok.text(), 'process_cpu_user_seconds_total');
  assert.is((await fetch(`${ctx.base}/healthz`)).status, 200, 'health stays open');
});

test('Slack body limit: a signed 2 MB body is refused with 413 (a streamed one is cut by the receiver bodyLimit)', async (ctx) => {
  const big = JSON.stringify({ type: 'url_verification', challenge: 'x', pad: 'p'.repeat(2_000_000) });
  const declared = await postSigned(ctx, big, Math.floor(Date.now() / 1000));
  assert.is(declared.status, 413);
  // just under the limit still reaches Bolt (answered, not refused for size)
  const under = JSON.stringify({ type: 'url_verification', challenge: 'y', pad: 'p'.repeat(900_000) });
  assert.is((await postSigned(ctx, under, Math.floor(Date.now() / 1000))).status, 200);
});

test.run();

const webhooks = suite('webhook signature windows');

function stripeHeader(payload: string, secret: string, t: number): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${payload}`).digest('hex')}`;
}

webhooks('Stripe: a valid signature dated more than 5 minutes ahead is refused; 4 minutes old is accepted', () => {
  const secret = 'whsec_test_hardening';
  const payload = JSON.stringify({ id: 'evt_1', type: 'checkout.session.completed', created: 1, data: { object: {} } });
  const nowMs = Date.now();
  const now = Math.floor(nowMs / 1000);
  assert.is(verifyStripeEvent(Buffer.from(payload), stripeHeader(payload, secret, now - 240), secret, nowMs).id, 'evt_1');
  assert.throws(() => verifyStripeEvent(Buffer.from(payload), stripeHeader(payload, secret, now + 400), secret, nowMs), (e: unknown) => e instanceof SignatureError && /future/.test(e.message));
  assert.throws(() => verifyStripeEvent(Buffer.from(payload), stripeHeader(payload, secret, now - 400), secret, nowMs), (e: unknown) => e instanceof SignatureError);
});

webhooks('SendGrid: a retry signed up to 24 h ago is accepted; 25 h old or 10 minutes ahead is refused', () => {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const pub = publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  const body = Buffer.from('[{"email":"a@example.com","event":"delivered","sg_event_id":"e1"}]\r\n');
  const now = new Date();
  const at = (secondsAgo: number) => {
    const ts = String(Math.floor(now.getTime() / 1000) - secondsAgo);
    const sig = sign('sha256', Buffer.concat([Buffer.from(ts), body]), { key: privateKey, dsaEncoding: 'der' }).toString('base64');
    return verifySendGridSignature(pub, sig, ts, body, { now, window: SENDGRID_SIGNATURE_WINDOW });
  };
  assert.ok(at(0));
  assert.ok(at(23 * 3600), 'a retry 23 h after the event');
  assert.ok(at(24 * 3600), 'the last retry, 24 h after');
  assert.not.ok(at(25 * 3600), '25 h old');
  assert.not.ok(at(-10 * 60), '10 minutes in the future');
});

webhooks.run();
