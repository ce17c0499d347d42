/**
 * `POST /webhooks/opsgenie`: the Opsgenie "Webhook" integration's alert actions (https://docs.opsgenie.com/docs/webhook-integration).
 *
 * Opsgenie does not sign its webhooks; the integration sends a custom header we configure there,
 * `Authorization: Bearer <OPSGENIE_WEBHOOK_TOKEN>`, compared in constant time → 401, nothing stored, an audit row
 * (`intake:opsgenie:token`) and `leadfactory_webhook_signature_failures_total{provider="opsgenie"}` when missing or
 * wrong; without a configured token every post is refused with 503. The JSON body (`action`, `alert.alias`,
 * `alert.alertId`, `alert.username`, `source`) is stored once per `<alertId>:<action>:<updatedAt>` and applied
 * (alerts/paging/inbound.ts): `Acknowledge` / `Close` of one of our alerts acknowledge / resolve our incident as
 * `opsgenie:<user>`, and PagerDuty (not Opsgenie) is told once. Answers as the PagerDuty route does.
 */
import type http from 'node:http';
import { parseOpsgenieWebhook } from '../../alerts/paging/inbound.js';
import { bearerMatches } from './alertmanager.js';
import type { WebhookDeps, WebhookRoute } from './index.js';
import { answerPagingEvent } from './pagerduty.js';
import { sendJson } from './raw-body.js';
import { readVerifiedBody } from './verified-intake.js';

/** Path of the route (the Opsgenie Webhook integration's URL ends with it). */
export const OPSGENIE_WEBHOOK_PATH = '/webhooks/opsgenie';

/** Handles one request (exported for tests that serve it from a plain node:http server). */
export async function handleOpsgenieWebhook(deps: WebhookDeps, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const log = deps.logger.child({ route: OPSGENIE_WEBHOOK_PATH });
  const auth = req.headers.authorization;
  const raw = await readVerifiedBody(deps, log, req, res, {
    source: 'opsgenie',
    credential: deps.config.oncall.opsgenie.inboundSecret,
    notConfigured: {
      log: 'opsgenie webhook: OPSGENIE_WEBHOOK_TOKEN is not set; refusing an unauthenticated post',
      error: 'webhook not configured: set OPSGENIE_WEBHOOK_TOKEN (sent by the integration as Authorization: Bearer <token>)',
    },
    verify: (_raw, token) => bearerMatches(typeof auth === 'string' ? auth : undefined, token),
    refusal: {
      status: 401,
      what: 'token',
      detail: 'Opsgenie webhook: Authorization bearer token missing or wrong; nothing stored',
      log: 'opsgenie webhook: missing or wrong token; nothing stored',
      error: 'unauthorized',
      headers: { 'www-authenticate': 'Bearer' },
    },
  });
  if (!raw) return;
  await answerPagingEvent(deps, res, 'opsgenie', raw, (body) => parseOpsgenieWebhook(body, raw));
}

/** The route for webhookRoutes(). */
export function opsgenieWebhookRoute(deps: WebhookDeps): WebhookRoute {
  return {
    path: OPSGENIE_WEBHOOK_PATH,
    method: ['POST'],
    handler: (req, res) => {
      handleOpsgenieWebhook(deps, req, res).catch((err: unknown) => {
        deps.logger.error({ err: (err as Error).message }, 'opsgenie webhook failed');
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      });
    },
  };
}
