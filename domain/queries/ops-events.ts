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

/** The provider of a `webhook.signature_failed` event: its payload's, else Stripe (the first webhook). */
const SIGNATURE_PROVIDER = `coalesce(payload->>'provider', 'stripe')`;

/**
 * `webhook.signature_failed` events of `provider` since `since` (exclusive); events recorded without a provider count
 * as Stripe's (the first webhook). The notifier records one per minute with failures, so `count` is minutes.
 */
export async function signatureFailuresSince(em: EntityManager, provider: string, since: Date): Promise<{ count: number; lastAt: Date | null; lastReason: string | null }> {
  const [row] = await em.execute<{ n: string; last: Date | string | null; reason: string | null }[]>(
    `select count(*) as n, max(created_at) as last,
            (array_agg(payload->>'reason' order by created_at desc))[1] as reason
     from ops_events where type = 'webhook.signature_failed' and created_at > ? and ${SIGNATURE_PROVIDER} = ?`,
    [since, provider],
  );
  return { count: Number(row?.n ?? 0), lastAt: row?.last ? new Date(row.last) : null, lastReason: row?.reason ?? null };
}

/** Ops events of `type` created after `since` (exclusive). A count. */
export async function eventsSince(em: EntityManager, type: string, since: Date): Promise<number> {
  const [row] = await em.execute<{ n: string }[]>('select count(*) as n from ops_events where type = ? and created_at > ?', [type, since]);
  return Number(row?.n ?? 0);
}

/** An ops event claimed for posting (see {@link claimOpsEvents}). */
export interface ClaimedOpsEvent {
  id: number;
  type: string;
  severity: 'info' | 'warning' | 'critical';
  payload: Record<string, unknown>;
  dedupKey: string;
  createdAt: Date;
}

/**
 * Claims up to `batch` unposted events with fewer than `maxAttempts` attempts whose claim is free or expired,
 * leasing them until `leaseUntil` and counting an attempt; returns them by id (oldest first). Skips rows locked by
 * another notifier.
 */
export async function claimOpsEvents(em: EntityManager, now: Date, leaseUntil: Date, maxAttempts: number, batch: number): Promise<ClaimedOpsEvent[]> {
  const rows = await em.execute<Record<string, unknown>[]>(
    `update ops_events set claimed_until = ?, attempts = attempts + 1
     where id in (select id from ops_events
                  where posted_at is null and attempts < ? and (claimed_until is null or claimed_until < ?)
                  order by id limit ? for update skip locked)
     returning id, type, severity, payload, created_at, dedup_key`,
    [leaseUntil, maxAttempts, now, batch],
  );
  return rows
    .map((r) => ({
      id: Number(r.id),
      type: String(r.type),
      severity: r.severity as ClaimedOpsEvent['severity'],
      payload: (typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload) as Record<string, unknown>,
      dedupKey: String(r.dedup_key),
      createdAt: new Date(r.created_at as string),
    }))
    .sort((a, b) => a.id - b.id);
}

/** Marks event `id` handed over at `now` and frees its claim; `clearError` also clears `last_error`. */
export async function markOpsEventPosted(em: EntityManager, id: number, now: Date, clearError: boolean): Promise<void> {
  if (clearError) await em.execute('update ops_events set posted_at = ?, claimed_until = null, last_error = null where id = ?', [now, id]);
  else await em.execute('update ops_events set posted_at = ?, claimed_until = null where id = ?', [now, id]);
}

/** Frees the claim on event `id` after a failed hand-over, keeping `error` as `last_error` (retried later). */
export async function releaseOpsEventClaim(em: EntityManager, id: number, error: string): Promise<void> {
  await em.execute('update ops_events set claimed_until = null, last_error = ? where id = ?', [error, id]);
}

/**
 * `webhook.signature_failed` events created after `since` (exclusive), counted per provider (the provider rule of
 * {@link signatureFailuresSince}); providers without any are absent. Counts (one event per minute with failures).
 */
export async function signatureFailuresByProvider(em: EntityManager, since: Date): Promise<{ provider: string; count: number }[]> {
  const rows = await em.execute<{ provider: string; n: number }[]>(
    `select ${SIGNATURE_PROVIDER} as provider, count(*)::int as n from ops_events
      where type = 'webhook.signature_failed' and created_at > ? group by 1`,
    [since],
  );
  return rows.map((r) => ({ provider: r.provider, count: Number(r.n) }));
}

/**
 * The highest budget threshold (percent: 80, 95, 100) passed per provider by `budget.threshold` events created at or
 * after `since` (events without a provider: `unknown`); providers without any are absent.
 */
export async function budgetThresholdsSince(em: EntityManager, since: Date): Promise<{ provider: string; percent: number }[]> {
  const rows = await em.execute<{ provider: string; pct: number }[]>(
    `select coalesce(payload->>'provider', 'unknown') as provider, max((payload->>'threshold')::numeric)::float as pct
       from ops_events where type = 'budget.threshold' and created_at >= ? group by 1`,
    [since],
  );
  return rows.map((r) => ({ provider: r.provider, percent: Number(r.pct) }));
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

/** Ops events of `type` created at or after `since`, newest first, at most `limit`: when, and the stored payload. */
export async function recentEventsOfType<P = Record<string, unknown>>(em: EntityManager, type: string, since: Date, limit: number): Promise<{ at: Date; payload: P }[]> {
  const rows = await em.execute<{ at: Date; payload: P }[]>(
    `select created_at as at, payload from ops_events where type = ? and created_at >= ? order by created_at desc limit ?`,
    [type, since, limit],
  );
  return rows.map((r) => ({ at: new Date(r.at), payload: r.payload }));
}
