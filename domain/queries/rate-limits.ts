/**
 * The shared rate limiter's state (domain/gateway/limiter.ts): GCRA rows `rate_limit_state` (provider, bucket = the
 * rule's name, `tat` = theoretical arrival time), read together with the provider's Retry-After block
 * (`provider_state.blocked_until`) and today's quota row (`provider_quota_usage`). Every statement runs on
 * `em.getConnection()`, never in `em`'s transaction context, and every change is one atomic statement. Times come
 * from the caller's clock (never SQL `now()`); `day` is a UTC `YYYY-MM-DD`.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

const MS = `* interval '1 millisecond'`;

/** One row of {@link limiterState}: a rule's tat, the Retry-After block, or today's quota (times in epoch ms). */
export interface LimiterStateRow {
  kind: string;
  bucket: string | null;
  ms: number | null;
  used: number | null;
  exhausted: boolean | null;
}

/** A rule's charge in one statement: bucket (rule name), emission interval `t` (ms), units `cost`, capacity `cap` (ms). */
export interface RateCharge {
  bucket: string;
  t: number;
  cost: number;
  cap: number;
}

/** One read of a provider's limiter state: every rule's tat (`rule`), the Retry-After block (`block`), today's quota (`quota`). */
export async function limiterState(em: EntityManager, provider: string, day: string): Promise<LimiterStateRow[]> {
  return em.getConnection().execute<LimiterStateRow[]>(
    `select 'rule' as kind, bucket, (extract(epoch from tat) * 1000)::float8 as ms, null::int as used, null::boolean as exhausted
       from rate_limit_state where provider = ?
     union all select 'block', null, (extract(epoch from blocked_until) * 1000)::float8, null, null
       from provider_state where provider = ?
     union all select 'quota', null, null, used, exhausted from provider_quota_usage where provider = ? and day = ?::date`,
    [provider, provider, provider, day],
  );
}

/** Creates the missing GCRA rows `buckets` of `provider` with tat = `now` (existing rows untouched). */
export async function createRateBuckets(em: EntityManager, provider: string, buckets: string[], now: Date): Promise<void> {
  const rows = buckets.map(() => '(?, ?, ?)').join(', ');
  await em.getConnection().execute(
    `insert into rate_limit_state (provider, bucket, tat) values ${rows} on conflict do nothing`,
    buckets.flatMap((b) => [provider, b, now]),
  );
}

/**
 * Reserves `k` units at once on every request rule in `charges` (k = as many as every bucket's free capacity allows
 * now, at most `max`), unless blocked or today's quota is marked exhausted; the number taken, 0 when none.
 */
export async function reserveRateUnits(em: EntityManager, provider: string, charges: RateCharge[], max: number, now: Date, day: string): Promise<number> {
  const values = charges.map(() => '(?::text, ?::float8, ?::float8)').join(', ');
  const rows = await em.getConnection().execute<{ k: number }[]>(
    `with req(bucket, t_ms, cap_ms) as (values ${values}),
     cur as materialized (
       select s.bucket, greatest(s.tat, ?::timestamptz) as base, r.t_ms, r.cap_ms
       from rate_limit_state s join req r on r.bucket = s.bucket
       where s.provider = ? order by s.bucket for update of s),
     k as (select least(?::int, min(floor((r.cap_ms - extract(epoch from (r.base - ?::timestamptz)) * 1000) / r.t_ms + 1e-9)))::int as k
           from cur r having count(*) = ?)
     update rate_limit_state s set tat = cur.base + k.k * cur.t_ms ${MS} from cur, k
     where s.provider = ? and s.bucket = cur.bucket and k.k >= 1
       and not exists (select 1 from provider_state p where p.provider = ? and p.blocked_until > ?)
       and not exists (select 1 from provider_quota_usage q where q.provider = ? and q.day = ?::date and q.exhausted)
     returning k.k`,
    [...charges.flatMap((c) => [c.bucket, c.t, c.cap]), now, provider, max, now, charges.length, provider, provider, now, provider, day],
  );
  return rows.length === charges.length ? Number(rows[0]!.k) : 0;
}

/**
 * Charges every rule in `charges` at once when all conform (GCRA), no Retry-After block is in force and today's
 * quota is not marked exhausted; true when charged (all or none).
 */
export async function chargeRates(em: EntityManager, provider: string, charges: RateCharge[], now: Date, day: string): Promise<boolean> {
  const values = charges.map(() => '(?::text, ?::float8, ?::float8, ?::float8)').join(', ');
  const rows = await em.getConnection().execute<{ bucket: string }[]>(
    `with req(bucket, t_ms, cost, cap_ms) as (values ${values}),
     cur as materialized (
       select s.bucket, greatest(s.tat, ?::timestamptz) + r.cost * r.t_ms ${MS} as new_tat, r.cap_ms
       from rate_limit_state s join req r on r.bucket = s.bucket
       where s.provider = ? order by s.bucket for update of s)
     update rate_limit_state s set tat = cur.new_tat from cur
     where s.provider = ? and s.bucket = cur.bucket
       and (select count(*) from cur) = ?
       and (select bool_and(new_tat - cap_ms ${MS} <= ?::timestamptz) from cur)
       and not exists (select 1 from provider_state p where p.provider = ? and p.blocked_until > ?)
       and not exists (select 1 from provider_quota_usage q where q.provider = ? and q.day = ?::date and q.exhausted)
     returning s.bucket`,
    [...charges.flatMap((c) => [c.bucket, c.t, c.cost, c.cap]), now, provider, provider, charges.length, now, provider, now, provider, day],
  );
  return rows.length === charges.length;
}

/** Whether calls to `provider` are refused regardless of rules: a Retry-After block in force, or today's quota marked exhausted. */
export async function providerHeldBack(em: EntityManager, provider: string, now: Date, day: string): Promise<boolean> {
  const rows = await em.getConnection().execute(
    `select 1 from provider_state where provider = ? and blocked_until > ?
     union all select 1 from provider_quota_usage where provider = ? and day = ?::date and exhausted`,
    [provider, now, provider, day],
  );
  return rows.length > 0;
}

/** Moves a rule's tat `ms` earlier, never before `now` (a full bucket). */
export async function giveBackRate(em: EntityManager, provider: string, bucket: string, ms: number, now: Date): Promise<void> {
  await em
    .getConnection()
    .execute(`update rate_limit_state set tat = greatest(least(tat, ?::timestamptz), tat - ?::float8 ${MS}) where provider = ? and bucket = ?`, [
      now,
      ms,
      provider,
      bucket,
    ]);
}

/** Moves a rule's tat `ms` later, from now at the earliest (charges more units after the fact). */
export async function chargeRateAfter(em: EntityManager, provider: string, bucket: string, ms: number, now: Date): Promise<void> {
  await em
    .getConnection()
    .execute(`update rate_limit_state set tat = greatest(tat, ?::timestamptz) + ?::float8 ${MS} where provider = ? and bucket = ?`, [now, ms, provider, bucket]);
}
