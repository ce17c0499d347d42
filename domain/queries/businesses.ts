/** Business queries of the assessment claims' lease protocol (domain/assessment/assess.ts, domain/pipeline/reaper.ts). */
import type { EntityManager } from '@mikro-orm/postgresql';

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

/**
 * Businesses per status, for the statuses that have any (keys in `order by status` order). Callers that need every
 * status present fill the zeros (alerts/metrics-reader.ts for `leadfactory_businesses`).
 */
export async function businessesByStatus(em: EntityManager): Promise<Record<string, number>> {
  const rows = await em.execute<{ status: string; n: number }[]>('select status, count(*)::int as n from businesses group by status order by status');
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

/** The assessment backlog in detail: the {@link assessmentBacklog} count, its oldest entry and its claims. */
export interface AssessmentPending {
  /** Businesses in `assessment_pending`. */
  pending: number;
  /** Oldest `coalesce(status_changed_at, updated_at)` among them; null when none. */
  oldestAt: Date | null;
  /** Of them, under a live claim (`claimed_until > now`). */
  claimed: number;
  /** Of them, with a claim that has expired (`claimed_until <= now`). */
  expiredClaims: number;
}

/** Reads {@link AssessmentPending} as of `now` (one statement). */
export async function assessmentPending(em: EntityManager, now: Date): Promise<AssessmentPending> {
  const [row] = await em.execute<{ n: number; oldest: Date | string | null; claimed: number; expired: number }[]>(
    `select count(*)::int as n, min(coalesce(status_changed_at, updated_at)) as oldest,
            count(*) filter (where claimed_until > ?)::int as claimed,
            count(*) filter (where claimed_until <= ?)::int as expired
       from businesses where status = 'assessment_pending'`,
    [now, now],
  );
  return { pending: row?.n ?? 0, oldestAt: row?.oldest ? new Date(row.oldest) : null, claimed: row?.claimed ?? 0, expiredClaims: row?.expired ?? 0 };
}

/** Businesses stuck in `assessment_pending`: how many, the oldest, and the first ids (ascending, up to 5). */
export interface StuckPending {
  count: number;
  oldestAt: Date | null;
  sampleIds: number[];
}

/**
 * Businesses in `assessment_pending` since before `changedBefore` (by `coalesce(status_changed_at, updated_at)`)
 * and not under a live claim at `now` (no `claimed_until`, or one before `now`).
 */
export async function stuckAssessmentPending(em: EntityManager, changedBefore: Date, now: Date): Promise<StuckPending> {
  const [row] = await em.execute<{ n: number; oldest: Date | string | null; ids: number[] | null }[]>(
    `select count(*)::int as n, min(coalesce(status_changed_at, updated_at)) as oldest, (array_agg(id order by id))[1:5] as ids
       from businesses
      where status = 'assessment_pending' and coalesce(status_changed_at, updated_at) < ?
        and (claimed_until is null or claimed_until < ?)`,
    [changedBefore, now],
  );
  return { count: row?.n ?? 0, oldestAt: row?.oldest ? new Date(row.oldest) : null, sampleIds: (row?.ids ?? []).map(Number) };
}

/** Businesses in `assessment_failed`, and how many of them have attempts left (`assessment_attempts < maxAttempts`). */
export async function failedAssessmentBusinesses(em: EntityManager, maxAttempts: number): Promise<{ failed: number; retryable: number }> {
  const [row] = await em.execute<{ n: number; retryable: number }[]>(
    `select count(*)::int as n, count(*) filter (where assessment_attempts < ?)::int as retryable from businesses where status = 'assessment_failed'`,
    [maxAttempts],
  );
  return { failed: row?.n ?? 0, retryable: row?.retryable ?? 0 };
}
