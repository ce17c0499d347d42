/** Demo targets so a fresh install has work to do (inserted only into an empty `targets` table). */
import type { EntityManager } from '@mikro-orm/postgresql';

/** The demo targets: Yelp `location` and category alias, with a daily quota each. */
export const DEMO_TARGETS = [
  { location: 'San Francisco, CA', category: 'restaurants', dailyQuota: 20, priority: 3 },
  { location: 'Austin, TX', category: 'plumbing', dailyQuota: 15, priority: 2 },
  { location: 'Denver, CO', category: 'dentists', dailyQuota: 15, priority: 1 },
] as const;

/** Inserts {@link DEMO_TARGETS} when no target exists; returns how many were inserted. */
export async function seedDemoTargetsIfEmpty(em: EntityManager, now: Date): Promise<number> {
  const [{ n }] = await em.getConnection().execute<{ n: string }[]>('select count(*) as n from targets');
  if (Number(n) > 0) return 0;
  for (const t of DEMO_TARGETS) {
    await em
      .getConnection()
      .execute(
        `insert into targets (location, category, daily_quota, priority, active, created_at, updated_at)
         values (?, ?, ?, ?, true, ?, ?) on conflict do nothing`,
        [t.location, t.category, t.dailyQuota, t.priority, now, now],
      );
  }
  return DEMO_TARGETS.length;
}
