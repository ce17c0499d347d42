/**
 * `POST /webhooks/stripe`: Stripe's webhook endpoint. Reads the raw bytes (no JSON parser runs first, stripe/stripe-node#1254, slackapi/bolt-js#516),
 * verifies `Stripe-Signature` with a 300 s tolerance, stores the event in the inbox (redeliveries are acknowledged
 * and ignored), applies it, answers, and then emails the audit report in the background when a purchase became paid.
 *
 * Text in the event is made storable first (domain/sanitize.ts: U+0000 and lone surrogates → U+FFFD; the body as
 * received kept in `webhook_inbox.raw_json`).
 *
 * Answers: 200 `{received: true, outcome}` (applied, kept, duplicate, parked, unhandled, unmatched, dead_lettered:
 * applying it failed for a reason other than the database, so it is parked in `dead_letters` with an audit row); 400
 * on a bad signature or stale timestamp (nothing stored; ops event `webhook.signature_failed`, one per minute; an
 * audit row); 405 for other methods; 413 when the body is too large; 500 only when the database is unreachable (the
 * inbox keeps the error and Stripe's redelivery retries it).
 */
import type http from 'node:http';
import {
  SignatureError,
  flattenResults,
  ingestStripeEvent,
  recordSignatureFailure,
  sendReportsFor,
  verifyStripeEvent,
  type EventResult,
} from '../../domain/storefront/webhook.js';
import type { StripeEvent } from '../../domain/providers/stripe/port.js';
import { countWebhookSignatureFailure } from '../../alerts/metrics.js';
import { auditRefusal, deadLetter, isTransientDbError } from '../../domain/intake/dead-letters.js';
import { rawBodyText, sanitizeDeep } from '../../domain/sanitize.js';
import { auditFailed, readBodyOr413 } from './verified-intake.js';
import type { WebhookDeps, WebhookRoute } from './index.js';
import { sendJson } from './raw-body.js';

/** The path Stripe posts to. */
export const STRIPE_WEBHOOK_PATH = '/webhooks/stripe';

/** The route plus `idle()`, which resolves when the background report deliveries started so far have finished. */
export interface StripeWebhookRoute extends WebhookRoute {
  idle(): Promise<void>;
}

/** Dead-letters an event whose application failed for a reason other than the database (answered 200 so Stripe stops). */
async function parkStripeEvent(deps: WebhookDeps, res: http.ServerResponse, event: StripeEvent, raw: Buffer, reason: string): Promise<void> {
  try {
    const id = await deadLetter(deps.orm.em.fork(), { source: 'stripe', dedupKey: event.id, eventType: event.type, reason, payload: event, raw: rawBodyText(raw), at: deps.clock.now() });
    deps.logger.warn({ eventId: event.id, deadLetterId: id, reason }, 'stripe event dead-lettered');
    sendJson(res, 200, { received: true, outcome: 'dead_lettered', deadLetterId: id });
  } catch (err) {
    deps.logger.error({ eventId: event.id, err: (err as Error).message }, 'stripe dead letter not stored');
    sendJson(res, 500, { error: 'not stored' });
  }
}

/**
 * Method (405), body with a size limit (413) and signature (400, with an audit row, the signature-failure metric
 * and ops event): the verified event and its raw bytes, or undefined when answered here.
 */
async function readVerifiedEvent(deps: WebhookDeps, req: http.IncomingMessage, res: http.ServerResponse): Promise<{ event: StripeEvent; raw: Buffer } | undefined> {
  if (req.method !== 'POST') {
    res.setHeader('allow', 'POST');
    sendJson(res, 405, { error: 'method not allowed' });
    return undefined;
  }
  const raw = await readBodyOr413(req, res);
  if (!raw) return undefined;
  const header = req.headers['stripe-signature'];
  try {
    const event = verifyStripeEvent(raw, typeof header === 'string' ? header : undefined, deps.config.storefront.stripeWebhookSecret, deps.clock.now().getTime());
    return { event, raw };
  } catch (err) {
    const reason = err instanceof SignatureError ? err.message : String(err);
    await auditRefusal(deps.orm.em.fork(), { source: 'stripe', what: 'signature', detail: reason, at: deps.clock.now(), input: { bytes: raw.length } }, auditFailed(deps.logger));
    sendJson(res, 400, { error: 'invalid signature' });
    countWebhookSignatureFailure(deps.metrics, 'stripe');
    deps.logger.warn({ reason }, 'stripe webhook signature rejected');
    await recordSignatureFailure(deps, reason).catch((e: unknown) => deps.logger.error({ err: (e as Error).message }, 'ops event write failed'));
    return undefined;
  }
}

/** Builds the Stripe webhook route over {@link WebhookDeps} (secret from `config.storefront.stripeWebhookSecret`). */
export function stripeWebhookRoute(deps: WebhookDeps): StripeWebhookRoute {
  const background = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>) => {
    background.add(p);
    void p.finally(() => background.delete(p));
  };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const verified = await readVerifiedEvent(deps, req, res);
    if (!verified) return;
    const { event, raw } = verified;
    // text from outside made storable (U+0000, lone surrogates); the body as received kept beside it when it was not
    const { value: clean, changes } = sanitizeDeep(event);
    const rawText = changes.length ? rawBodyText(raw) : null;
    let result: EventResult;
    try {
      result = await ingestStripeEvent(deps, clean, rawText);
    } catch (err) {
      if (isTransientDbError(err)) {
        deps.logger.error({ eventId: event.id, err: (err as Error).message }, 'stripe event not stored');
        sendJson(res, 500, { error: 'not stored' });
        return;
      }
      result = { eventId: clean.id, type: clean.type, outcome: 'failed', becamePaid: false, stored: false, error: (err as Error).message };
    }
    if (result.outcome === 'failed') {
      if (result.transient) {
        sendJson(res, 500, { error: 'processing failed', eventId: event.id });
        return;
      }
      await parkStripeEvent(deps, res, clean, raw, result.error ?? 'processing failed');
      return;
    }
    sendJson(res, 200, { received: true, outcome: result.outcome, ...(changes.length ? { sanitized: changes } : {}) });
    if (flattenResults([result]).some((r) => r.becamePaid)) track(sendReportsFor(deps, [result]));
  }

  return {
    path: STRIPE_WEBHOOK_PATH,
    method: ['POST'],
    handler: (req, res) => {
      void handle(req, res).catch((err: unknown) => {
        deps.logger.error({ err: (err as Error).message }, 'stripe webhook handler failed');
        if (!res.headersSent) sendJson(res, 500, { error: 'internal' });
      });
    },
    async idle() {
      while (background.size > 0) await Promise.allSettled([...background]);
    },
  };
}
