/**
 * Named queries over `webhook_inbox` (one row per provider event received; `processed_at` set once applied, `error`
 * set when applying failed; an error starting with the caller's parked prefix marks an event parked on purpose).
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** The inbox of one provider: counts are events; times UTC. */
export interface InboxSummary {
  /** Time the last event was received; null when none ever was. */
  lastReceivedAt: Date | null;
  total: number;
  /** Received after `since`. */
  received: number;
  /** Not processed and not parked (waiting, or failed and to be retried). */
  unprocessed: number;
  /** Of the unprocessed, received before `lagBefore`. */
  lagging: number;
  /** Not processed, with an error that is not a park. */
  errored: number;
  /** Not processed, parked (error starts with `parkedPrefix`). */
  parked: number;
}

/** Reads {@link InboxSummary} for `provider` (one statement). */
export async function inboxSummary(em: EntityManager, provider: string, since: Date, lagBefore: Date, parkedPrefix: string): Promise<InboxSummary> {
  const parked = `${parkedPrefix}%`;
  const [row] = await em.execute<{ last: Date | string | null; total: string; received24h: string; unprocessed: string; lagging: string; errored: string; parked: string }[]>(
    `select max(received_at) as last, count(*) as total, count(*) filter (where received_at > ?) as received24h,
            count(*) filter (where processed_at is null and (error is null or error not like ?)) as unprocessed,
            count(*) filter (where processed_at is null and (error is null or error not like ?) and received_at < ?) as lagging,
            count(*) filter (where processed_at is null and error is not null and error not like ?) as errored,
            count(*) filter (where processed_at is null and error like ?) as parked
     from webhook_inbox where provider = ?`,
    [since, parked, parked, lagBefore, parked, parked, provider],
  );
  const num = (v: unknown) => Number(v ?? 0);
  return {
    lastReceivedAt: row?.last ? new Date(row.last) : null,
    total: num(row?.total),
    received: num(row?.received24h),
    unprocessed: num(row?.unprocessed),
    lagging: num(row?.lagging),
    errored: num(row?.errored),
    parked: num(row?.parked),
  };
}

/** The most recently received unprocessed event of `provider` whose error is not a park; undefined when none. */
export async function lastInboxError(em: EntityManager, provider: string, parkedPrefix: string): Promise<{ eventId: string; type: string; error: string } | undefined> {
  const [row] = await em.execute<{ event_id: string; type: string; error: string }[]>(
    `select event_id, type, error from webhook_inbox where provider = ? and processed_at is null and error is not null and error not like ?
     order by received_at desc limit 1`,
    [provider, `${parkedPrefix}%`],
  );
  return row ? { eventId: row.event_id, type: row.type, error: row.error } : undefined;
}

/** One received provider event to store: `payload` is stored as jsonb, `raw` (the body as received) as text or null. */
export interface InboxEventInput {
  provider: string;
  eventId: string;
  type: string;
  payload: unknown;
  receivedAt: Date;
  raw: string | null;
}

/** Stores a received event once: false when (`provider`, `eventId`) was already there (nothing changed). */
export async function insertInboxEvent(em: EntityManager, ev: InboxEventInput): Promise<boolean> {
  const rows = await em.execute<{ event_id: string }[]>(
    `insert into webhook_inbox (provider, event_id, type, payload, received_at, raw_json)
     values (?, ?, ?, ?::jsonb, ?, ?) on conflict (provider, event_id) do nothing returning event_id`,
    [ev.provider, ev.eventId, ev.type, JSON.stringify(ev.payload), ev.receivedAt, ev.raw],
  );
  return rows.length > 0;
}

/** Locks the inbox row of an event (`for update`, inside a transaction) and reads when it was processed; undefined when absent. */
export async function lockInboxEvent(tx: EntityManager, provider: string, eventId: string): Promise<{ processedAt: Date | null } | undefined> {
  const [row] = await tx.execute<{ processed_at: Date | string | null }[]>('select processed_at from webhook_inbox where provider = ? and event_id = ? for update', [provider, eventId]);
  return row ? { processedAt: row.processed_at ? new Date(row.processed_at) : null } : undefined;
}

/** Marks an event processed at `at` and clears its error. */
export async function markInboxProcessed(em: EntityManager, provider: string, eventId: string, at: Date): Promise<void> {
  await em.execute('update webhook_inbox set processed_at = ?, error = null where provider = ? and event_id = ?', [at, provider, eventId]);
}

/** Records why applying a not-yet-processed event failed (`error`, ≤ 2000 characters expected); a processed event is left alone. */
export async function markInboxError(em: EntityManager, provider: string, eventId: string, error: string): Promise<void> {
  await em.execute('update webhook_inbox set error = ? where provider = ? and event_id = ? and processed_at is null', [error, provider, eventId]);
}
