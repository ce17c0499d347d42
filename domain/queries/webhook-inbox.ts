/**
 * Named queries over `webhook_inbox` (one row per provider event received; `processed_at` set once applied, `error`
 * set when applying failed; an error starting with the caller's parked prefix marks an event parked on purpose), as the
 * Stripe intake (domain/storefront/webhook.ts, replay.ts), the paging intake (alerts/paging/inbound.ts) and the
 * Alertmanager intake (bot/webhooks/alertmanager.ts) store and read their events.
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
  /** The provider's creation time of the event (Stripe `created`, Unix seconds); null or absent when it has none. */
  eventCreated?: number | null;
  payload: unknown;
  receivedAt: Date;
  raw: string | null;
}

/** Stores a received event once: false when (`provider`, `eventId`) was already there (nothing changed). */
export async function insertInboxEvent(em: EntityManager, ev: InboxEventInput): Promise<boolean> {
  const rows = await em.execute<{ event_id: string }[]>(
    `insert into webhook_inbox (provider, event_id, type, event_created, payload, received_at, raw_json)
     values (?, ?, ?, ?, ?::jsonb, ?, ?) on conflict (provider, event_id) do nothing returning event_id`,
    [ev.provider, ev.eventId, ev.type, ev.eventCreated ?? null, JSON.stringify(ev.payload), ev.receivedAt, ev.raw],
  );
  return rows.length > 0;
}

/** A locked inbox row: its type, its payload as the driver returns jsonb (the value `P`, or text), when it was processed. */
export interface LockedInboxEvent<P = unknown> {
  type: string;
  payload: P | string;
  processedAt: Date | null;
}

/** Locks the inbox row of an event (`for update`, inside a transaction) and reads it; undefined when absent. */
export async function lockInboxEvent<P = unknown>(tx: EntityManager, provider: string, eventId: string): Promise<LockedInboxEvent<P> | undefined> {
  const [row] = await tx.execute<{ type: string; payload: P | string; processed_at: Date | string | null }[]>(
    'select type, payload, processed_at from webhook_inbox where provider = ? and event_id = ? for update',
    [provider, eventId],
  );
  return row ? { type: row.type, payload: row.payload, processedAt: row.processed_at ? new Date(row.processed_at) : null } : undefined;
}

/** Marks an event processed at `at` (clearing `error`) while it is unprocessed: a row marked first elsewhere keeps its time. */
export async function markInboxProcessed(em: EntityManager, provider: string, eventId: string, at: Date): Promise<void> {
  await em.execute('update webhook_inbox set processed_at = ?, error = null where provider = ? and event_id = ? and processed_at is null', [at, provider, eventId]);
}

/** Records why applying a not-yet-processed event failed (`error`, ≤ 2000 characters expected); a processed event is left alone. */
export async function markInboxError(em: EntityManager, provider: string, eventId: string, error: string): Promise<void> {
  await em.execute('update webhook_inbox set error = ? where provider = ? and event_id = ? and processed_at is null', [error, provider, eventId]);
}

/**
 * Event ids of the unprocessed, parked (`error` starting with `parkedPrefix`) rows of `provider` whose
 * `payload.data.object.payment_intent` is `paymentIntentId`, oldest `event_created` first (Stripe events).
 */
export async function parkedInboxEventIds(em: EntityManager, provider: string, parkedPrefix: string, paymentIntentId: string): Promise<string[]> {
  const rows = await em.execute<{ event_id: string }[]>(
    `select event_id from webhook_inbox where provider = ? and processed_at is null and error like ?
       and payload->'data'->'object'->>'payment_intent' = ? order by event_created asc nulls last`,
    [provider, `${parkedPrefix}%`, paymentIntentId],
  );
  return rows.map((r) => r.event_id);
}

/**
 * Event ids of the unprocessed rows of `provider`, oldest `event_created` (then `received_at`) first, at most
 * `limit`; parked rows (`error` starting with `parkedPrefix`) left out unless `parkedPrefix` is undefined.
 */
export async function unprocessedInboxEventIds(em: EntityManager, provider: string, limit: number, parkedPrefix?: string): Promise<string[]> {
  const rows = await em.execute<{ event_id: string }[]>(
    `select event_id from webhook_inbox where provider = ? and processed_at is null ${parkedPrefix === undefined ? '' : 'and (error is null or error not like ?)'}
       order by event_created asc nulls last, received_at asc limit ?`,
    parkedPrefix === undefined ? [provider, limit] : [provider, `${parkedPrefix}%`, limit],
  );
  return rows.map((r) => r.event_id);
}

/** Which of `eventIds` (at most a few hundred: one statement) `provider`'s inbox already holds. */
export async function inboxEventIdsAmong(em: EntityManager, provider: string, eventIds: readonly string[]): Promise<string[]> {
  if (eventIds.length === 0) return [];
  const rows = await em.execute<{ event_id: string }[]>(
    `select event_id from webhook_inbox where provider = ? and event_id in (${eventIds.map(() => '?').join(', ')})`,
    [provider, ...eventIds],
  );
  return rows.map((r) => r.event_id);
}

/** One stored event (as {@link LockedInboxEvent}) with `rawJson`, the kept body or null. */
export interface InboxEventRow extends LockedInboxEvent {
  rawJson: string | null;
}

/** The stored event `eventId` of `provider` (no lock); undefined when absent. */
export async function inboxEvent(em: EntityManager, provider: string, eventId: string): Promise<InboxEventRow | undefined> {
  const [row] = await em.execute<{ type: string; payload: unknown; raw_json: string | null; processed_at: Date | null }[]>(
    'select type, payload, raw_json, processed_at from webhook_inbox where provider = ? and event_id = ?',
    [provider, eventId],
  );
  return row ? { type: row.type, payload: row.payload, rawJson: row.raw_json, processedAt: row.processed_at } : undefined;
}

/** Ids of `provider`'s unprocessed events received before `before` (parked or not), oldest received first (then by id), at most `limit`. */
export async function pendingInboxEventIdsBefore(em: EntityManager, provider: string, before: Date, limit: number): Promise<string[]> {
  const rows = await em.execute<{ event_id: string }[]>(
    'select event_id from webhook_inbox where provider = ? and processed_at is null and received_at < ? order by received_at asc, event_id asc limit ?',
    [provider, before, limit],
  );
  return rows.map((r) => r.event_id);
}
