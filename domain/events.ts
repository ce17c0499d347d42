/**
 * Ops events: typed facts operators should hear about, written to the `ops_events` outbox and posted by the
 * notifier (alerts/notifier.ts). Recording is idempotent on `dedupKey`.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { OpsSeverity } from '../db/entities/index.js';

/** Known event types. `pipeline.*` from the daily run; more are added by later layers. */
export type OpsEventType =
  | 'pipeline.run_started'
  | 'pipeline.run_finished'
  | 'pipeline.run_failed'
  | 'job.failed'
  | (string & {});

/** An event to record. `dedupKey` identifies the fact (e.g. `pipeline.run_finished:42`). */
export interface OpsEventInput {
  type: OpsEventType;
  severity: OpsSeverity;
  dedupKey: string;
  payload: Record<string, unknown>;
}

/**
 * Inserts the event unless one with the same dedup key exists. Returns true when it was new.
 * Uses plain SQL `ON CONFLICT DO NOTHING` so concurrent writers (threads, replicas) never fail on the key.
 */
export async function recordOpsEvent(em: EntityManager, ev: OpsEventInput, now: Date = new Date()): Promise<boolean> {
  const rows = await em.getConnection().execute<{ id: number }[]>(
    `insert into ops_events (type, severity, payload, dedup_key, created_at, attempts)
     values (?, ?, ?::jsonb, ?, ?, 0) on conflict (dedup_key) do nothing returning id`,
    [ev.type, ev.severity, JSON.stringify(ev.payload), ev.dedupKey, now],
  );
  return rows.length > 0;
}
