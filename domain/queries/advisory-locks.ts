/**
 * Session-level PostgreSQL advisory locks on a dedicated `pg.Client` (jobs/leader.ts: the scheduler leader). The
 * lock lives as long as the client's session: closing the connection releases it.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type pg from 'pg';

/** `pg_try_advisory_lock(key)`: true when this session now holds the lock (or already did). `key` a bigint as text. */
export async function tryAdvisoryLock(client: pg.Client, key: string): Promise<boolean> {
  const res = await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1::bigint) as ok', [key]);
  return res.rows[0]?.ok === true;
}

/** `pg_advisory_unlock(key)` on this session. @throws the driver's error (a closed connection). */
export async function advisoryUnlock(client: pg.Client, key: string): Promise<void> {
  await client.query('select pg_advisory_unlock($1::bigint)', [key]);
}

/** A round trip on the client's session (`select 1`). @throws when the connection is gone. */
export async function pingSession(client: pg.Client): Promise<void> {
  await client.query('select 1');
}

/**
 * `pg_advisory_xact_lock(hashtextextended(key, 0))` on `em`'s transaction: waits for and holds a transaction-level
 * lock on the text `key` until that transaction ends (call inside `em.transactional`).
 */
export async function advisoryXactLockText(em: EntityManager, key: string): Promise<void> {
  await em.execute('select pg_advisory_xact_lock(hashtextextended(?, 0))', [key]);
}
