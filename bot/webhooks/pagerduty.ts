/**
 * `POST /webhooks/pagerduty`: PagerDuty v3 webhook subscription deliveries (https://developer.pagerduty.com/docs/webhooks/v3-overview/).
 *
 * 1. Raw bytes read with a size limit (413); without `PAGERDUTY_WEBHOOK_SECRET` nothing can be verified, so every
 *    post is refused with 503 (nothing stored; PagerDuty retries for a while).
 * 2. `X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of the raw body>[, v1=…]` verified on those bytes
 *    (domain/providers/paging/signature.ts; any listed signature may match, as during a secret rotation) → 403,
 *    nothing stored, an audit row (`intake:pagerduty:signature`) and `leadfactory_webhook_signature_failures_total
 *    {provider="pagerduty"}` when it does not.
 * 3. JSON parsed only then (400 + audit row when it is not a v3 event envelope), made storable (domain/sanitize.ts).
 * 4. Stored once per `event.id` and applied (alerts/paging/inbound.ts): `incident.acknowledged` / `incident.resolved`
 *    of one of our incidents acknowledge / resolve it as `pagerduty:<agent>`, and Opsgenie (not PagerDuty) is told
 *    once. Answered 200 `{received: true, outcome, incident?}` after applying (a few queries); 500 only when the
 *    database failed, so PagerDuty's redelivery applies it.
 */
import type http from 'node:http';
import { parsePagerDutyWebhook, receivePagingEvent, type InboundPagingEvent, type ParseResult } from '../../alerts/paging/inbound.js';
import { auditRefusal } from '../../domain/intake/dead-letters.js';
import { verifyPagerDutySignature } from '../../domain/providers/paging/signature.js';
import { rawBodyText, sanitizeDeep } from '../../domain/sanitize.js';
import type { WebhookDeps, WebhookRoute } from './index.js';
import { sendJson } from './raw-body.js';
import { auditFailed, readVerifiedBody } from './verified-intake.js';

/** Path of the route (the webhook subscription's URL ends with it). */
export const PAGERDUTY_WEBHOOK_PATH = '/webhooks/pagerduty';

/** The signature header (Node lower-cases header names). */
export const PAGERDUTY_SIGNATURE_HEADER = 'x-pagerduty-signature';

const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v.join(',') : v);

/**
 * Parses a verified body with `parse`, stores and applies the event and answers (shared by the PagerDuty and
 * Opsgenie routes). Answers 400 (audited) for a body that is not the provider's event, 500 when the database failed.
 */
export async function answerPagingEvent(deps: WebhookDeps, res: http.ServerResponse, provider: InboundPagingEvent['provider'], raw: Buffer, parse: (body: unknown) => ParseResult): Promise<void> {
  const log = deps.logger.child({ route: `/webhooks/${provider}` });
  let body: unknown;
  let parsed: ParseResult;
  try {
    body = JSON.parse(raw.toString('utf8'));
    parsed = parse(body);
  } catch (err) {
    parsed = { ok: false, error: `body is not JSON: ${(err as Error).message}` };
  }
  if (!parsed.ok) {
    await auditRefusal(deps.orm.em.fork(), { source: provider, what: 'body', detail: parsed.error, at: deps.clock.now(), input: { bytes: raw.length } }, auditFailed(log));
    sendJson(res, 400, { error: parsed.error });
    return;
  }
  const { value, changes } = sanitizeDeep(body);
  const ev = sanitizeDeep(parsed.event).value;
  try {
    const r = await receivePagingEvent({ em: () => deps.orm.em.fork(), config: deps.config, clock: deps.clock, logger: log }, ev, value, changes.length ? rawBodyText(raw) : null);
    sendJson(res, 200, { received: true, outcome: r.outcome, ...(r.incident !== undefined ? { incident: r.incident } : {}) });
  } catch {
    sendJson(res, 500, { error: 'not applied; retry' });
  }
}

/** Handles one request (exported for tests that serve it from a plain node:http server). */
export async function handlePagerDutyWebhook(deps: WebhookDeps, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const log = deps.logger.child({ route: PAGERDUTY_WEBHOOK_PATH });
  const raw = await readVerifiedBody(deps, log, req, res, {
    source: 'pagerduty',
    credential: deps.config.oncall.pagerduty.inboundSecret,
    notConfigured: {
      log: 'pagerduty webhook: PAGERDUTY_WEBHOOK_SECRET is not set; refusing an unverifiable post',
      error: 'webhook not configured: set PAGERDUTY_WEBHOOK_SECRET (the v3 webhook subscription secret)',
    },
    verify: (body, secret) => verifyPagerDutySignature(body, one(req.headers[PAGERDUTY_SIGNATURE_HEADER]), secret),
    refusal: {
      status: 403,
      what: 'signature',
      detail: 'PagerDuty v3 webhook: X-PagerDuty-Signature does not match; nothing stored',
      log: 'pagerduty webhook: signature verification failed; nothing stored',
      error: 'invalid signature',
    },
  });
  if (!raw) return;
  await answerPagingEvent(deps, res, 'pagerduty', raw, parsePagerDutyWebhook);
}

/** The route for webhookRoutes(). */
export function pagerdutyWebhookRoute(deps: WebhookDeps): WebhookRoute {
  return {
    path: PAGERDUTY_WEBHOOK_PATH,
    method: ['POST'],
    handler: (req, res) => {
      handlePagerDutyWebhook(deps, req, res).catch((err: unknown) => {
        deps.logger.error({ err: (err as Error).message }, 'pagerduty webhook failed');
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      });
    },
  };
}
