/**
 * `POST /webhooks/sendgrid`: SendGrid's Signed Event Webhook.
 *
 * 1. Read the raw bytes (raw-body.ts); 2. verify the ECDSA signature over `timestamp + rawBody`
 * (domain/delivery/signature.ts) with `config.delivery.sendgridWebhookPublicKey` → 403, nothing stored and an audit
 * row (`intake:sendgrid:signature`) when it fails; without a key nothing can be verified, so every post is refused (503, nothing stored: SendGrid retries
 * for 24 h, so configuring the key later loses nothing); 3. parse JSON only then (an array of events; a single object is treated as a one-event batch); a
 * signed body that is not JSON is dead-lettered and answered 200; 4. store + apply every event once
 * (domain/delivery/events.ts: text made storable, a bad event dead-lettered while the rest are applied) and answer
 * 200 with the counters; only an unreachable database answers 500 so SendGrid retries (safe: events are deduplicated); 5. check the 24 h
 * bounce rate (failures there are logged, not answered).
 *
 * Work is small per event (one transaction), so the answer comes after storing: acknowledging before storing would
 * lose events on a crash, since SendGrid only retries non-2xx answers.
 */
import { createHash } from 'node:crypto';
import type http from 'node:http';
import { deadLetter } from '../../domain/intake/dead-letters.js';
import { rawBodyText } from '../../domain/sanitize.js';
import { checkBounceRate } from '../../domain/delivery/bounce-rate.js';
import { processSendGridEvents } from '../../domain/delivery/events.js';
import { SENDGRID_SIGNATURE_WINDOW } from '../../domain/signature-window.js';
import { SENDGRID_SIGNATURE_HEADER, SENDGRID_TIMESTAMP_HEADER, verifySendGridSignature } from '../../domain/delivery/signature.js';
import type { WebhookDeps, WebhookRoute } from './index.js';
import { sendJson } from './raw-body.js';
import { readVerifiedBody } from './verified-intake.js';

/** Path of the route. */
export const SENDGRID_WEBHOOK_PATH = '/webhooks/sendgrid';


const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

/** Handles one request (exported for tests that serve it from a plain node:http server). */
export async function handleSendGridWebhook(deps: WebhookDeps, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const log = deps.logger.child({ route: SENDGRID_WEBHOOK_PATH });
  const raw = await readVerifiedBody(deps, log, req, res, {
    source: 'sendgrid',
    credential: deps.config.delivery.sendgridWebhookPublicKey,
    notConfigured: {
      log: 'sendgrid webhook: SENDGRID_WEBHOOK_PUBLIC_KEY is not set; refusing an unverifiable post',
      error: 'webhook not configured: set SENDGRID_WEBHOOK_PUBLIC_KEY (Signed Event Webhook key)',
    },
    verify: (body, key) =>
      verifySendGridSignature(key, one(req.headers[SENDGRID_SIGNATURE_HEADER]), one(req.headers[SENDGRID_TIMESTAMP_HEADER]), body, {
        now: deps.clock.now(),
        window: SENDGRID_SIGNATURE_WINDOW,
      }),
    refusal: {
      status: 403,
      what: 'signature',
      detail: 'SendGrid signed event webhook: signature verification failed; nothing stored',
      log: 'sendgrid webhook: signature verification failed; nothing stored',
      error: 'invalid signature',
    },
  });
  if (!raw) return;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    // signed by SendGrid, so it is theirs: parked (not answered 4xx, which SendGrid would retry for 24 h)
    try {
      const id = await deadLetter(deps.orm.em.fork(), {
        source: 'sendgrid',
        dedupKey: `body:${createHash('sha256').update(raw).digest('hex')}`,
        eventType: null,
        reason: `body is not JSON: ${(err as Error).message}`,
        payload: null,
        raw: rawBodyText(raw),
        at: deps.clock.now(),
      });
      sendJson(res, 200, { received: 0, deadLettered: 1, deadLetterId: id });
    } catch (e) {
      log.error({ err: (e as Error).message }, 'sendgrid webhook: dead letter not stored');
      sendJson(res, 500, { error: 'could not store; retry' });
    }
    return;
  }
  const events = Array.isArray(parsed) ? parsed : [parsed];
  const now = deps.clock.now();
  const em = deps.orm.em.fork();
  let result: Awaited<ReturnType<typeof processSendGridEvents>>;
  try {
    result = await processSendGridEvents(em, events, now);
  } catch (err) {
    log.error({ err: (err as Error).message }, 'sendgrid webhook: storing events failed');
    sendJson(res, 500, { error: 'could not store events; retry' });
    return;
  }
  sendJson(res, 200, result);
  log.info({ ...result }, 'sendgrid webhook batch');
  try {
    const rate = await checkBounceRate(em.fork(), now, deps.config.delivery);
    if (rate.recorded) log.warn({ sent: rate.sent, bounced: rate.bounced, rate: rate.rate }, 'bounce rate above threshold');
  } catch (err) {
    log.error({ err: (err as Error).message }, 'sendgrid webhook: bounce-rate check failed');
  }
}

/** The route for webhookRoutes(). */
export function sendgridWebhookRoute(deps: WebhookDeps): WebhookRoute {
  return {
    path: SENDGRID_WEBHOOK_PATH,
    method: ['POST'],
    handler: (req, res) => {
      handleSendGridWebhook(deps, req, res).catch((err: unknown) => {
        deps.logger.error({ err: (err as Error).message }, 'sendgrid webhook failed');
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      });
    },
  };
}
