/**
 * Named queries over `businesses`: the assessment claims' lease protocol (domain/assessment/assess.ts,
 * domain/pipeline/reaper.ts); pipeline progress and the assessment backlog, read alike by the alert rules, the gauges
 * on /metrics and the runbooks; the pipeline stages' own statements (sourcing, assessment claims and retries,
 * remedies, stuck work, quota).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { rowsOf, type SqlRunner } from './sql-runner.js';

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
export async function businessesByStatus(em: SqlRunner): Promise<Record<string, number>> {
  const rows = await rowsOf<{ status: string; n: number }>(em, 'select status, count(*)::int as n from businesses group by status order by status');
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

/** Businesses sourced for target `targetId` so far (rows with that `target_id`), on the connection. A count. */
export async function businessesOfTarget(em: EntityManager, targetId: number): Promise<number> {
  const [row] = await em.getConnection().execute<{ n: string }[]>('select count(*) as n from businesses where target_id = ?', [targetId]);
  return Number(row?.n ?? 0);
}

/** Businesses created at or after `since` per target, for the given targets (targets with none are absent), on the connection. */
export async function businessesCreatedSinceByTarget(em: EntityManager, since: Date, targetIds: readonly number[]): Promise<Map<number, number>> {
  if (targetIds.length === 0) return new Map();
  const rows = await em
    .getConnection()
    .execute<{ target_id: number; n: string }[]>(
      `select target_id, count(*) as n from businesses where created_at >= ? and target_id in (${targetIds.map(() => '?').join(',')}) group by target_id`,
      [since, ...targetIds],
    );
  return new Map(rows.map((r) => [r.target_id, Number(r.n)]));
}

/** One sourced business to insert (Yelp fields, normalised domain and phone, initial status). */
export interface SourcedBusinessInput {
  yelpId: string;
  name: string;
  website: string | null;
  websiteDomain: string | null;
  phone: string | null;
  phoneNormalized: string | null;
  address: string | null;
  city: string | null;
  categories: unknown;
  rating: number | null;
  reviewCount: number | null;
  status: 'assessment_pending' | 'skipped';
}

/**
 * Inserts `rows` for target `targetId` in ONE statement on the connection, skipping any whose Yelp id
 * (`on conflict`), website domain or normalised phone is already in the table; `status_changed_at`, `created_at`,
 * `updated_at` = `now`. Returns the inserted rows' id and website.
 */
export async function insertSourcedBusinesses(em: EntityManager, rows: readonly SourcedBusinessInput[], targetId: number, now: Date): Promise<{ id: number; website: string | null }[]> {
  if (rows.length === 0) return [];
  const params: unknown[] = [];
  const values = rows.map((b) => {
    params.push(b.yelpId, b.name, b.website, b.websiteDomain, b.phone, b.phoneNormalized, b.address, b.city, JSON.stringify(b.categories), b.rating, b.reviewCount, b.status);
    return '(?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?::real, ?::int, ?)';
  });
  return em.getConnection().execute<{ id: number; website: string | null }[]>(
    `insert into businesses (yelp_id, name, website, website_domain, phone, phone_normalized, address, city, categories,
                             rating, review_count, status, status_changed_at, target_id, created_at, updated_at)
     select v.yelp_id, v.name, v.website, v.website_domain, v.phone, v.phone_normalized, v.address, v.city, v.categories,
            v.rating, v.review_count, v.status, ?, ?, ?, ?
     from (values ${values.join(', ')}) as v(yelp_id, name, website, website_domain, phone, phone_normalized, address, city,
                                             categories, rating, review_count, status)
     where not exists (select 1 from businesses x where (v.website_domain is not null and x.website_domain = v.website_domain)
                                                     or (v.phone_normalized is not null and x.phone_normalized = v.phone_normalized))
     on conflict (yelp_id) do nothing returning id, website`,
    [now, targetId, now, now, ...params],
  );
}

/**
 * Claims up to `limit` `assessment_pending` businesses not under a live claim at `now`, lowest id first, skipping
 * rows locked by another claimer (`for update skip locked`): `claimed_until = until`, `claim_holder = holder`.
 * One statement; returns the claimed rows (unsorted).
 */
export async function claimAssessmentBatch(em: EntityManager, limit: number, now: Date, holder: string, until: Date): Promise<{ id: number; name: string; website: string | null }[]> {
  return em.execute<{ id: number; name: string; website: string | null }[]>(
    `update businesses set claimed_until = ?, claim_holder = ?
       where id in (select id from businesses
                     where status = 'assessment_pending' and (claimed_until is null or claimed_until < ?)
                     order by id limit ? for update skip locked)
       returning id, name, website`,
    [until, holder, now, limit],
  );
}

