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
 * - Admin: `GET /sandbox/paging` → `{pagerduty: {calls, incidents}, opsgenie: {calls, alerts}}` (every call as
 *   received); `DELETE /sandbox/paging` forgets them; `PUT|DELETE /sandbox/faults/pagerduty|opsgenie` sets or clears a
 *   fault (the {@link FaultSpec} of the other providers: rate_limit, server_error, timeout, slow, invalid_key,
 *   quota_exhausted, malformed, with `status`, `ms`, `retryAfterSeconds`, `count`).
 */
import { randomUUID } from 'node:crypto';
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

interface State {
  calls: Record<PagingProvider, RecordedCall[]>;
  incidents: Record<string, { status: 'triggered' | 'acknowledged' | 'resolved'; summary: string; severity: string; events: number }>;
  alerts: Record<string, { status: 'open' | 'acknowledged' | 'closed'; message: string; count: number; alertId: string }>;
  requests: Record<string, { action: string; success: boolean; status: string; alias: string; alertId: string; processedAt: string }>;
  faults: Partial<Record<PagingProvider, ActiveFault>>;
}

const states = new WeakMap<SandboxContext, State>();
function state(ctx: SandboxContext): State {
  let s = states.get(ctx);
  if (!s) {
    s = { calls: { pagerduty: [], opsgenie: [] }, incidents: {}, alerts: {}, requests: {}, faults: {} };
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
    else s.incidents[key] = { status: 'triggered', summary: p.summary!, severity: p.severity!, events: 1 };
  } else if (inc && inc.status !== 'resolved') {
    // acknowledge/resolve of an unknown or resolved key are dropped by PagerDuty (still 202)
    inc.status = b.event_action === 'acknowledge' ? 'acknowledged' : 'resolved';
    inc.events++;
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
    else s.alerts[alias] = { status: 'open', message: b.message, count: 1, alertId: randomUUID() };
    return record(s, 'opsgenie', req, body, opsgenieRequest(s, 'Create', alias, true, 'Created alert', s.alerts[alias]!.alertId));
  }
  if (req.query.get('identifierType') !== 'alias') return record(s, 'opsgenie', req, body, { status: 422, json: ogBody('identifierType must be alias in this sandbox') });
  const alias = decodeURIComponent(m[1]);
  const alert = s.alerts[alias];
  const action = m[2] === 'acknowledge' ? 'Acknowledge' : 'Close';
  if (!alert) return record(s, 'opsgenie', req, body, opsgenieRequest(s, action, '', false, 'Alert does not exist', ''));
  alert.status = m[2] === 'acknowledge' ? (alert.status === 'closed' ? 'closed' : 'acknowledged') : 'closed';
  return record(s, 'opsgenie', req, body, opsgenieRequest(s, action, alias, true, m[2] === 'acknowledge' ? 'Acknowledged' : 'Closed', alert.alertId));
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
      return { status: 200, json: { pagerduty: { calls: s.calls.pagerduty, incidents: s.incidents }, opsgenie: { calls: s.calls.opsgenie, alerts: s.alerts }, faults: s.faults } };
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
