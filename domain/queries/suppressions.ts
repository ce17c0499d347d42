/**
 * Named queries over `email_suppressions` (the addresses we never email again), keyed by the address's hash
 * (domain/delivery/suppression.ts `emailHash`: 64 lower-case hex characters); the address itself is never stored.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** True when `hash` is on the list. */
export async function isHashSuppressed(em: EntityManager, hash: string): Promise<boolean> {
  const rows = await em.execute<{ one: number }[]>('select 1 as one from email_suppressions where email_hash = ? limit 1', [hash]);
  return rows.length > 0;
}

/** Inserts `hash` unless present (`on conflict do nothing`: the first reason and source win); true when new. */
export async function insertSuppression(em: EntityManager, hash: string, reason: string, source: string, now: Date): Promise<boolean> {
  const rows = await em.execute<{ email_hash: string }[]>(
    `insert into email_suppressions (email_hash, reason, source, created_at) values (?, ?, ?, ?)
     on conflict (email_hash) do nothing returning email_hash`,
    [hash, reason, source, now],
  );
  return rows.length > 0;
}

/** Deletes `hash` from the list; true when a row was deleted. */
export async function deleteSuppression(em: EntityManager, hash: string): Promise<boolean> {
  const rows = await em.execute<{ email_hash: string }[]>('delete from email_suppressions where email_hash = ? returning email_hash', [hash]);
  return rows.length > 0;
}

/** Suppressed addresses, all or of one `reason`. A count. */
export async function countSuppressions(em: EntityManager, reason?: string): Promise<number> {
  const rows = await em.execute<{ n: string | number }[]>(
    reason === undefined ? 'select count(*) as n from email_suppressions' : 'select count(*) as n from email_suppressions where reason = ?',
    reason === undefined ? [] : [reason],
  );
  return Number(rows[0]?.n ?? 0);
}

/** Which of `hashes` are on the list (one statement: pass at most a few hundred). */
export async function suppressedHashesAmong(em: EntityManager, hashes: readonly string[]): Promise<string[]> {
  if (hashes.length === 0) return [];
  const rows = await em.execute<{ email_hash: string }[]>(
    `select email_hash from email_suppressions where email_hash in (${hashes.map(() => '?').join(', ')})`,
    [...hashes],
  );
  return rows.map((r) => r.email_hash);
}
