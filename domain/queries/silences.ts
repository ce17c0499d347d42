/**
 * Named queries over `silences` (db/entities/alerting.entity.ts): label matchers (exact values) that mute an
 * alert's notifications between `starts_at` and `ends_at` (UTC).
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** A stored silence. */
export interface SilenceRow {
  id: number;
  matchers: Record<string, string>;
  createdBy: string;
  comment: string | null;
  startsAt: Date;
  endsAt: Date;
}

/** Silences in force at `now` (started, not ended), in id order. */
export async function silencesInForce(em: EntityManager, now: Date): Promise<SilenceRow[]> {
  const rows = await em.execute<{ id: number; matchers: Record<string, string>; created_by: string; comment: string | null; starts_at: Date | string; ends_at: Date | string }[]>(
    'select id, matchers, created_by, comment, starts_at, ends_at from silences where starts_at <= ? and ends_at > ? order by id',
    [now, now],
  );
  return rows.map((r) => ({ id: r.id, matchers: r.matchers, createdBy: r.created_by, comment: r.comment, startsAt: new Date(r.starts_at), endsAt: new Date(r.ends_at) }));
}

/** Inserts a silence and returns its id. */
export async function insertSilence(em: EntityManager, s: Omit<SilenceRow, 'id'>): Promise<number> {
  const rows = await em.execute<{ id: number }[]>('insert into silences (matchers, created_by, comment, starts_at, ends_at) values (?::jsonb, ?, ?, ?, ?) returning id', [
    JSON.stringify(s.matchers),
    s.createdBy,
    s.comment,
    s.startsAt,
    s.endsAt,
  ]);
  return rows[0]!.id;
}

/** Ends a silence at `now`; false when it was not in force (unknown id, or already ended). */
export async function endSilence(em: EntityManager, id: number, now: Date): Promise<boolean> {
  const rows = await em.execute<{ id: number }[]>('update silences set ends_at = ? where id = ? and ends_at > ? returning id', [now, id, now]);
  return rows.length > 0;
}
