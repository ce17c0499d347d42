/**
 * Ops events: typed facts operators should hear about, written to the `ops_events` outbox and posted by the
 * notifier (alerts/notifier.ts). Recording is idempotent on `dedupKey`.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { OpsSeverity } from '../db/entities/index.js';
import { insertOpsEvent } from './queries/ops-events.js';

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
 * Called with an event whose insert failed (the database unreachable): the composition root sets one that sends
 * the event straight to Slack from memory (alerts/ops-spool.ts) and records it when the database is back.
 */
export type OpsEventFallback = (ev: OpsEventInput, now: Date, err: unknown) => void;
let fallback: OpsEventFallback | undefined;

/** Sets (or clears, with undefined) the {@link OpsEventFallback} of this process. */
export function setOpsEventFallback(fn: OpsEventFallback | undefined): void {
  fallback = fn;
}

/**
 * Inserts the event unless one with the same dedup key exists. Returns true when it was new.
 * Uses plain SQL `ON CONFLICT DO NOTHING` so concurrent writers (threads, replicas) never fail on the key.
 * `opts.postedAt` records an event that already reached Slack (the outage spool), so the notifier skips it.
 * When the insert fails the fallback (if set) gets the event, and the error is thrown as before.
 */
export async function recordOpsEvent(em: EntityManager, ev: OpsEventInput, now: Date = new Date(), opts: { postedAt?: Date } = {}): Promise<boolean> {
  try {
    return await insertOpsEvent(em, { type: ev.type, severity: ev.severity, payload: ev.payload, dedupKey: ev.dedupKey, createdAt: now, postedAt: opts.postedAt ?? null });
  } catch (err) {
    try {
      fallback?.(ev, now, err);
    } catch {
      // the fallback must never hide the original error
    }
    throw err;
  }
}
