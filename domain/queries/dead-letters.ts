/**
 * Named queries over `dead_letters` (db/entities/dead-letter.entity.ts).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { DeadLetterStatus } from '../../db/entities/dead-letter.entity.js';
import { sanitizeDeep, sanitizeText } from '../sanitize.js';

/** What a dead letter is made of. `payload` is made storable here too; `raw` should already be (sanitize.ts rawJson). */
export interface DeadLetterInput {
  source: string;
  dedupKey: string;
  eventType: string | null;
  reason: string;
  payload: unknown;
  raw: string;
  at: Date;
}

/** A stored dead letter, as listed. */
export interface DeadLetterRow {
  id: number;
  source: string;
  dedupKey: string;
  eventType: string | null;
  reason: string;
  status: DeadLetterStatus;
  attempts: number;
  receivedAt: Date;
  lastSeenAt: Date;
  replayedAt: Date | null;
  replayedBy: string | null;
  replayDetail: string | null;
}

type Raw = {
  id: number;
  source: string;
  dedup_key: string;
  event_type: string | null;
  reason: string;
  status: DeadLetterStatus;
  attempts: number;
  received_at: Date;
  last_seen_at: Date;
  replayed_at: Date | null;
  replayed_by: string | null;
  replay_detail: string | null;
};
const COLUMNS = 'id, source, dedup_key, event_type, reason, status, attempts, received_at, last_seen_at, replayed_at, replayed_by, replay_detail';
const toRow = (r: Raw): DeadLetterRow => ({
  id: r.id,
  source: r.source,
  dedupKey: r.dedup_key,
  eventType: r.event_type,
  reason: r.reason,
  status: r.status,
  attempts: r.attempts,
  receivedAt: new Date(r.received_at),
  lastSeenAt: new Date(r.last_seen_at),
  replayedAt: r.replayed_at ? new Date(r.replayed_at) : null,
  replayedBy: r.replayed_by,
  replayDetail: r.replay_detail,
});

/**
 * Stores a dead letter once per (`source`, `dedupKey`): a redelivery of the same event raises `attempts`, updates
 * `reason` and `last_seen_at`, and reopens it when it had been replayed. Returns the id, attempts and whether the row
 * is new.
 */
export async function upsertDeadLetter(em: EntityManager, d: DeadLetterInput): Promise<{ id: number; attempts: number; created: boolean }> {
  const rows = await em.execute<{ id: number; attempts: number; created: boolean }[]>(
    `insert into dead_letters (source, dedup_key, event_type, reason, payload, raw, status, attempts, received_at, last_seen_at)
     values (?, ?, ?, ?, ?::jsonb, ?, 'open', 1, ?, ?)
     on conflict (source, dedup_key) do update set attempts = dead_letters.attempts + 1, reason = excluded.reason,
       last_seen_at = excluded.last_seen_at, status = case when dead_letters.status = 'replayed' then 'open' else dead_letters.status end
     returning id, attempts, (xmax = 0) as created`,
    [
      d.source,
      sanitizeText(d.dedupKey).slice(0, 512),
      d.eventType === null ? null : sanitizeText(d.eventType).slice(0, 255),
      sanitizeText(d.reason).slice(0, 4000),
      d.payload === undefined ? null : JSON.stringify(sanitizeDeep(d.payload).value),
      sanitizeText(d.raw),
      d.at,
      d.at,
    ],
  );
  const r = rows[0]!;
  return { id: r.id, attempts: r.attempts, created: r.created };
}

/** Dead letters, newest first; `status` filters (default: every status), at most `limit` (default 20). */
export async function listDeadLetters(em: EntityManager, opts: { status?: DeadLetterStatus; limit?: number } = {}): Promise<DeadLetterRow[]> {
  const rows = await em.execute<Raw[]>(
    `select ${COLUMNS} from dead_letters where (?::text is null or status = ?) order by id desc limit ?`,
    [opts.status ?? null, opts.status ?? null, opts.limit ?? 20],
  );
  return rows.map(toRow);
}

/** Open dead letters by source, and the oldest open one's id (null when none). */
export async function openDeadLetterCounts(em: EntityManager): Promise<{ bySource: Record<string, number>; total: number; oldestOpenId: number | null }> {
  const rows = await em.execute<{ source: string; n: number; oldest: number }[]>(
    `select source, count(*)::int as n, min(id) as oldest from dead_letters where status = 'open' group by source order by source`,
  );
  const bySource = Object.fromEntries(rows.map((r) => [r.source, r.n]));
  const oldest = rows.length ? Math.min(...rows.map((r) => Number(r.oldest))) : null;
  return { bySource, total: rows.reduce((s, r) => s + r.n, 0), oldestOpenId: oldest };
}

/** One dead letter with its payload, or undefined. */
export async function getDeadLetter(em: EntityManager, id: number): Promise<(DeadLetterRow & { payload: unknown; raw: string }) | undefined> {
  const rows = await em.execute<(Raw & { payload: unknown; raw: string })[]>(`select ${COLUMNS}, payload, raw from dead_letters where id = ?`, [id]);
  const r = rows[0];
  return r ? { ...toRow(r), payload: typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload, raw: r.raw } : undefined;
}

/** Records a replay (or its failure, `status` staying `open`) on dead letter `id`. */
export async function markDeadLetter(em: EntityManager, id: number, m: { status: DeadLetterStatus; by: string; detail: string; at: Date }): Promise<void> {
  await em
    .execute('update dead_letters set status = ?, replayed_at = ?, replayed_by = ?, replay_detail = ? where id = ?', [m.status, m.at, sanitizeText(m.by), sanitizeText(m.detail).slice(0, 2000), id]);
}
