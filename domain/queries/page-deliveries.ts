/**
 * Named queries over `page_deliveries` (db/entities/paging.entity.ts), the paging outbox: one row per email,
 * PagerDuty event or Opsgenie action to send, unique by `dedup_key`, delivered in id order within its `lane`,
 * claimed with a lease (`lease_until`), retried at `next_attempt_at`, finished by `sent_at` or `dead_at`.
 * `response` (jsonb) holds the provider's answer, merged with the provider's own incident id (`externalId`).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { PageAction, PageChannel } from '../../db/entities/paging.entity.js';

/** A delivery to enqueue. `lane`: deliveries of one lane go out in id order; `target`: an email address, or null. */
export interface NewPageDelivery {
  dedupKey: string;
  incidentId: number;
  channel: PageChannel;
  action: PageAction;
  lane: string;
  target: string | null;
  payload: Record<string, unknown>;
}

/** A claimed delivery; `attempts` counts this attempt. */
export interface PageDeliveryRow {
  id: number;
  incidentId: number;
  channel: PageChannel;
  action: PageAction;
  target: string | null;
  payload: Record<string, unknown>;
  attempts: number;
}

/** Enqueues a delivery due at `now`; false when its `dedup_key` was already there (nothing added). */
export async function insertPageDelivery(tx: EntityManager, row: NewPageDelivery, now: Date): Promise<boolean> {
  const rows = await tx.execute<{ id: number }[]>(
    `insert into page_deliveries (dedup_key, incident_id, channel, action, lane, target, payload, created_at, attempts, next_attempt_at)
     values (?, ?, ?, ?, ?, ?, ?::jsonb, ?, 0, ?) on conflict (dedup_key) do nothing returning id`,
    [row.dedupKey, row.incidentId, row.channel, row.action, row.lane, row.target, JSON.stringify(row.payload), now, now],
  );
  return rows.length > 0;
}

/** The providers (`pagerduty`, `opsgenie`) a trigger was enqueued to for the incident, one row per trigger. */
export async function triggeredProviders(tx: EntityManager, incidentId: number): Promise<PageChannel[]> {
  const rows = await tx.execute<{ channel: PageChannel }[]>(`select channel from page_deliveries where incident_id = ? and action = 'trigger' and channel in ('pagerduty', 'opsgenie')`, [incidentId]);
  return rows.map((r) => r.channel);
}

/**
 * Claims up to `limit` due deliveries (unsent, not dead, `next_attempt_at <= now`, no live lease, and first of
 * their lane) until `leaseUntil`, counting an attempt on each (`for update skip locked`: replicas never claim one
 * twice). Returned in id order.
 */
export async function claimDuePageDeliveries(em: EntityManager, now: Date, leaseUntil: Date, limit = 20): Promise<PageDeliveryRow[]> {
  const rows = await em.execute<{ id: number; incident_id: number; channel: PageChannel; action: PageAction; target: string | null; payload: Record<string, unknown>; attempts: number }[]>(
    `update page_deliveries set lease_until = ?, attempts = attempts + 1 where id in (
       select d.id from page_deliveries d
        where d.sent_at is null and d.dead_at is null and d.next_attempt_at <= ? and (d.lease_until is null or d.lease_until < ?)
          and not exists (select 1 from page_deliveries e where e.lane = d.lane and e.id < d.id and e.sent_at is null and e.dead_at is null)
        order by d.id limit ? for update skip locked)
     returning id, incident_id, channel, action, target, payload, attempts`,
    [leaseUntil, now, now, limit],
  );
  return rows
    .map((r) => ({ id: r.id, incidentId: r.incident_id, channel: r.channel, action: r.action, target: r.target, payload: r.payload, attempts: r.attempts }))
    .sort((a, b) => a.id - b.id);
}

/** Marks a delivery sent at `at`, merging `response` into what is stored (a provider webhook may have written its id there). */
export async function markPageSent(em: EntityManager, id: number, at: Date, response: Record<string, unknown>): Promise<void> {
  await em.execute(`update page_deliveries set sent_at = ?, lease_until = null, response = coalesce(response, '{}'::jsonb) || ?::jsonb, last_error = null where id = ?`, [at, JSON.stringify(response), id]);
}

/** Releases a failed delivery for another attempt at `nextAttemptAt`, recording `error`. */
export async function schedulePageRetry(em: EntityManager, id: number, nextAttemptAt: Date, error: string): Promise<void> {
  await em.execute('update page_deliveries set lease_until = null, next_attempt_at = ?, last_error = ? where id = ?', [nextAttemptAt, error, id]);
}

/** Gives a delivery up at `at` (dead, never retried), recording `error`. */
export async function markPageDead(em: EntityManager, id: number, at: Date, error: string): Promise<void> {
  await em.execute('update page_deliveries set lease_until = null, dead_at = ?, last_error = ? where id = ?', [at, error, id]);
}

/** Records the provider's own id of our incident (`response.externalId`) on the incident's trigger row to `provider`, when not already that. */
export async function rememberExternalId(tx: EntityManager, incidentId: number, provider: PageChannel, externalId: string): Promise<void> {
  await tx.execute(
    `update page_deliveries set response = coalesce(response, '{}'::jsonb) || jsonb_build_object('externalId', ?::text)
      where incident_id = ? and channel = ? and action = 'trigger' and (response->>'externalId') is distinct from ?`,
    [externalId, incidentId, provider, externalId],
  );
}

/** Our incident (id, status) whose trigger to `provider` recorded `externalId` (newest trigger first), or undefined. */
export async function incidentByExternalId(tx: EntityManager, provider: PageChannel, externalId: string): Promise<{ id: number; status: string } | undefined> {
  const rows = await tx.execute<{ id: number; status: string }[]>(
    `select i.id, i.status from page_deliveries d join incidents i on i.id = d.incident_id
      where d.channel = ? and d.action = 'trigger' and d.response->>'externalId' = ? order by d.id desc limit 1`,
    [provider, externalId],
  );
  return rows[0];
}
