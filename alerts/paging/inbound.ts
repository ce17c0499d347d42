/**
 * Acknowledgements coming back from PagerDuty and Opsgenie (bot/webhooks/pagerduty.ts, bot/webhooks/opsgenie.ts):
 * an `incident.acknowledged` / `incident.resolved` PagerDuty v3 webhook event, or an Opsgenie webhook `Acknowledge` /
 * `Close` action, acknowledges / resolves our incident — as actor `pagerduty:<agent>` / `opsgenie:<user>`, on the
 * timeline, audited — and through alerts/incidents.ts sends the change to the *other* provider once (never back to
 * the one it came from: `via` is the provider, which enqueueExternalChange skips).
 *
 * Each delivery is stored once in `webhook_inbox` (provider `pagerduty` | `opsgenie`; `event_id` = PagerDuty's
 * `event.id`, or for Opsgenie, which sends no delivery id, `<alertId>:<action>:<alert.updatedAt>`), and applied in
 * one transaction that locks the inbox row (as Stripe events are, domain/storefront/webhook.ts): a redelivery, or two
 * replicas receiving the same delivery, change nothing.
 *
 * Mapping back to our incident: the PagerDuty `data.incident_key` (= the `dedup_key` of our trigger) or the Opsgenie
 * `alert.alias` is `leadfactory-incident-<id>`. PagerDuty's Events API answers a trigger with the dedup key only
 * (no incident id), so the first mapped event of a provider's incident records its id (PagerDuty `data.id`, Opsgenie
 * `alert.alertId`) on our trigger row in `page_deliveries.response` (`externalId`); later events lacking the key
 * are mapped through it.
 *
 * Echoes are harmless: our own acknowledge sent to PagerDuty comes back as an `incident.acknowledged` event; our
 * incident is then already acknowledged, so the event is recorded as `already` and nothing is sent anywhere.
 */
import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AppConfig } from '../../domain/config.js';
import type { Clock } from '../../domain/clock.js';
import type { Logger } from '../../domain/logger.js';
import { isRecord } from '../../domain/providers/http-errors.js';
import { getIncident } from '../../domain/queries/incidents.js';
import { incidentByExternalId, rememberExternalId } from '../../domain/queries/page-deliveries.js';
import { insertInboxEvent, lockInboxEvent, markInboxError, markInboxProcessed } from '../../domain/queries/webhook-inbox.js';
import type { Actor } from '../../runbooks/actions.js';
import { acknowledgeIncident, resolveIncident } from '../incidents.js';
import { incidentIdOfKey } from './enqueue.js';

/** The providers whose acknowledgements come back. */
export type InboundPagingProvider = 'pagerduty' | 'opsgenie';

/** One provider event, reduced to what we act on. */
export interface InboundPagingEvent {
  provider: InboundPagingProvider;
  /** The inbox key (see the module comment). */
  eventId: string;
  /** `incident.acknowledged`, … (PagerDuty `event_type`) or `opsgenie.Acknowledge`, … (Opsgenie `action`). */
  type: string;
  /** What it asks of our incident; undefined = nothing (other event types, pings). */
  action: 'acknowledge' | 'resolve' | undefined;
  /** PagerDuty `incident_key` / Opsgenie `alias` (ours: `leadfactory-incident-<id>`). */
  key: string | undefined;
  /** PagerDuty incident id (`data.id`) / Opsgenie `alertId`. */
  externalId: string | undefined;
  /** Who did it in the provider (PagerDuty `agent.summary`, Opsgenie `alert.username`), for the actor id. */
  agent: string;
}

/** A body that is not a provider event: `error` names the first problem. */
export type ParseResult = { ok: true; event: InboundPagingEvent } | { ok: false; error: string };

