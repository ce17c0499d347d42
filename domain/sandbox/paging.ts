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
import { signPagerDuty } from '../providers/paging/signature.js';
import { parseFaultSpec, FaultSpecError, type ActiveFault, type FaultSpec } from './faults.js';
import type { Route, SandboxContext, SandboxRequest, SandboxResponse } from './server.js';

/** The paging providers of the sandbox. */
export type PagingProvider = 'pagerduty' | 'opsgenie';

/** One call as received: method, path (with query), parsed body, when. */
export interface RecordedCall {
  method: string;
  path: string;
  body: unknown;
  at: string;
  status: number;
}

/** One webhook the sandbox sent: to whom, what, and the answer (status 0 = unreachable). */
export interface SentWebhook {
  provider: PagingProvider;
  type: string;
  key: string;
  url: string;
  status: number;
  body: string;
  at: string;
}

/** Where the sandbox sends its webhooks (`PUT /sandbox/paging/webhooks`). */
export interface WebhookTargets {
  pagerduty?: { url: string; secret: string };
  opsgenie?: { url: string; token: string };
  /** Also send the changes made through the APIs (default true). */
  echo: boolean;
}

type PdIncident = { id: string; number: number; status: 'triggered' | 'acknowledged' | 'resolved'; summary: string; severity: string; events: number; createdAt: string };
type OgAlert = { status: 'open' | 'acknowledged' | 'closed'; message: string; count: number; alertId: string; tinyId: string; createdAt: number };

interface State {
  calls: Record<PagingProvider, RecordedCall[]>;
  incidents: Record<string, PdIncident>;
  alerts: Record<string, OgAlert>;
  requests: Record<string, { action: string; success: boolean; status: string; alias: string; alertId: string; processedAt: string }>;
  faults: Partial<Record<PagingProvider, ActiveFault>>;
  targets: WebhookTargets;
  webhooks: SentWebhook[];
  pending: Set<Promise<unknown>>;
}

const states = new WeakMap<SandboxContext, State>();
function state(ctx: SandboxContext): State {
  let s = states.get(ctx);
  if (!s) {
    s = { calls: { pagerduty: [], opsgenie: [] }, incidents: {}, alerts: {}, requests: {}, faults: {}, targets: { echo: true }, webhooks: [], pending: new Set() };
    states.set(ctx, s);
  }
  return s;
}

/** PagerDuty's recorded error bodies (shared/fixtures/real/pagerduty). */
const PD_THROTTLE = { status: 'throttle exceeded', message: 'Requests for this service are arriving too quickly.  Please retry later.', errors: ['Enhance Your Calm.'] };
const PD_UNRECOGNIZED = { status: 'Unrecognized object', message: 'Event object format is unrecognized', errors: ['JSON parse error'] };
const pdInvalid = (errors: string[]) => ({ status: 'invalid', message: 'Event object is invalid', errors });
const ogBody = (message: string, extra: Record<string, unknown> = {}) => ({ message, took: 0.001, requestId: randomUUID(), ...extra });

function parse(req: SandboxRequest): { ok: true; body: unknown } | { ok: false } {
  try {
    return { ok: true, body: JSON.parse(req.body.toString('utf8') || 'null') };
  } catch {
    return { ok: false };
  }
}

/** The fault answer of `provider` when one is set (and counts it down), else undefined. */
function faultAnswer(s: State, provider: PagingProvider, success: () => SandboxResponse): SandboxResponse | undefined {
  const f = s.faults[provider];
  if (!f) return undefined;
  f.served++;
  if (f.remaining !== null && --f.remaining <= 0) delete s.faults[provider];
  const pd = provider === 'pagerduty';
  const retry = f.retryAfterSeconds ?? (f.fault === 'rate_limit' ? 1 : undefined);
  const headers: Record<string, string> = retry !== undefined ? { 'Retry-After': String(retry) } : {};
  switch (f.fault) {
    case 'timeout':
      return { status: 504, hang: true };
    case 'slow':
      return { ...success(), delayMs: f.ms ?? 2000 };
    case 'malformed':
      return { status: f.status ?? 202, headers: { 'Content-Type': 'application/json' }, body: '{"status": "succ' };
    case 'rate_limit':
    case 'quota_exhausted':
      return { status: f.status ?? 429, headers, json: pd ? PD_THROTTLE : ogBody('You are making too many requests! To avoid errors, we recommend you limit requests.') };
    case 'invalid_key':
    case 'bad_request':
      return pd ? { status: f.status ?? 400, json: pdInvalid(["Length of 'routing_key' is incorrect (should be 32 characters)"]) } : { status: f.status ?? 422, json: ogBody('Key format is not valid!') };
    default:
      return { status: f.status ?? 503, headers, json: pd ? { status: 'error', message: 'Service Unavailable', errors: ['temporarily unavailable'] } : ogBody('Internal Server Error') };
  }
}

function record(s: State, provider: PagingProvider, req: SandboxRequest, body: unknown, res: SandboxResponse): SandboxResponse {
  const q = req.query.toString();
  s.calls[provider].push({ method: req.method, path: `${req.path}${q ? `?${q}` : ''}`, body, at: new Date().toISOString(), status: res.status });
  return res;
}

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

