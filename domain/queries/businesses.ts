/** Business queries of the assessment claims' lease protocol (domain/assessment/assess.ts, domain/pipeline/reaper.ts). */
import type { EntityManager } from '@mikro-orm/postgresql';
import { BUSINESS_STATUSES } from '../../db/entities/statuses.js';
import { countsByKey } from './counts.js';

/** Renews the assessment claims `holder` holds (`claimed_until`); returns how many. */
export async function renewBusinessClaims(em: EntityManager, holder: string, until: Date): Promise<number> {
  const rows = await em
    .execute<{ id: number }[]>(`update businesses set claimed_until = ? where claim_holder = ? and claimed_until is not null returning id`, [until, holder]);
  return rows.length;
}

/** A claimed business with its lease. */
export interface BusinessClaim {
  id: number;
  holder: string | null;
  until: Date;
}

/** Every claimed business (lease set), by id. */
export async function businessClaims(em: EntityManager): Promise<BusinessClaim[]> {
  const rows = await em
    .execute<{ id: number; claim_holder: string | null; claimed_until: Date | string }[]>(`select id, claim_holder, claimed_until from businesses where claimed_until is not null order by id`);
  return rows.map((r) => ({ id: Number(r.id), holder: r.claim_holder, until: new Date(r.claimed_until) }));
}

/** Releases the given claims (the next batch claims the businesses again); returns how many were released. */
export async function releaseBusinessClaims(em: EntityManager, ids: number[]): Promise<number> {
  if (ids.length === 0) return 0;
  const rows = await em
    .execute<{ id: number }[]>(`update businesses set claimed_until = null, claim_holder = null where id in (${ids.map(() => '?').join(',')}) returning id`, ids);
  return rows.length;
}

// --- issue #14: one definition per figure (alert rules, gauges, runbooks, status post) ---
/*
 * Named queries over `businesses` (issue #14 point 4): pipeline progress and the assessment backlog, used by the
 * alert rules, the gauges on /metrics and the runbooks alike.
 */
/**
 * Statuses a business reaches by completing a stage (assessment, scoring, personalization, delivery). Sourcing is
 * counted by `created_at`. `assessment_pending`/`assessment_failed` are not progress (a retry moves a business
 * back to pending), nor are `skipped`/`suppressed` (set by remediations and suppression).
 */
export const PROGRESS_STATUSES = ['assessed', 'scored', 'email_pending', 'emailed'] as const;

/**
 * When a business last completed a pipeline stage (sourced = created, or moved to one of
 * {@link PROGRESS_STATUSES}, by `status_changed_at`), at or before `now`; undefined when never. This is progress —
 * not a run's counts (a run that sourced nothing still counts its targets).
 */
export async function lastStageProgressAt(em: EntityManager, now: Date): Promise<Date | undefined> {
  const [row] = await em.execute<{ at: Date | null }[]>(
    `select greatest(
       (select max(created_at) from businesses where created_at <= ?),
       (select max(status_changed_at) from businesses where status in (${PROGRESS_STATUSES.map(() => '?').join(',')}) and status_changed_at <= ?)
     ) as at`,
    [now, ...PROGRESS_STATUSES, now],
  );
  return row?.at ? new Date(row.at) : undefined;
}

/** Businesses that completed a stage in (`since`, `now`] (the same definition as {@link lastStageProgressAt}). */
export async function businessesProgressedSince(em: EntityManager, since: Date, now: Date): Promise<number> {
  const [row] = await em.execute<{ n: number }[]>(
    `select count(*)::int as n from businesses
      where (created_at > ? and created_at <= ?)
         or (status in (${PROGRESS_STATUSES.map(() => '?').join(',')}) and status_changed_at > ? and status_changed_at <= ?)`,
    [since, now, ...PROGRESS_STATUSES, since, now],
  );
  return Number(row?.n ?? 0);
}

/** Businesses waiting in `assessment_pending` (the assessment backlog). */
export async function assessmentBacklog(em: EntityManager): Promise<number> {
  const [row] = await em.execute<{ n: number }[]>(`select count(*)::int as n from businesses where status = 'assessment_pending'`);
  return Number(row?.n ?? 0);
}

/** Businesses per status: every status of {@link BUSINESS_STATUSES} present (0 when none), plus any other found. */
export async function businessesByStatus(em: EntityManager): Promise<Record<string, number>> {
  const rows = await em.getConnection().execute<{ k: string; n: number }[]>(`select status as k, count(*)::int as n from businesses group by status`);
  return countsByKey(BUSINESS_STATUSES, rows);
}
