/**
 * PagerDuty Events API v2 and Opsgenie Alert API adapters over got (one attempt each: the paging outbox,
 * alerts/paging/dispatcher.ts, owns retries). Wire formats:
 *
 * - PagerDuty (https://developer.pagerduty.com/docs/events-API-v2/trigger-events/): `POST {base}/v2/enqueue` with
 *   `{routing_key, event_action: trigger|acknowledge|resolve, dedup_key, payload: {summary, source, severity,
 *   timestamp, component, group, class, custom_details}, client, links}`; answered 202
 *   `{"status":"success","message":"Event processed","dedup_key":…}`; 400 `{status: "invalid", message, errors}`
 *   (do not retry), 429 `throttle exceeded` and 5xx (retry).
 * - Opsgenie (https://docs.opsgenie.com/docs/alert-api): `Authorization: GenieKey <key>`; create `POST
 *   {base}/v2/alerts` `{message ≤130, alias, description, details, priority P1-P5, entity, source, tags}`;
 *   acknowledge / close `POST {base}/v2/alerts/{alias}/acknowledge|close?identifierType=alias` `{user, source,
 *   note}`; answered 202 `{"result":"Request will be processed","took":…,"requestId":…}` (processed asynchronously).
 *
 * Errors: ProviderError (provider `pagerduty` | `opsgenie`) with `retryable` true for 408/429/5xx and network
 * errors, false for other 4xx.
 */
import got, { type RequestError, type Response } from 'got';
import { ProviderError } from '../../errors.js';

/** Public base URLs. */
export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com';
export const OPSGENIE_API_URL = 'https://api.opsgenie.com';
/** Placeholder credentials the sandbox accepts (a PagerDuty routing key is 32 characters). */
export const SANDBOX_PAGERDUTY_ROUTING_KEY = 'sandboxpagerdutyroutingkey000000';
export const SANDBOX_OPSGENIE_KEY = 'sandbox-opsgenie-key';

/** A PagerDuty event in its wire format (`routing_key` is added by the client). */
export interface PagerDutyEvent {
  event_action: 'trigger' | 'acknowledge' | 'resolve';
  dedup_key: string;
  payload?: { summary: string; source: string; severity: 'critical' | 'error' | 'warning' | 'info'; timestamp?: string; component?: string; group?: string; class?: string; custom_details?: Record<string, unknown> };
  client?: string;
  client_url?: string;
}

/** PagerDuty's 202 answer. */
export interface PagerDutyAccepted {
  status: string;
  message: string;
  dedup_key: string;
}

/** Opsgenie's 202 answer. */
export interface OpsgenieAccepted {
  result: string;
  took: number;
  requestId: string;
}

/** Opsgenie create-alert body (subset we send). */
export interface OpsgenieAlert {
  message: string;
  alias: string;
  description?: string;
  details?: Record<string, string>;
  priority?: 'P1' | 'P2' | 'P3' | 'P4' | 'P5';
  entity?: string;
  source?: string;
  tags?: string[];
}

/** The paging port. */
export interface PagingClients {
  pagerduty: { enqueue(event: PagerDutyEvent): Promise<PagerDutyAccepted> };
  opsgenie: {
    create(alert: OpsgenieAlert): Promise<OpsgenieAccepted>;
    /** `action` on the alert whose alias is `alias`, as `user` with `note`. */
    act(alias: string, action: 'acknowledge' | 'close', body: { user: string; source: string; note: string }): Promise<OpsgenieAccepted>;
  };
}

async function post<T>(provider: string, operation: string, url: string, json: unknown, headers: Record<string, string>, timeoutMs: number): Promise<T> {
  let res: Response<string>;
  try {
    res = await got.post(url, { json, headers, throwHttpErrors: false, retry: { limit: 0 }, timeout: { request: timeoutMs }, responseType: 'text' });
  } catch (err) {
    throw new ProviderError({ provider, operation, message: (err as RequestError).code ?? (err as Error).message, retryable: true, cause: err });
  }
  let body: unknown;
  try {
    body = JSON.parse(res.body);
  } catch {
    body = undefined;
  }
  if (res.statusCode === 202 && body && typeof body === 'object') return body as T;
  const b = (body ?? {}) as { message?: unknown; errors?: unknown; status?: unknown };
  const detail = [typeof b.message === 'string' ? b.message : res.body.slice(0, 200), Array.isArray(b.errors) ? b.errors.join('; ') : ''].filter(Boolean).join(': ');
  const retryAfter = Number(res.headers['retry-after']);
  throw new ProviderError({
    provider,
    operation,
    status: res.statusCode,
    message: `HTTP ${res.statusCode}${detail ? ` ${detail}` : ''}`,
    retryable: res.statusCode === 408 || res.statusCode === 429 || res.statusCode >= 500 || (res.statusCode === 202 && !body),
    ...(Number.isFinite(retryAfter) ? { retryAfterMs: retryAfter * 1000 } : {}),
  });
}

/** Both clients, for the given base URLs and keys. */
export function createPagingClients(opts: { pagerduty: { baseUrl: string; routingKey: string }; opsgenie: { baseUrl: string; apiKey: string }; timeoutMs: number }): PagingClients {
  const pd = opts.pagerduty.baseUrl.replace(/\/+$/, '');
  const og = opts.opsgenie.baseUrl.replace(/\/+$/, '');
  const genie = { authorization: `GenieKey ${opts.opsgenie.apiKey}` };
  return {
    pagerduty: {
      enqueue: (event) => post<PagerDutyAccepted>('pagerduty', `events.${event.event_action}`, `${pd}/v2/enqueue`, { routing_key: opts.pagerduty.routingKey, ...event }, {}, opts.timeoutMs),
    },
    opsgenie: {
      create: (alert) => post<OpsgenieAccepted>('opsgenie', 'alerts.create', `${og}/v2/alerts`, alert, genie, opts.timeoutMs),
      act: (alias, action, body) => post<OpsgenieAccepted>('opsgenie', `alerts.${action}`, `${og}/v2/alerts/${encodeURIComponent(alias)}/${action}?identifierType=alias`, body, genie, opts.timeoutMs),
    },
  };
}

/**
 * The clients for `config` (keys and base URLs; without a key the sandbox at `sandboxUrl` with its placeholder
 * keys), or undefined when neither provider is enabled. @throws Error when a provider needs the sandbox and none runs.
 */
export function pagingClientsFor(config: { oncall: { pagerduty: { key?: string; baseUrl?: string; enabled: boolean }; opsgenie: { key?: string; baseUrl?: string; enabled: boolean } }; providerTimeoutMs: number }, sandboxUrl: string | undefined): PagingClients | undefined {
  const { pagerduty: pd, opsgenie: og } = config.oncall;
  if (!pd.enabled && !og.enabled) return undefined;
  const origin = sandboxUrl?.replace(/\/+$/, '');
  const base = (p: { key?: string; baseUrl?: string }, pub: string, path: string) => {
    if (p.baseUrl) return p.baseUrl;
    if (p.key) return pub;
    if (!origin) throw new Error(`${path} paging needs the sandbox but none is running`);
    return `${origin}/${path}`;
  };
  return createPagingClients({
    pagerduty: { baseUrl: base(pd, PAGERDUTY_EVENTS_URL, 'pagerduty'), routingKey: pd.key ?? SANDBOX_PAGERDUTY_ROUTING_KEY },
    opsgenie: { baseUrl: base(og, OPSGENIE_API_URL, 'opsgenie'), apiKey: og.key ?? SANDBOX_OPSGENIE_KEY },
    timeoutMs: Math.min(config.providerTimeoutMs, 15_000),
  });
}
