/**
 * Stuck work: items sitting in a pipeline stage longer than `STUCK_AFTER_MINUTES` (the guide's "pipeline stalls").
 * Businesses in a waiting status are picked up again by the next run (their claims expire); emails claimed for
 * sending (`sending`) are only reported, never re-sent automatically, because the provider may have accepted them.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { businessesStuckIn, releaseExpiredBusinessClaims } from '../queries/businesses.js';
import { stuckSendingEmails } from '../queries/email-figures.js';

/** Business statuses that wait for a stage to pick them up. */
export const WAITING_STATUSES = ['assessment_pending', 'assessed', 'scored', 'email_pending'] as const;

/** Counts of stuck items per stage and the oldest of each (ISO time). */
export interface StuckReport {
  thresholdMinutes: number;
  businesses: { status: string; count: number; oldest: string }[];
  sendingEmails: { count: number; oldest: string | null };
  total: number;
}

/** Items older than `thresholdMs` in a waiting status (by `status_changed_at`, else `updated_at`). */
export async function stuckItems(em: EntityManager, now: Date, thresholdMs: number): Promise<StuckReport> {
  const before = new Date(now.getTime() - thresholdMs);
  const rows = await businessesStuckIn(em, WAITING_STATUSES, before);
  const sending = await stuckSendingEmails(em, before);
  const businesses = rows.map((r) => ({ status: r.status, count: r.count, oldest: r.oldest.toISOString() }));
  const sendingCount = sending.count;
  return {
    thresholdMinutes: Math.round(thresholdMs / 60_000),
    businesses,
    sendingEmails: { count: sendingCount, oldest: sending.oldest ? sending.oldest.toISOString() : null },
    total: businesses.reduce((s, b) => s + b.count, 0) + sendingCount,
  };
}

/** Releases expired stage claims so the next run picks the items up again; returns how many were released. */
export async function releaseExpiredClaims(em: EntityManager, now: Date): Promise<number> {
  return releaseExpiredBusinessClaims(em, now);
}
