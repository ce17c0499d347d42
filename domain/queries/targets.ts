/** Named queries over `targets` (the category × location pairs the pipeline sources from). */
import type { EntityManager } from '@mikro-orm/postgresql';

/** Targets in all, and how many of them are `active`. Counts. */
export async function targetCounts(em: EntityManager): Promise<{ active: number; total: number }> {
  const [row] = await em.execute<{ active: number; total: number }[]>('select count(*) filter (where active)::int as active, count(*)::int as total from targets');
  return { active: Number(row?.active ?? 0), total: Number(row?.total ?? 0) };
}
