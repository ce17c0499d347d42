/**
 * Daily provider quotas (`provider_quota_usage`: one row per provider and UTC day, `used` units, `exhausted` when the
 * provider said so), kept by the shared rate limiter (domain/gateway/limiter.ts). Every statement runs on
 * `em.getConnection()`, never in `em`'s transaction context; `day` is a UTC `YYYY-MM-DD`.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** Takes `n` units of `provider`'s quota for `day` when they fit under `limit` and it is not marked exhausted; true when taken. */
export async function takeQuota(em: EntityManager, provider: string, day: string, n: number, limit: number): Promise<boolean> {
  const rows = await em.getConnection().execute(
    `insert into provider_quota_usage (provider, day, used, exhausted) values (?, ?::date, ?, false)
     on conflict (provider, day) do update set used = provider_quota_usage.used + ?
     where provider_quota_usage.used + ? <= ? and not provider_quota_usage.exhausted
     returning used`,
    [provider, day, n, n, n, limit],
  );
  return rows.length > 0;
}

/** Gives `units` back to `provider`'s quota for `day` (never below 0). */
export async function releaseQuota(em: EntityManager, provider: string, day: string, units: number): Promise<void> {
  await em.getConnection().execute(`update provider_quota_usage set used = greatest(0, used - ?) where provider = ? and day = ?::date`, [units, provider, day]);
}

/** Marks `provider`'s quota for `day` exhausted (the provider said so). */
export async function markQuotaExhausted(em: EntityManager, provider: string, day: string): Promise<void> {
  await em.getConnection().execute(
    `insert into provider_quota_usage (provider, day, used, exhausted) values (?, ?::date, 0, true)
     on conflict (provider, day) do update set exhausted = true`,
    [provider, day],
  );
}

/** Every provider's quota row for `day`: units used and whether marked exhausted. */
export async function quotaUsageOn(em: EntityManager, day: string): Promise<{ provider: string; used: number; exhausted: boolean }[]> {
  return em.getConnection().execute<{ provider: string; used: number; exhausted: boolean }[]>(
    'select provider, used, exhausted from provider_quota_usage where day = ?',
    [day],
  );
}
