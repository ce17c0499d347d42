/**
 * Runtime settings shared by every process: the `settings` table (db/entities/gateway.entity.ts `Setting`), one
 * JSON value per key, with who wrote it last (`updated_by`) and when (`updated_at`).
 *
 * Keys in use:
 * - `sandbox.url` (string): origin of the provider sandbox the running service uses, e.g. `http://127.0.0.1:43817`;
 *   written by the main process at start, read by `npm run lf -- sandbox …`.
 *
 * Reads and writes go through SQL on the EntityManager's connection (not the identity map), so a value written by
 * another process is seen at once.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { settingRow, upsertSetting } from './queries/settings.js';

/** The setting key holding the sandbox's URL (a JSON string). */
export const SANDBOX_URL_SETTING = 'sandbox.url';

/** A stored setting with its audit fields. */
export interface SettingEntry<T = unknown> {
  key: string;
  /** The JSON value as stored (`settings.value`, jsonb). */
  value: T;
  /** When it was last written (`settings.updated_at`). */
  updatedAt: Date;
  /** Who wrote it last (`settings.updated_by`), e.g. `main`, `cli`, a Slack user id. */
  updatedBy: string;
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || key.trim() === '' || key.length > 255) {
    throw new TypeError(`setting key must be a non-empty string of at most 255 characters, got ${JSON.stringify(key)}`);
  }
}

/**
 * The value and audit fields of `key`, or undefined when it was never set.
 * @throws TypeError for an empty or over-long key; driver errors as thrown.
 */
export async function getSettingEntry<T = unknown>(em: EntityManager, key: string): Promise<SettingEntry<T> | undefined> {
  checkKey(key);
  const row = await settingRow(em, key);
  if (!row) return undefined;
  // the pg driver parses jsonb into the JS value
  return { key: row.key, value: row.value as T, updatedAt: row.updatedAt, updatedBy: row.updatedBy };
}

/**
 * The value of `key` (as stored, not validated against `T`), or undefined when it was never set.
 * @throws TypeError for an empty or over-long key; driver errors as thrown.
 */
export async function getSetting<T>(em: EntityManager, key: string): Promise<T | undefined> {
  return (await getSettingEntry<T>(em, key))?.value;
}

/**
 * Creates or replaces `key` with `value` (stored as jsonb) in one upsert, recording `updatedBy` and `now` (default
 * the current time) as `updated_by` / `updated_at`.
 * @throws TypeError for an empty or over-long key, an empty `updatedBy`, or a value JSON cannot hold
 *   (undefined, a function, a BigInt); driver errors as thrown.
 */
export async function setSetting(em: EntityManager, key: string, value: unknown, updatedBy: string, now: Date = new Date()): Promise<void> {
  checkKey(key);
  if (typeof updatedBy !== 'string' || updatedBy.trim() === '') throw new TypeError('setSetting needs a non-empty updatedBy');
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    throw new TypeError(`setting ${key}: value is not JSON-serializable (${(err as Error).message})`);
  }
  if (json === undefined) throw new TypeError(`setting ${key}: value is not JSON-serializable (${typeof value})`);
  await upsertSetting(em, key, json, updatedBy, now);
}
