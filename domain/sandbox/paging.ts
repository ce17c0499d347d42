/**
 * The sandbox's paging providers, in their wire formats (recorded bodies from shared/fixtures/real/pagerduty and
 * opsgenie), with state, recorded calls and fault injection:
 *
 * - PagerDuty Events API v2: `POST /pagerduty/v2/enqueue` validates as PagerDuty does (JSON object, 32-character
 *   `routing_key`, `event_action` trigger|acknowledge|resolve, `dedup_key` ≤ 255, a trigger's `payload.summary`
 *   ≤ 1024 / `source` / `severity` critical|error|warning|info) and answers 202 `{"status":"success","message":"Event
 *   processed","dedup_key":…}` or 400 `{"status":"invalid","message":"Event object is invalid","errors":[…]}`
 *   (unparsable JSON: `Unrecognized object`). It keeps an incident per `dedup_key` (triggered → acknowledged →
 *   resolved; ack/resolve of an unknown key are dropped, as PagerDuty drops them).
 * - Opsgenie Alert API: `Authorization: GenieKey <key>` (else 401 `Could not authenticate`); `POST
 *   /opsgenie/v2/alerts` (`message` required, ≤ 130; `alias` ≤ 512) and `POST
 *   /opsgenie/v2/alerts/{alias}/acknowledge|close?identifierType=alias` answer 202 `{"result":"Request will be
 *   processed","took":…,"requestId":…}`; `GET /opsgenie/v2/alerts/requests/{requestId}` the outcome (as in the
 *   recorded request-status bodies: "Created alert", "Alert does not exist" …). A create with a known open alias
 *   deduplicates (count + 1), as Opsgenie does.
 * - Webhooks back (what a person acknowledging there causes): `PUT /sandbox/paging/webhooks` `{pagerduty: {url,
 *   secret}, opsgenie: {url, token}, echo}` sets where they go; `POST
 *   /sandbox/paging/pagerduty/incidents/{dedup_key}/acknowledge|resolve` `{agent, incidentKey}` and `POST
 *   /sandbox/paging/opsgenie/alerts/{alias}/acknowledge|close` `{user}` act as a person in the provider: the state
 *   changes and the provider's webhook is POSTed (awaited, its answer returned) — PagerDuty's v3 envelope (shape of
 *   the recorded `webhook-v3.incident.acknowledged` delivery, signed `X-PagerDuty-Signature: v1=<HMAC-SHA256>` with
 *   the subscription secret; `incidentKey: false` leaves `data.incident_key` out), Opsgenie's Webhook-integration
 *   body (`action`, `alert`, `source`, `integrationId`, `integrationName`; `Authorization: Bearer <token>`). With
 *   `echo` (default true) changes made through the APIs (our own acknowledge/close) are sent back too, in the
 *   background, as the real providers do; every webhook sent is listed in `GET /sandbox/paging` (`webhooks`).
 * - Admin: `GET /sandbox/paging` → `{pagerduty: {calls, incidents}, opsgenie: {calls, alerts}, webhooks}` (every
 *   call as received); `DELETE /sandbox/paging` forgets them; `PUT|DELETE /sandbox/faults/pagerduty|opsgenie` sets or clears a
 *   fault (the {@link FaultSpec} of the other providers: rate_limit, server_error, timeout, slow, invalid_key,
 *   quota_exhausted, malformed, with `status`, `ms`, `retryAfterSeconds`, `count`).
 */
import { randomUUID } from 'node:crypto';
import { parseFaultSpec, FaultSpecError, type FaultSpec } from './faults.js';
import type { Route, SandboxContext, SandboxRequest, SandboxResponse } from './server.js';
import {
  PD_UNRECOGNIZED,
  faultAnswer,
  forgetPagingState,
  ogBody,
  parse,
  pdInvalid,
  record,
  state,
  type PagingProvider,
  type State,
  type WebhookTargets,
} from './paging-state.js';
import { background, pdId, sendOpsgenieWebhook, sendPagerDutyWebhook } from './paging-webhooks.js';

export type { PagingProvider, RecordedCall, SentWebhook, WebhookTargets } from './paging-state.js';

