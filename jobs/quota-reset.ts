/**
 * Job: the midnight-UTC quota reset. Quotas already count from midnight UTC by construction
 * (domain/targeting/quota.ts); this run records the reset explicitly (setting `targeting.quota_reset_at`, actor
 * `system:quota-reset`), which also clears an earlier manual reset, and records `quota.reset` (info, once per day).
 * Light: runs in a worker with a one-connection pool, or on the service's own pool when in-process.
 */
import { recordOpsEvent } from '../domain/events.js';
import { quotaSummary, resetQuotas } from '../domain/targeting/quota.js';
import type { JobContext } from './job-types.js';
import { dayStamp } from './job-context.js';

/** The catalog entry the lead adds to jobs/catalog.ts (cron in UTC). */
export const QUOTA_RESET_JOB = {
  name: 'quota-reset',
  file: 'quota-reset',
  cron: '0 0 * * *',
  timeoutMs: 60_000,
  why: 'Resets every target’s daily sourcing quota at midnight UTC (audited as system:quota-reset).',
} as const;

/** The actor recorded on the reset. */
export const QUOTA_RESET_ACTOR = 'system:quota-reset';

/** What one run did. */
export interface QuotaResetSummary {
  status: 'reset';
  at: string;
  targets: number;
  /** Businesses sourced in the window that just closed (all targets). */
  usedBefore: number;
  totalQuota: number;
}

/** One run at the context's instant, on its database. */
export default async function quotaReset(ctx: JobContext): Promise<QuotaResetSummary> {
  const { em, now, report } = ctx;
  const before = await quotaSummary(em(), new Date(now.getTime() - 1));
  await resetQuotas(em(), now, QUOTA_RESET_ACTOR);
  report({ kind: 'progress', stage: 'reset', n: before.targets.length });
  const summary: QuotaResetSummary = { status: 'reset', at: now.toISOString(), targets: before.targets.length, usedBefore: before.totalUsed, totalQuota: before.totalQuota };
  await recordOpsEvent(
    em(),
    { type: 'quota.reset', severity: 'info', dedupKey: `quota.reset:${dayStamp(now)}`, payload: { targets: summary.targets, usedBefore: summary.usedBefore, totalQuota: summary.totalQuota, by: QUOTA_RESET_ACTOR } },
    now,
  );
  return summary;
}
