/** Named queries over `targets` (the category × location pairs the pipeline sources from). */
import type { EntityManager } from '@mikro-orm/postgresql';
import { rowsOf, type SqlRunner } from './sql-runner.js';

/** Targets in all, and how many of them are `active`. Counts. */
export async function targetCounts(em: SqlRunner): Promise<{ active: number; total: number }> {
  const [row] = await rowsOf<{ active: number; total: number }>(em, 'select count(*) filter (where active)::int as active, count(*)::int as total from targets');
  return { active: Number(row?.active ?? 0), total: Number(row?.total ?? 0) };
}

/** Targets in all, read on the connection (outside any transaction of `em`). A count. */
export async function targetTotal(em: EntityManager): Promise<number> {
  const [row] = await em.getConnection().execute<{ n: string }[]>('select count(*) as n from targets');
  return Number(row?.n ?? 0);
}

/** A target to insert (`active`). */
export interface TargetInput {
  location: string;
  category: string;
  dailyQuota: number;
  priority: number;
}

/** Inserts an active target (`on conflict do nothing`), on the connection; `created_at` and `updated_at` = `now`. */
export async function insertTarget(em: EntityManager, t: TargetInput, now: Date): Promise<void> {
  await em.getConnection().execute(
    `insert into targets (location, category, daily_quota, priority, active, created_at, updated_at)
     values (?, ?, ?, ?, true, ?, ?) on conflict do nothing`,
    [t.location, t.category, t.dailyQuota, t.priority, now, now],
  );
}
