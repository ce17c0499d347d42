/**
 * The webhooks the paging sandbox sends back, as the real providers do when a person acts there: PagerDuty's v3
 * envelope (signed `X-PagerDuty-Signature`) and Opsgenie's Webhook-integration body (`Authorization: Bearer`).
 * Every webhook sent is recorded in the context's state (`webhooks`).
 */
import { randomUUID } from 'node:crypto';
import { signPagerDuty } from '../providers/paging/signature.js';
import type { OgAlert, PagingProvider, PdIncident, SentWebhook, State } from './paging-state.js';

/** A PagerDuty-style object id (14 upper-case letters and digits, as `Q2CKYRLH85UNN4`). */
export function pdId(len = 14): string {
  return randomUUID().replace(/-/g, '').toUpperCase().slice(0, len);
}

let updates = 0;

/** Tracks a webhook sent in the background so `POST /sandbox/paging/settle` can wait for it. */
export function background(s: State, p: Promise<unknown>): void {
  s.pending.add(p);
  void p.finally(() => s.pending.delete(p));
}

/** POSTs `body` to `url` (10 s timeout) and records what was answered (status 0 = unreachable). */
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
export async function sendPagerDutyWebhook(s: State, key: string, inc: PdIncident, type: string, agent: Record<string, string>, withKey: boolean): Promise<SentWebhook | undefined> {
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
export async function sendOpsgenieWebhook(s: State, alias: string, alert: OgAlert, action: string, user: string, source: { name: string; type: string }): Promise<SentWebhook | undefined> {
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