const obj = (v: unknown): Record<string, unknown> | undefined => (isRecord(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v : undefined);

/**
 * A PagerDuty v3 webhook body (`{"event": {"id", "event_type", "resource_type", "occurred_at", "agent", "client",
 * "data"}}`, https://developer.pagerduty.com/docs/webhooks/v3-overview/) as an {@link InboundPagingEvent}:
 * `incident.acknowledged` → acknowledge, `incident.resolved` → resolve, every other type (`incident.triggered`,
 * `incident.unacknowledged`, `pagey.ping`, `service.updated`, …) no action.
 */
export function parsePagerDutyWebhook(body: unknown): ParseResult {
  const event = obj(obj(body)?.event);
  if (!event) return { ok: false, error: 'body has no "event" object' };
  const id = str(event.id);
  const type = str(event.event_type);
  if (!id || id.length > 255) return { ok: false, error: 'event.id is missing or longer than 255 characters' };
  if (!type) return { ok: false, error: 'event.event_type is missing' };
  const data = obj(event.data);
  const agent = obj(event.agent);
  const isIncident = data?.type === 'incident';
  const action = !isIncident ? undefined : type === 'incident.acknowledged' ? 'acknowledge' : type === 'incident.resolved' ? 'resolve' : undefined;
  return {
    ok: true,
    event: {
      provider: 'pagerduty',
      eventId: id,
      type: type.slice(0, 255),
      action,
      key: isIncident ? str(data?.incident_key) : undefined,
      externalId: isIncident ? str(data?.id) : undefined,
      agent: str(agent?.summary) ?? str(agent?.id) ?? 'PagerDuty',
    },
  };
}

/**
 * An Opsgenie Webhook-integration body (`{"action": "Acknowledge"|"Close"|…, "alert": {"alertId", "alias",
 * "username", "updatedAt", …}, "source": {"name", "type"}, "integrationId", "integrationName"}`,
 * https://docs.opsgenie.com/docs/webhook-integration) as an {@link InboundPagingEvent}: `Acknowledge` →
 * acknowledge, `Close` → resolve, other actions (`Create`, `UnAcknowledge`, `AddNote`, …) no action. `raw` keys a
 * delivery without `alertId`/`updatedAt` (the SHA-256 of its bytes).
 */
export function parseOpsgenieWebhook(body: unknown, raw: Buffer): ParseResult {
  const b = obj(body);
  if (!b) return { ok: false, error: 'body is not a JSON object' };
  const action = str(b.action);
  const alert = obj(b.alert);
  if (!action) return { ok: false, error: '"action" is missing' };
  if (!alert) return { ok: false, error: '"alert" is missing' };
  const alertId = str(alert.alertId);
  const updatedAt = typeof alert.updatedAt === 'number' || typeof alert.updatedAt === 'string' ? String(alert.updatedAt) : undefined;
  const eventId = alertId && updatedAt ? `${alertId}:${action}:${updatedAt}` : `sha256:${createHash('sha256').update(raw).digest('hex')}`;
  const source = obj(b.source);
  return {
    ok: true,
    event: {
      provider: 'opsgenie',
      eventId: eventId.slice(0, 255),
      type: `opsgenie.${action}`.slice(0, 255),
      action: action === 'Acknowledge' ? 'acknowledge' : action === 'Close' ? 'resolve' : undefined,
      key: str(alert.alias),
      externalId: alertId,
      agent: str(alert.username) ?? str(source?.name) ?? 'Opsgenie',
    },
  };
}

/**
 * What receiving one event did: `acknowledged` / `resolved` (ours changed now), `already` (ours was already in that
 * state, e.g. our own change echoed back), `ignored` (an event type we do not act on), `unmatched` (no incident of
 * ours), `duplicate` (this delivery was applied before).
 */
export type InboundOutcome = 'acknowledged' | 'resolved' | 'already' | 'ignored' | 'unmatched' | 'duplicate';

/** What {@link receivePagingEvent} needs. */
export interface InboundDeps {
  em(): EntityManager;
  config: AppConfig;
  clock: Clock;
  logger: Logger;
}

/** The actor of a provider-side change: id `pagerduty:<agent>` / `opsgenie:<user>` (≤ 200 characters). */
export function providerActor(provider: InboundPagingProvider, agent: string): Actor {
  const who = agent.replace(/\s+/g, ' ').trim().slice(0, 150) || provider;
  return { id: `${provider}:${who}`, role: undefined, source: 'system', display: who };
}

/** Our incident for `ev`: by key, else by the provider's id remembered on our trigger row. */
async function mapIncident(tx: EntityManager, ev: InboundPagingEvent): Promise<{ id: number; status: string } | undefined> {
  const byKey = incidentIdOfKey(ev.key);
  if (byKey !== undefined) {
    const inc = await getIncident(tx, byKey);
    if (!inc) return undefined;
    if (ev.externalId) await rememberExternalId(tx, byKey, ev.provider, ev.externalId);
    return { id: inc.id, status: inc.status };
  }
  if (!ev.externalId) return undefined;
  return incidentByExternalId(tx, ev.provider, ev.externalId);
}

/** Inside `tx`, with the inbox row locked: applies `ev` to our incident once and marks the row processed. */
async function applyEvent(deps: InboundDeps, tx: EntityManager, ev: InboundPagingEvent, now: Date): Promise<{ outcome: InboundOutcome; incident?: number }> {
  const row = await lockInboxEvent(tx, ev.provider, ev.eventId);
  if (row?.processedAt) return { outcome: 'duplicate' };
  const done = async (r: { outcome: InboundOutcome; incident?: number }) => {
    await markInboxProcessed(tx, ev.provider, ev.eventId, deps.clock.now());
    return r;
  };
  const inc = await mapIncident(tx, ev);
  if (!inc) return done({ outcome: ev.action ? 'unmatched' : 'ignored' });
  if (!ev.action) return done({ outcome: 'ignored', incident: inc.id });
  if (inc.status === 'resolved' || (ev.action === 'acknowledge' && inc.status === 'acknowledged')) return done({ outcome: 'already', incident: inc.id });
  const actor = providerActor(ev.provider, ev.agent);
  const change = ev.action === 'acknowledge' ? acknowledgeIncident : resolveIncident;
  const res = await change(tx, inc.id, actor, now, deps.config, { via: ev.provider });
  return done({ outcome: res.status === 'done' ? (ev.action === 'acknowledge' ? 'acknowledged' : 'resolved') : 'already', incident: inc.id });
}

/**
 * Stores `ev` in the inbox (`payload`: the body made storable; `raw`: the body as received when it had to be) and
 * applies it once (see the module comment). @throws when the database fails (the row keeps `error`; the provider's
 * redelivery applies it).
 */
export async function receivePagingEvent(deps: InboundDeps, ev: InboundPagingEvent, payload: unknown, raw: string | null = null): Promise<{ outcome: InboundOutcome; incident?: number }> {
  const now = deps.clock.now();
  const em = deps.em();
  await insertInboxEvent(em, { provider: ev.provider, eventId: ev.eventId, type: ev.type, payload, receivedAt: now, raw });
  try {
    const r = await em.transactional((tx) => applyEvent(deps, tx, ev, now));
    deps.logger.info({ provider: ev.provider, eventId: ev.eventId, type: ev.type, incident: r.incident, outcome: r.outcome }, 'paging webhook event received');
    return r;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    deps.logger.error({ provider: ev.provider, eventId: ev.eventId, err: message }, 'paging webhook event not applied');
    await markInboxError(em, ev.provider, ev.eventId, message.slice(0, 2000)).catch(() => undefined);
    throw err;
  }
}
