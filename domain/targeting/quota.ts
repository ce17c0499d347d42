/**
 * Targeting quota: how many more businesses each active target may source today. A target's `daily_quota`
 * counts businesses first sourced for it since the later of midnight UTC and the last manual quota reset
 * (setting `targeting.quota_reset_at`, audited), so quotas reset at midnight UTC by construction and an operator
 * can reset them early (`lf targets reset-quotas`, the runbook remediation).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { startOfUtcDay } from '../clock.js';
import { businessesCreatedSinceByTarget } from '../queries/businesses.js';
import { getSetting, setSetting } from '../settings.js';
import { Target, type ITarget } from '../../db/entities/index.js';

/** Setting holding the ISO time of the last manual quota reset. */
export const QUOTA_RESET_SETTING = 'targeting.quota_reset_at';

/** An active target with its quota for today. `available` is never negative. */
export interface TargetQuota {
  target: ITarget;
  quota: number;
  usedToday: number;
  available: number;
}

/** Quota of every active target plus totals; `since` = start of the counting window; `resetAt` = next midnight UTC. */
export interface QuotaSummary {
  targets: TargetQuota[];
  totalQuota: number;
  totalUsed: number;
  totalAvailable: number;
  since: Date;
  resetAt: Date;
}

/** Start of today's counting window: midnight UTC, or a later manual reset. */
export async function quotaWindowStart(em: EntityManager, now: Date): Promise<Date> {
  const midnight = startOfUtcDay(now);
  const reset = await getSetting<string>(em, QUOTA_RESET_SETTING);
  // A reset excludes what was sourced up to and including its instant (timestamps have ms precision here).
  const resetAt = reset ? new Date(new Date(reset).getTime() + 1) : undefined;
  return resetAt && resetAt > midnight && resetAt <= new Date(now.getTime() + 1) ? resetAt : midnight;
}

/** Active targets, highest priority first, with what each may still source today. */
export async function activeTargetsWithQuota(em: EntityManager, now: Date): Promise<TargetQuota[]> {
  return (await quotaSummary(em, now)).targets;
}

/** The quota tracker's read-out for runbooks and the pipeline. */
export async function quotaSummary(em: EntityManager, now: Date): Promise<QuotaSummary> {
  const since = await quotaWindowStart(em, now);
  const resetAt = new Date(startOfUtcDay(now).getTime() + 86_400_000);
  const targets = await em.find(Target, { active: true }, { orderBy: { priority: 'desc', id: 'asc' } });
  const used = await businessesCreatedSinceByTarget(em, since, targets.map((t) => t.id));
  const list = targets.map((target) => {
    const usedToday = used.get(target.id) ?? 0;
    return { target, quota: target.dailyQuota, usedToday, available: Math.max(0, target.dailyQuota - usedToday) };
  });
  return {
    targets: list,
    totalQuota: list.reduce((s, t) => s + t.quota, 0),
    totalUsed: list.reduce((s, t) => s + t.usedToday, 0),
    totalAvailable: list.reduce((s, t) => s + t.available, 0),
    since,
    resetAt,
  };
}

/** Resets every target's used-today count to 0 from `now` on; `by` is recorded (audit). */
export async function resetQuotas(em: EntityManager, now: Date, by: string): Promise<void> {
  await setSetting(em, QUOTA_RESET_SETTING, now.toISOString(), by, now);
}
