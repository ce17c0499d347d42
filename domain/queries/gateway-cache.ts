/**
 * The gateway's shared provider response cache (`provider_cache`: key = hex SHA-256 of the request, JSON `value`,
 * `expires_at`), used by domain/gateway/cache.ts. Statements run on `em.getConnection()`, outside any transaction.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** The entry under `key` still valid at `now`: zero or one row whose `value` is the stored JSON (parsed or text, as the driver gives it). */
export async function cachedValue(em: EntityManager, key: string, now: Date): Promise<{ value: unknown }[]> {
  return em.getConnection().execute<{ value: unknown }[]>('select value from provider_cache where key = ? and expires_at > ?', [key, now]);
}

/** Stores (or replaces) the entry `key`: `json` is the value serialised, valid until `expiresAt`. */
export async function storeCachedValue(
  em: EntityManager,
  e: { key: string; provider: string; operation: string; json: string; now: Date; expiresAt: Date },
): Promise<void> {
  await em.getConnection().execute(
    `insert into provider_cache (key, provider, operation, value, created_at, expires_at) values (?, ?, ?, ?::jsonb, ?, ?)
     on conflict (key) do update set value = excluded.value, created_at = excluded.created_at, expires_at = excluded.expires_at`,
    [e.key, e.provider, e.operation, e.json, e.now, e.expiresAt],
  );
}

/** Deletes the entries expired at `now`; returns how many. */
export async function deleteExpiredCache(em: EntityManager, now: Date): Promise<number> {
  const rows = await em.getConnection().execute<{ key: string }[]>('delete from provider_cache where expires_at <= ? returning key', [now]);
  return rows.length;
}