/** A PagerDuty-style object id (14 upper-case letters and digits, as `Q2CKYRLH85UNN4`). */
function pdId(len = 14): string {
  return randomUUID().replace(/-/g, '').toUpperCase().slice(0, len);
}

let updates = 0;

function background(s: State, p: Promise<unknown>): void {
  s.pending.add(p);
  void p.finally(() => s.pending.delete(p));
}

async function deliver(s: State, provider: PagingProvider, type: string, key: string, url: string, body: string, headers: Record<string, string>): Promise<SentWebhook> {
  let status = 0;
  let answer = '';
  try {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8', ...headers }, body, signal: AbortSignal.timeout(10_000) });
    status = res.status;
    answer = await res.text();
  } catch (err) {
    answer = (err as Error).message;
  }
  const sent: SentWebhook = { provider, type, key, url, status, body: answer.slice(0, 2000), at: new Date().toISOString() };
  s.webhooks.push(sent);
  return sent;
}

/**
 * POSTs PagerDuty's v3 webhook for incident `key` (event `type`, by `agent`) to the configured subscription URL,
 * signed with its secret. Undefined when no subscription is configured.
 */
async function sendPagerDutyWebhook(s: State, key: string, inc: PdIncident, type: string, agent: Record<string, string>, withKey: boolean): Promise<SentWebhook | undefined> {
  const t = s.targets.pagerduty;
  if (!t) return undefined;
  const host = 'https://sandbox.pagerduty.com';
  const userAgent = agent.type === 'user_reference' ? { html_url: `${host}/users/${agent.id}`, self: `https://api.pagerduty.com/users/${agent.id}` } : {};
  const event = {
    event: {
      id: pdId(26),
      event_type: type,
      resource_type: 'incident',
      occurred_at: new Date().toISOString(),
      agent: { ...userAgent, ...agent },
      client: null,
      data: {
        id: inc.id,
        type: 'incident',
        self: `https://api.pagerduty.com/incidents/${inc.id}`,
        html_url: `${host}/incidents/${inc.id}`,
        number: inc.number,
        status: inc.status,
        ...(withKey ? { incident_key: key } : {}),
        created_at: inc.createdAt,
        title: inc.summary,
        service: { html_url: `${host}/services/PSBXSVC`, id: 'PSBXSVC', self: 'https://api.pagerduty.com/services/PSBXSVC', summary: 'LeadFactory Ops (sandbox)', type: 'service_reference' },
        assignees: inc.status === 'resolved' ? [] : agent.type === 'user_reference' ? [{ ...userAgent, ...agent }] : [],
        escalation_policy: { html_url: `${host}/escalation_policies/PSBXEP1`, id: 'PSBXEP1', self: 'https://api.pagerduty.com/escalation_policies/PSBXEP1', summary: 'Default', type: 'escalation_policy_reference' },
        teams: [],
        priority: null,
        urgency: inc.severity === 'critical' || inc.severity === 'error' ? 'high' : 'low',
        conference_bridge: null,
        resolve_reason: null,
        incident_type: { name: 'incident_default' },
      },
    },
  };
  const body = JSON.stringify(event);
  return deliver(s, 'pagerduty', type, key, t.url, body, { 'X-PagerDuty-Signature': signPagerDuty(body, t.secret), 'User-Agent': 'PagerDuty-Webhook/V3.0', 'X-Webhook-Id': randomUUID(), 'X-Webhook-Subscription': 'PSBXSUB' });
}

/** POSTs Opsgenie's Webhook-integration body for `action` on alert `alias` to the configured URL with its token. */
async function sendOpsgenieWebhook(s: State, alias: string, alert: OgAlert, action: string, user: string, source: { name: string; type: string }): Promise<SentWebhook | undefined> {
  const t = s.targets.opsgenie;
  if (!t) return undefined;
  const body = JSON.stringify({
    source,
    alert: {
      updatedAt: Date.now() * 1_000_000 + (++updates % 1000) * 1000,
      tags: ['leadfactory'],
      message: alert.message,
      username: user,
      alertId: alert.alertId,
      source: user,
      alias,
      tinyId: alert.tinyId,
      createdAt: alert.createdAt,
      userId: user ? randomUUID() : '',
      entity: '',
    },
    action,
    integrationId: 'sandbox-webhook-integration',
    integrationName: 'LeadFactory Ops webhook',
  });
  return deliver(s, 'opsgenie', `opsgenie.${action}`, alias, t.url, body, { authorization: `Bearer ${t.token}` });
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
      states.delete(ctx);
      return { status: 200, json: { cleared: true } };
    },
  },
  ...(['pagerduty', 'opsgenie'] as const).flatMap((p): Route[] => [
    { method: 'PUT', path: `/sandbox/faults/${p}`, provider: 'sandbox', handler: (req, ctx) => faultAdmin(p, req, ctx) },
    { method: 'DELETE', path: `/sandbox/faults/${p}`, provider: 'sandbox', handler: (req, ctx) => faultAdmin(p, req, ctx) },
  ]),
];
