/**
 * Targeting quota: how many more businesses a target may source today. A target's `daily_quota` counts
 * businesses first sourced for it since midnight UTC, so the quota resets at midnight UTC by construction.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { startOfUtcDay } from '../clock.js';
import { Target, type ITarget } from '../../db/entities/index.js';

/** An active target with its remaining quota for today (never negative). */
export interface TargetQuota {
  target: ITarget;
  usedToday: number;
  available: number;
}

/** Active targets, highest priority first, with what each may still source today. */
export async function activeTargetsWithQuota(em: EntityManager, now: Date): Promise<TargetQuota[]> {
  const targets = await em.find(Target, { active: true }, { orderBy: { priority: 'desc', id: 'asc' } });
  if (targets.length === 0) return [];
  const rows = await em.getConnection().execute<{ target_id: number; n: string }[]>(
    `select target_id, count(*) as n from businesses where created_at >= ? and target_id in (${targets.map(() => '?').join(',')}) group by target_id`,
    [startOfUtcDay(now), ...targets.map((t) => t.id)],
  );
  const used = new Map(rows.map((r) => [r.target_id, Number(r.n)]));
  return targets.map((target) => {
    const usedToday = used.get(target.id) ?? 0;
    return { target, usedToday, available: Math.max(0, target.dailyQuota - usedToday) };
  });
}
