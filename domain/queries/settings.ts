/**
 * Named queries over `settings` (one jsonb value per key, with `updated_by` / `updated_at`): read and upsert on the
 * EntityManager's connection (not the identity map, outside any transaction of `em`), so another process's write is
 * seen at once. domain/settings.ts and domain/overrides.ts read and write through these.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** A settings row: `value` as the pg driver parses jsonb. */
export interface SettingRow {
  key: string;
  value: unknown;
  updatedAt: Date;
  updatedBy: string;
}

/** The row of `key`, or undefined when it was never set. */
export async function settingRow(em: EntityManager, key: string): Promise<SettingRow | undefined> {
  const rows = await em
    .getConnection()
    .execute<{ key: string; value: unknown; updated_at: Date | string; updated_by: string }[]>('select key, value, updated_at, updated_by from settings where key = ?', [key]);
  const r = rows[0];
  return r ? { key: r.key, value: r.value, updatedAt: new Date(r.updated_at), updatedBy: r.updated_by } : undefined;
}

/** Creates or replaces `key` with `json` (JSON text, stored as jsonb), `updated_by` and `updated_at = now`. */
export async function upsertSetting(em: EntityManager, key: string, json: string, updatedBy: string, now: Date): Promise<void> {
  await em.getConnection().execute(
    `insert into settings (key, value, updated_at, updated_by) values (?, ?::jsonb, ?, ?)
     on conflict (key) do update set value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
    [key, json, now, updatedBy],
  );
}

/** Key and value of the settings among `keys` that exist (unordered). */
export async function settingValues(em: EntityManager, keys: readonly string[]): Promise<{ key: string; value: unknown }[]> {
  if (keys.length === 0) return [];
  return em.getConnection().execute<{ key: string; value: unknown }[]>(`select key, value from settings where key in (${keys.map(() => '?').join(',')})`, [...keys]);
}
