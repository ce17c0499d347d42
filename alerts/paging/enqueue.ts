/**
 * Pages beyond Slack, enqueued in the paging outbox (`page_deliveries`, db/entities/paging.entity.ts) inside the
 * transaction of the incident change they announce (alerts/incidents.ts), delivered by alerts/paging/dispatcher.ts:
 *
 * - a page (declaration, escalation) → an email to each paged person with a contact address (one per incident,
 *   level and address), a PagerDuty `trigger` and an Opsgenie create — **one per incident**, however often it is
 *   re-paged (`dedup_key` / `alias` = {@link incidentKey});
 * - our acknowledgement → PagerDuty `acknowledge` and Opsgenie acknowledge; our resolution → PagerDuty `resolve`
 *   and Opsgenie close; each once per incident, only where a trigger was enqueued, and never back to the provider
 *   the acknowledgement came from.
 *
 * Idempotent by `dedup_key` (unique): a double click, a second replica or a repeated escalation adds nothing.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { PageAction } from '../../db/entities/paging.entity.js';
import type { AppConfig } from '../../domain/config.js';
import { contactEmails } from '../../domain/queries/oncall.js';
import { insertPageDelivery, triggeredProviders } from '../../domain/queries/page-deliveries.js';
import type { OpsgenieAlert } from '../../domain/providers/paging/http.js';
import type { OnCallPlan } from './plan.js';

/** Our incident key: PagerDuty's `dedup_key` and Opsgenie's `alias` for incident `id`. */
export function incidentKey(id: number): string {
  return `leadfactory-incident-${id}`;
}

/** The incident id of one of our keys (`leadfactory-incident-12` → 12), else undefined. */
export function incidentIdOfKey(key: unknown): number | undefined {
  const m = typeof key === 'string' ? /^leadfactory-incident-(\d{1,9})$/.exec(key) : null;
  return m ? Number(m[1]) : undefined;
}

/** What a page says about the incident. */
export interface PagedIncident {
  id: number;
  title: string;
  severity: string;
  provider: string | null;
  runbook: string | null;
}

/** PagerDuty `payload.severity` per incident severity. */
export const PAGERDUTY_SEVERITY: Readonly<Record<string, 'critical' | 'error' | 'warning' | 'info'>> = { SEV1: 'critical', SEV2: 'error', SEV3: 'warning', SEV4: 'info' };
/** Opsgenie `priority` per incident severity. */
export const OPSGENIE_PRIORITY: Readonly<Record<string, NonNullable<OpsgenieAlert['priority']>>> = { SEV1: 'P1', SEV2: 'P2', SEV3: 'P3', SEV4: 'P4' };

/** The providers (PagerDuty, Opsgenie) paging is switched on for. */
export function enabledAlertChannels(config: AppConfig): ('pagerduty' | 'opsgenie')[] {
  return (['pagerduty', 'opsgenie'] as const).filter((c) => config.oncall[c].enabled);
}

/**
 * Enqueues the page of `plan` for `inc` beyond Slack (see the module comment). Returns the dedup keys added.
 * Runs inside the caller's transaction.
 */
export async function enqueueExternalPages(tx: EntityManager, inc: PagedIncident, plan: OnCallPlan & { levelName?: string }, now: Date, config: AppConfig): Promise<string[]> {
  const added: string[] = [];
  const payload = {
    key: incidentKey(inc.id),
    summary: `${inc.severity} incident #${inc.id}: ${inc.title}`,
    severity: inc.severity,
    level: plan.level,
    ...(plan.levelName ? { levelName: plan.levelName } : {}),
    provider: inc.provider,
    runbook: inc.runbook,
    paged: plan.dms,
    ...(plan.oncall ? { oncall: plan.oncall } : {}),
    ...(plan.vendor ? { vendor: plan.vendor } : {}),
  };
  if (config.oncall.email && plan.dms.length > 0) {
    const emails = await contactEmails(tx, plan.dms);
    for (const [user, email] of Object.entries(emails)) {
      const key = `incident:${inc.id}:email:L${plan.level}:${email.toLowerCase()}`;
      if (await insertPageDelivery(tx, { dedupKey: key, incidentId: inc.id, channel: 'email', action: 'trigger', lane: `email:${email.toLowerCase()}`, target: email, payload: { ...payload, user } }, now)) added.push(key);
    }
  }
  for (const channel of enabledAlertChannels(config)) {
    const key = `incident:${inc.id}:${channel}:trigger`;
    if (await insertPageDelivery(tx, { dedupKey: key, incidentId: inc.id, channel, action: 'trigger', lane: `incident:${inc.id}:${channel}`, target: null, payload }, now)) added.push(key);
  }
  return added;
}

/**
 * Enqueues `action` (acknowledge | resolve) of incident `id` to every provider a trigger was enqueued for, except
 * `except` (the provider the change came from). Returns the dedup keys added. Runs inside the caller's transaction.
 */
export async function enqueueExternalChange(tx: EntityManager, id: number, action: Exclude<PageAction, 'trigger'>, now: Date, by: string, except?: string): Promise<string[]> {
  const added: string[] = [];
  for (const channel of await triggeredProviders(tx, id)) {
    if (channel === except) continue;
    const key = `incident:${id}:${channel}:${action}`;
    if (await insertPageDelivery(tx, { dedupKey: key, incidentId: id, channel, action, lane: `incident:${id}:${channel}`, target: null, payload: { key: incidentKey(id), by } }, now)) added.push(key);
  }
  return added;
}