function validatePd(b: Record<string, unknown>): string[] {
  const errors: string[] = [];
  if (typeof b.routing_key !== 'string' || b.routing_key.length !== 32) errors.push("Length of 'routing_key' is incorrect (should be 32 characters)");
  if (!['trigger', 'acknowledge', 'resolve'].includes(String(b.event_action ?? ''))) errors.push("'event_action' is missing or blank");
  if (b.dedup_key !== undefined && (typeof b.dedup_key !== 'string' || b.dedup_key.length > 255)) errors.push("'dedup_key' must be a string of at most 255 characters");
  if (b.event_action === 'trigger') {
    const p = (b.payload ?? {}) as Record<string, unknown>;
    if (typeof p.summary !== 'string' || !p.summary || p.summary.length > 1024) errors.push("'payload.summary' is missing or longer than 1024 characters");
    if (typeof p.source !== 'string' || !p.source) errors.push("'payload.source' is missing or blank");
    if (!['critical', 'error', 'warning', 'info'].includes(String(p.severity ?? ''))) errors.push("'payload.severity' must be one of critical, error, warning, info");
  } else if (b.event_action && typeof b.dedup_key !== 'string') errors.push("'dedup_key' is required for acknowledge and resolve");
  return errors;
}

function pagerdutyEnqueue(req: SandboxRequest, ctx: SandboxContext): SandboxResponse {
  const s = state(ctx);
  const parsed = parse(req);
  const body = parsed.ok ? parsed.body : req.body.toString('utf8');
  const ok = (key: string): SandboxResponse => ({ status: 202, json: { status: 'success', message: 'Event processed', dedup_key: key } });
  const b = (parsed.ok ? parsed.body : undefined) as Record<string, unknown> | undefined;
  const faulted = faultAnswer(s, 'pagerduty', () => ok(String(b?.dedup_key ?? '')));
  if (faulted) return record(s, 'pagerduty', req, body, faulted);
  if (!b || typeof b !== 'object' || Array.isArray(b)) return record(s, 'pagerduty', req, body, { status: 400, json: PD_UNRECOGNIZED });
  const errors = validatePd(b);
  if (errors.length) return record(s, 'pagerduty', req, body, { status: 400, json: pdInvalid(errors) });
  const key = typeof b.dedup_key === 'string' ? b.dedup_key : randomUUID().replace(/-/g, '');
  const inc = s.incidents[key];
  const p = (b.payload ?? {}) as Record<string, string>;
  if (b.event_action === 'trigger') {
    if (inc && inc.status !== 'resolved') inc.events++;
    else s.incidents[key] = { id: pdId(), number: Object.keys(s.incidents).length + 1, status: 'triggered', summary: p.summary!, severity: p.severity!, events: 1, createdAt: new Date().toISOString() };
  } else if (inc && inc.status !== 'resolved') {
    // acknowledge/resolve of an unknown or resolved key are dropped by PagerDuty (still 202)
    const to = b.event_action === 'acknowledge' ? 'acknowledged' : 'resolved';
    const changed = inc.status !== to;
    inc.status = to;
    inc.events++;
    // the events API's change notifies the webhook subscription too (agent: the service's integration)
    if (changed && s.targets.echo) background(s, sendPagerDutyWebhook(s, key, inc, `incident.${to}`, { id: 'PSANDBX', type: 'inbound_integration_reference', summary: 'Events API V2' }, true));
  }
  return record(s, 'pagerduty', req, body, ok(key));
}

function opsgenieRequest(s: State, action: string, alias: string, success: boolean, status: string, alertId: string): SandboxResponse {
  const requestId = randomUUID();
  s.requests[requestId] = { action, success, status, alias, alertId, processedAt: new Date().toISOString() };
  return { status: 202, json: { result: 'Request will be processed', took: 0.012, requestId } };
}