/**
 * Moves `assessment_failed` businesses with `assessment_attempts < maxAttempts` and a last change at or before
 * `changedBefore` back to `assessment_pending` (lease cleared, `status_changed_at = now`); returns how many.
 */
export async function retryFailedAssessments(em: EntityManager, maxAttempts: number, changedBefore: Date, now: Date): Promise<number> {
  const rows = await em.execute<{ id: number }[]>(
    `update businesses set status = 'assessment_pending', status_changed_at = ?, claimed_until = null, updated_at = ?
       where status = 'assessment_failed' and assessment_attempts < ? and coalesce(status_changed_at, updated_at) <= ? returning id`,
    [now, now, maxAttempts, changedBefore],
  );
  return rows.length;
}

/**
 * Moves EVERY `assessment_failed` business back to `assessment_pending` with `assessment_attempts = 0` (lease
 * cleared, `status_changed_at = now`), whatever its attempts; returns how many.
 */
export async function requeueAllFailedAssessments(em: EntityManager, now: Date): Promise<number> {
  const rows = await em.execute<{ id: number }[]>(
    `update businesses set status = 'assessment_pending', assessment_attempts = 0, status_changed_at = ?, claimed_until = null, updated_at = ?
      where status = 'assessment_failed' returning id`,
    [now, now],
  );
  return rows.length;
}

/** A business with a stored website, as the website remedies scan it. */
export interface WebsiteRow {
  id: number;
  status: string;
  website: string;
}

/** Businesses with a website in one of `statuses`, not under a live claim at `now`, by id, at most `limit`. */
export async function businessesWithWebsite(em: EntityManager, statuses: readonly string[], now: Date, limit: number): Promise<WebsiteRow[]> {
  return em.execute<WebsiteRow[]>(
    `select id, status, website from businesses
      where website is not null and status in (${statuses.map(() => '?').join(',')})
        and (claimed_until is null or claimed_until < ?)
      order by id limit ?`,
    [...statuses, now, limit],
  );
}

/**
 * Stores a repaired website (and its `website_domain`); with `requeue` the business also goes back to
 * `assessment_pending` with `assessment_attempts = 0`, `status_changed_at = now` and its lease cleared.
 */
export async function setBusinessWebsite(em: EntityManager, id: number, website: string, domain: string, now: Date, requeue: boolean): Promise<void> {
  await em.execute(
    `update businesses set website = ?, website_domain = ?, updated_at = ?
       ${requeue ? ", status = 'assessment_pending', assessment_attempts = 0, status_changed_at = ?, claimed_until = null" : ''}
     where id = ?`,
    requeue ? [website, domain, now, now, id] : [website, domain, now, id],
  );
}

/** Clears a business's website and sets it `skipped` (`status_changed_at = now`, lease cleared). */
export async function retireBusinessWebsite(em: EntityManager, id: number, now: Date): Promise<void> {
  await em.execute(`update businesses set website = null, status = 'skipped', status_changed_at = ?, claimed_until = null, updated_at = ? where id = ?`, [now, now, id]);
}

/** Businesses of one waiting status stuck since before some time: how many and the oldest change. */
export interface StuckStatusRow {
  status: string;
  count: number;
  oldest: Date;
}

/**
 * Businesses in one of `statuses` whose `coalesce(status_changed_at, updated_at)` is before `before`, per status
 * (statuses with none absent), in status order, on the connection.
 */
export async function businessesStuckIn(em: EntityManager, statuses: readonly string[], before: Date): Promise<StuckStatusRow[]> {
  const rows = await em.getConnection().execute<{ status: string; n: string; oldest: Date | string }[]>(
    `select status, count(*) as n, min(coalesce(status_changed_at, updated_at)) as oldest from businesses
     where status in (${statuses.map(() => '?').join(',')}) and coalesce(status_changed_at, updated_at) < ?
     group by status order by status`,
    [...statuses, before],
  );
  return rows.map((r) => ({ status: r.status, count: Number(r.n), oldest: new Date(r.oldest) }));
}

/** Clears every claim that expired before `now` (`claimed_until < now`), on the connection; returns how many. */
export async function releaseExpiredBusinessClaims(em: EntityManager, now: Date): Promise<number> {
  const rows = await em.getConnection().execute<{ id: number }[]>('update businesses set claimed_until = null where claimed_until < ? returning id', [now]);
  return rows.length;
}
