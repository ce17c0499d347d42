/** Demo targets so a fresh install has work to do (inserted only into an empty `targets` table). */
import type { EntityManager } from '@mikro-orm/postgresql';
import { insertTarget, targetTotal } from '../queries/targets.js';

/** The demo targets: Yelp `location` and category alias, with a daily quota each. */
export const DEMO_TARGETS = [
  { location: 'San Francisco, CA', category: 'restaurants', dailyQuota: 20, priority: 3 },
  { location: 'Austin, TX', category: 'plumbing', dailyQuota: 15, priority: 2 },
  { location: 'Denver, CO', category: 'dentists', dailyQuota: 15, priority: 1 },
] as const;

/** Inserts {@link DEMO_TARGETS} when no target exists; returns how many were inserted. */
export async function seedDemoTargetsIfEmpty(em: EntityManager, now: Date): Promise<number> {
  if ((await targetTotal(em)) > 0) return 0;
  for (const t of DEMO_TARGETS) await insertTarget(em, t, now);
  return DEMO_TARGETS.length;
}