/** `POST /opsgenie/v2/alerts` and `POST /opsgenie/v2/alerts/{alias}/acknowledge|close` (routed by path). */
export function opsgenieHandler(req: SandboxRequest, ctx: SandboxContext): SandboxResponse | undefined {
  const m = /^\/opsgenie\/v2\/alerts(?:\/([^/]+)\/(acknowledge|close))?$/.exec(req.path);
  const status = /^\/opsgenie\/v2\/alerts\/requests\/([^/]+)$/.exec(req.path);
  if (!m && !status) return undefined;
  const s = state(ctx);
  if (!/^GenieKey\s+\S+$/.test(String(req.headers.authorization ?? ''))) return { status: 401, json: ogBody('Could not authenticate') };
  if (status && req.method === 'GET') {
    const r = s.requests[decodeURIComponent(status[1]!)];
    return r ? { status: 200, json: { data: { success: r.success, action: r.action, processedAt: r.processedAt, integrationId: 'sandbox-integration', isSuccess: r.success, status: r.status, alertId: r.alertId, alias: r.alias }, took: 0.01, requestId: randomUUID() } } : { status: 404, json: ogBody('Request not found') };
  }
  if (!m || req.method !== 'POST') return { status: 405, json: ogBody('Method not allowed') };
  const parsed = parse(req);
  const body = parsed.ok ? parsed.body : req.body.toString('utf8');
  const faulted = faultAnswer(s, 'opsgenie', () => opsgenieRequest(s, 'Faulted', '', false, 'slow', ''));
  if (faulted) return record(s, 'opsgenie', req, body, faulted);
  const b = (parsed.ok && parsed.body && typeof parsed.body === 'object' ? parsed.body : undefined) as Record<string, unknown> | undefined;
  if (!b) return record(s, 'opsgenie', req, body, { status: 400, json: ogBody('Could not parse the request body') });
  if (!m[1]) {
    if (typeof b.message !== 'string' || !b.message || b.message.length > 130) return record(s, 'opsgenie', req, body, { status: 422, json: ogBody('Message can not be empty and can be at most 130 characters') });
    const alias = typeof b.alias === 'string' ? b.alias.slice(0, 512) : b.message;
    const cur = s.alerts[alias];
    if (cur && cur.status !== 'closed') cur.count++;
    else s.alerts[alias] = { status: 'open', message: b.message, count: 1, alertId: randomUUID(), tinyId: String(Object.keys(s.alerts).length + 1), createdAt: Date.now() };
    return record(s, 'opsgenie', req, body, opsgenieRequest(s, 'Create', alias, true, 'Created alert', s.alerts[alias]!.alertId));
  }
  if (req.query.get('identifierType') !== 'alias') return record(s, 'opsgenie', req, body, { status: 422, json: ogBody('identifierType must be alias in this sandbox') });
  const alias = decodeURIComponent(m[1]);
  const alert = s.alerts[alias];
  const action = m[2] === 'acknowledge' ? 'Acknowledge' : 'Close';
  if (!alert) return record(s, 'opsgenie', req, body, opsgenieRequest(s, action, '', false, 'Alert does not exist', ''));
  const before = alert.status;
  alert.status = m[2] === 'acknowledge' ? (alert.status === 'closed' ? 'closed' : 'acknowledged') : 'closed';
  if (alert.status !== before && s.targets.echo) background(s, sendOpsgenieWebhook(s, alias, alert, action, typeof b.user === 'string' ? b.user : '', { name: typeof b.source === 'string' ? b.source : '', type: 'API' }));
  return record(s, 'opsgenie', req, body, opsgenieRequest(s, action, alias, true, m[2] === 'acknowledge' ? 'Acknowledged' : 'Closed', alert.alertId));
}

const readJson = (req: SandboxRequest): Record<string, unknown> => {
  const p = parse(req);
  return p.ok && p.body && typeof p.body === 'object' && !Array.isArray(p.body) ? (p.body as Record<string, unknown>) : {};
};

/**
 * The admin routes with a path parameter: `POST /sandbox/paging/pagerduty/incidents/{key}/acknowledge|resolve`
 * and `POST /sandbox/paging/opsgenie/alerts/{alias}/acknowledge|close` (a person acting in the provider). Answers
 * 404 for an unknown incident/alert, 409 when it is already resolved/closed, else 200 `{incident|alert, webhook}`
 * (`webhook` = what the configured URL answered, null when none is configured). Undefined for other paths.
 */
export async function pagingAdminHandler(req: SandboxRequest, ctx: SandboxContext): Promise<SandboxResponse | undefined> {
  const pd = /^\/sandbox\/paging\/pagerduty\/incidents\/([^/]+)\/(acknowledge|resolve)$/.exec(req.path);
  const og = /^\/sandbox\/paging\/opsgenie\/alerts\/([^/]+)\/(acknowledge|close)$/.exec(req.path);
  if (!pd && !og) return undefined;
  if (req.method !== 'POST') return { status: 405, json: { error: 'method not allowed' } };
  const s = state(ctx);
  const b = readJson(req);
  if (pd) {
    const key = decodeURIComponent(pd[1]!);
    const inc = s.incidents[key];
    if (!inc) return { status: 404, json: { error: 'not_found', message: `no PagerDuty incident with dedup_key ${key}` } };
    if (inc.status === 'resolved') return { status: 409, json: { error: 'conflict', message: 'Incident Already Resolved' } };
    inc.status = pd[2] === 'acknowledge' ? 'acknowledged' : 'resolved';
    const who = typeof b.agent === 'string' && b.agent ? b.agent : 'Example User';
    const webhook = await sendPagerDutyWebhook(s, key, inc, `incident.${inc.status}`, { id: 'PSBXUSR', summary: who, type: 'user_reference' }, b.incidentKey !== false);
    return { status: 200, json: { incident: { key, ...inc }, webhook: webhook ?? null } };
  }
  const alias = decodeURIComponent(og![1]!);
  const alert = s.alerts[alias];
  if (!alert) return { status: 404, json: { error: 'not_found', message: `no Opsgenie alert with alias ${alias}` } };
  if (alert.status === 'closed') return { status: 409, json: { error: 'conflict', message: 'Alert is already closed' } };
  alert.status = og![2] === 'acknowledge' ? 'acknowledged' : 'closed';
  const user = typeof b.user === 'string' && b.user ? b.user : 'user@example.com';
  const webhook = await sendOpsgenieWebhook(s, alias, alert, og![2] === 'acknowledge' ? 'Acknowledge' : 'Close', user, { name: '', type: 'web' });
  return { status: 200, json: { alert: { alias, ...alert }, webhook: webhook ?? null } };
}

