/** Business queries of the assessment claims' lease protocol (domain/assessment/assess.ts, domain/pipeline/reaper.ts). */
import type { EntityManager } from '@mikro-orm/postgresql';

/** Renews the assessment claims `holder` holds (`claimed_until`); returns how many. */
export async function renewBusinessClaims(em: EntityManager, holder: string, until: Date): Promise<number> {
  const rows = await em
    .getConnection()
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
    .getConnection()
    .execute<{ id: number; claim_holder: string | null; claimed_until: Date | string }[]>(`select id, claim_holder, claimed_until from businesses where claimed_until is not null order by id`);
  return rows.map((r) => ({ id: Number(r.id), holder: r.claim_holder, until: new Date(r.claimed_until) }));
}

/** Releases the given claims (the next batch claims the businesses again); returns how many were released. */
export async function releaseBusinessClaims(em: EntityManager, ids: number[]): Promise<number> {
  if (ids.length === 0) return 0;
  const rows = await em
    .getConnection()
    .execute<{ id: number }[]>(`update businesses set claimed_until = null, claim_holder = null where id in (${ids.map(() => '?').join(',')}) returning id`, ids);
  return rows.length;
}
