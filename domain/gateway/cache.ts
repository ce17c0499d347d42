/**
 * The provider response cache, in PostgreSQL so every thread and replica shares it. Only reads and
 * deterministic calls are cached (the gateway decides); the key is the SHA-256 of method + URL + body.
 */
import { createHash } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Clock } from '../clock.js';
import { cachedValue, deleteExpiredCache, storeCachedValue } from '../queries/gateway-cache.js';

/** Cache key for a request: hex SHA-256 of `METHOD URL\nBODY` (body '' for GET). */
export function cacheKey(method: string, url: string, body = ''): string {
  return createHash('sha256').update(`${method.toUpperCase()} ${url}\n${body}`).digest('hex');
}

/** A shared cache with per-entry expiry. */
export class ResponseCache {
  constructor(private readonly deps: { orm: MikroORM; clock: Clock }) {}

  /** The cached value, or undefined when absent or expired. */
  async get<T>(key: string): Promise<T | undefined> {
    const rows = await cachedValue(this.deps.orm.em, key, this.deps.clock.now());
    if (rows.length === 0) return undefined;
    const v = rows[0]!.value;
    return (typeof v === 'string' ? JSON.parse(v) : v) as T;
  }

  /** Stores `value` (JSON-serialisable) for `ttlSeconds`. */
  async set(key: string, provider: string, operation: string, value: unknown, ttlSeconds: number): Promise<void> {
    const now = this.deps.clock.now();
    await storeCachedValue(this.deps.orm.em, { key, provider, operation, json: JSON.stringify(value), now, expiresAt: new Date(now.getTime() + ttlSeconds * 1000) });
  }

  /** Deletes expired entries; returns how many. */
  async purgeExpired(): Promise<number> {
    return deleteExpiredCache(this.deps.orm.em, this.deps.clock.now());
  }
}
