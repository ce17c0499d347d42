/**
 * `POST /webhooks/stripe`: Stripe's webhook endpoint. Reads the raw bytes (no JSON parser runs first, stripe/stripe-node#1254, slackapi/bolt-js#516),
 * verifies `Stripe-Signature` with a 300 s tolerance, stores the event in the inbox (redeliveries are acknowledged
 * and ignored), applies it, answers, and then emails the audit report in the background when a purchase became paid.
 *
 * Answers: 200 `{received: true, outcome}` (applied, kept, duplicate, parked, unhandled, unmatched); 400 on a bad signature
 * or stale timestamp (nothing stored; ops event `webhook.signature_failed`, one per minute); 405 for other methods;
 * 413 when the body is too large; 500 when storing or applying failed (the inbox keeps the error and Stripe's
 * redelivery retries it).
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
import type { WebhookDeps, WebhookRoute } from './index.js';
import { readRawBody, sendJson } from './raw-body.js';

/** The path Stripe posts to. */
export const STRIPE_WEBHOOK_PATH = '/webhooks/stripe';

/** The route plus `idle()`, which resolves when the background report deliveries started so far have finished. */
export interface StripeWebhookRoute extends WebhookRoute {
  idle(): Promise<void>;
}

/** Builds the Stripe webhook route over {@link WebhookDeps} (secret from `config.storefront.stripeWebhookSecret`). */
export function stripeWebhookRoute(deps: WebhookDeps): StripeWebhookRoute {
  const background = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>) => {
    background.add(p);
    void p.finally(() => background.delete(p));
  };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      sendJson(res, 405, { error: 'method not allowed' });
      return;
    }
    let raw: Buffer;
    try {
      raw = await readRawBody(req);
    } catch {
      sendJson(res, 413, { error: 'body too large' });
      return;
    }
    const header = req.headers['stripe-signature'];
    let event: StripeEvent;
    try {
      event = verifyStripeEvent(raw, typeof header === 'string' ? header : undefined, deps.config.storefront.stripeWebhookSecret, deps.clock.now().getTime());
    } catch (err) {
      const reason = err instanceof SignatureError ? err.message : String(err);
      sendJson(res, 400, { error: 'invalid signature' });
      countWebhookSignatureFailure(deps.metrics, 'stripe');
      deps.logger.warn({ reason }, 'stripe webhook signature rejected');
      await recordSignatureFailure(deps, reason).catch((e: unknown) => deps.logger.error({ err: (e as Error).message }, 'ops event write failed'));
      return;
    }
    let result: EventResult;
    try {
      result = await ingestStripeEvent(deps, event);
    } catch (err) {
      deps.logger.error({ eventId: event.id, err: (err as Error).message }, 'stripe event not stored');
      sendJson(res, 500, { error: 'not stored' });
      return;
    }
    if (result.outcome === 'failed') {
      sendJson(res, 500, { error: 'processing failed', eventId: event.id });
      return;
    }
    sendJson(res, 200, { received: true, outcome: result.outcome });
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
