/**
 * Named queries over `ops_events` (issue #14 point 9): the newest event of some types, so the alert rules can be
 * evaluated as soon as the events that feed them are recorded (jobs/event-trigger.ts).
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** The highest `ops_events.id` of one of `types` above `afterId` (0: any), or undefined when there is none. */
export async function newestEventId(em: EntityManager, types: readonly string[], afterId = 0): Promise<number | undefined> {
  if (types.length === 0) return undefined;
  const [row] = await em.execute<{ id: number | null }[]>(
    `select max(id)::int as id from ops_events where id > ? and type in (${types.map(() => '?').join(',')})`,
    [afterId, ...types],
  );
  return row?.id ?? undefined;
}

/**
 * `webhook.signature_failed` events of `provider` since `since` (exclusive); events recorded without a provider count
 * as Stripe's (the first webhook). The notifier records one per minute with failures, so `count` is minutes.
 */
export async function signatureFailuresSince(em: EntityManager, provider: string, since: Date): Promise<{ count: number; lastAt: Date | null; lastReason: string | null }> {
  const [row] = await em.execute<{ n: string; last: Date | string | null; reason: string | null }[]>(
    `select count(*) as n, max(created_at) as last,
            (array_agg(payload->>'reason' order by created_at desc))[1] as reason
     from ops_events where type = 'webhook.signature_failed' and created_at > ? and coalesce(payload->>'provider', 'stripe') = ?`,
    [since, provider],
  );
  return { count: Number(row?.n ?? 0), lastAt: row?.last ? new Date(row.last) : null, lastReason: row?.reason ?? null };
}

/** Ops events of `type` created after `since` (exclusive). A count. */
export async function eventsSince(em: EntityManager, type: string, since: Date): Promise<number> {
  const [row] = await em.execute<{ n: string }[]>('select count(*) as n from ops_events where type = ? and created_at > ?', [type, since]);
  return Number(row?.n ?? 0);
}

/** An ops event to insert; `payload` stored as jsonb. */
export interface OpsEventRow {
  type: string;
  severity: string;
  payload: unknown;
  dedupKey: string;
  createdAt: Date;
  /** Set for an event that already reached Slack (the notifier skips it); null otherwise. */
  postedAt: Date | null;
}

/**
 * Inserts an ops event (`attempts` 0) unless one with its `dedup_key` exists (`on conflict do nothing`), on the
 * connection (outside any transaction of `em`); true when the row is new.
 */
export async function insertOpsEvent(em: EntityManager, ev: OpsEventRow): Promise<boolean> {
  const rows = await em.getConnection().execute<{ id: number }[]>(
    `insert into ops_events (type, severity, payload, dedup_key, created_at, attempts, posted_at)
     values (?, ?, ?::jsonb, ?, ?, 0, ?) on conflict (dedup_key) do nothing returning id`,
    [ev.type, ev.severity, JSON.stringify(ev.payload), ev.dedupKey, ev.createdAt, ev.postedAt],
  );
  return rows.length > 0;
}
