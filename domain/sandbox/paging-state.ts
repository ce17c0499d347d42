/**
 * The sandbox paging providers' state (domain/sandbox/paging.ts): per sandbox context, the calls received, PagerDuty
 * incidents, Opsgenie alerts and request outcomes, faults, webhook targets and webhooks sent; and what every
 * paging route shares: the providers' recorded error bodies, body parsing, fault answers and call recording.
 */
import { randomUUID } from 'node:crypto';
import type { ActiveFault } from './faults.js';
import type { SandboxContext, SandboxRequest, SandboxResponse } from './server.js';

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

/** A PagerDuty incident as the sandbox keeps it (per dedup_key). */
export type PdIncident = { id: string; number: number; status: 'triggered' | 'acknowledged' | 'resolved'; summary: string; severity: string; events: number; createdAt: string };
/** An Opsgenie alert as the sandbox keeps it (per alias). */
export type OgAlert = { status: 'open' | 'acknowledged' | 'closed'; message: string; count: number; alertId: string; tinyId: string; createdAt: number };

/** Everything the paging sandbox keeps for one sandbox context. */
export interface State {
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

/** Forgets every call, incident, alert, fault and webhook of `ctx` (`DELETE /sandbox/paging`). */
export function forgetPagingState(ctx: SandboxContext): void {
  states.delete(ctx);
}

/** The paging state of `ctx` (created empty on first use). */
export function state(ctx: SandboxContext): State {
  let s = states.get(ctx);
  if (!s) {
    s = { calls: { pagerduty: [], opsgenie: [] }, incidents: {}, alerts: {}, requests: {}, faults: {}, targets: { echo: true }, webhooks: [], pending: new Set() };
    states.set(ctx, s);
  }
  return s;
}

/** PagerDuty's recorded error bodies (shared/fixtures/real/pagerduty). */
export const PD_THROTTLE = { status: 'throttle exceeded', message: 'Requests for this service are arriving too quickly.  Please retry later.', errors: ['Enhance Your Calm.'] };
export const PD_UNRECOGNIZED = { status: 'Unrecognized object', message: 'Event object format is unrecognized', errors: ['JSON parse error'] };
export const pdInvalid = (errors: string[]) => ({ status: 'invalid', message: 'Event object is invalid', errors });
export const ogBody = (message: string, extra: Record<string, unknown> = {}) => ({ message, took: 0.001, requestId: randomUUID(), ...extra });

/** The request body as JSON (`null` when empty), or not ok when it does not parse. */
export function parse(req: SandboxRequest): { ok: true; body: unknown } | { ok: false } {
  try {
    return { ok: true, body: JSON.parse(req.body.toString('utf8') || 'null') };
  } catch {
    return { ok: false };
  }
}

/** The fault answer of `provider` when one is set (and counts it down), else undefined. */
export function faultAnswer(s: State, provider: PagingProvider, success: () => SandboxResponse): SandboxResponse | undefined {
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

/** Records the call `req` (parsed `body`) with the answer's status, and returns the answer. */
export function record(s: State, provider: PagingProvider, req: SandboxRequest, body: unknown, res: SandboxResponse): SandboxResponse {
  const q = req.query.toString();
  s.calls[provider].push({ method: req.method, path: `${req.path}${q ? `?${q}` : ''}`, body, at: new Date().toISOString(), status: res.status });
  return res;
}