function webhookTargets(req: SandboxRequest, ctx: SandboxContext): SandboxResponse {
  const s = state(ctx);
  const b = readJson(req);
  const pd = b.pagerduty as { url?: unknown; secret?: unknown } | undefined;
  const og = b.opsgenie as { url?: unknown; token?: unknown } | undefined;
  const targets: WebhookTargets = { echo: b.echo !== false };
  if (pd && typeof pd.url === 'string' && typeof pd.secret === 'string') targets.pagerduty = { url: pd.url, secret: pd.secret };
  if (og && typeof og.url === 'string' && typeof og.token === 'string') targets.opsgenie = { url: og.url, token: og.token };
  s.targets = targets;
  return { status: 200, json: { pagerduty: targets.pagerduty ? { url: targets.pagerduty.url } : null, opsgenie: targets.opsgenie ? { url: targets.opsgenie.url } : null, echo: targets.echo } };
}

/** Resolves when every webhook the sandbox is sending in the background has been answered. */
async function settled(ctx: SandboxContext): Promise<void> {
  const s = state(ctx);
  while (s.pending.size > 0) await Promise.allSettled([...s.pending]);
}

function faultAdmin(provider: PagingProvider, req: SandboxRequest, ctx: SandboxContext): SandboxResponse {
  const s = state(ctx);
  if (req.method === 'DELETE') {
    const had = s.faults[provider] ? [provider] : [];
    delete s.faults[provider];
    return { status: 200, json: { cleared: had } };
  }
  try {
    const spec: FaultSpec = parseFaultSpec(JSON.parse(req.body.toString('utf8') || 'null'));
    if (spec.fault === 'runtime_error') throw new FaultSpecError('runtime_error is a PageSpeed (Lighthouse) fault');
    s.faults[provider] = { ...spec, remaining: spec.count ?? null, served: 0, since: new Date().toISOString() };
    return { status: 200, json: { provider, fault: s.faults[provider] } };
  } catch (err) {
    return { status: 400, json: { error: 'bad_request', message: err instanceof FaultSpecError ? err.message : 'body is not valid JSON' } };
  }
}

/** The routes (PagerDuty's enqueue, Opsgenie's create, the admin routes); Opsgenie's per-alias paths: {@link opsgenieHandler}. */
export const PAGING_ROUTES: readonly Route[] = [
  { method: 'POST', path: '/pagerduty/v2/enqueue', provider: 'sandbox', handler: pagerdutyEnqueue, successStatus: 202 },
  { method: 'POST', path: '/opsgenie/v2/alerts', provider: 'sandbox', handler: (req, ctx) => opsgenieHandler(req, ctx)!, successStatus: 202 },
  {
    method: 'GET',
    path: '/sandbox/paging',
    provider: 'sandbox',
    handler: (_req, ctx) => {
      const s = state(ctx);
      return { status: 200, json: { pagerduty: { calls: s.calls.pagerduty, incidents: s.incidents }, opsgenie: { calls: s.calls.opsgenie, alerts: s.alerts }, webhooks: s.webhooks, faults: s.faults } };
    },
  },
  { method: 'PUT', path: '/sandbox/paging/webhooks', provider: 'sandbox', handler: webhookTargets },
  {
    // waits for the webhooks sent in the background (echoes), then answers like GET /sandbox/paging
    method: 'POST',
    path: '/sandbox/paging/settle',
    provider: 'sandbox',
    handler: async (_req, ctx) => {
      await settled(ctx);
      return { status: 200, json: { webhooks: state(ctx).webhooks } };
    },
  },
  {
    method: 'DELETE',
    path: '/sandbox/paging',
    provider: 'sandbox',
    handler: (_req, ctx) => {
      forgetPagingState(ctx);
      return { status: 200, json: { cleared: true } };
    },
  },
  ...(['pagerduty', 'opsgenie'] as const).flatMap((p): Route[] => [
    { method: 'PUT', path: `/sandbox/faults/${p}`, provider: 'sandbox', handler: (req, ctx) => faultAdmin(p, req, ctx) },
    { method: 'DELETE', path: `/sandbox/faults/${p}`, provider: 'sandbox', handler: (req, ctx) => faultAdmin(p, req, ctx) },
  ]),
];
