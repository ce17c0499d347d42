/**
 * Spend queries over the gateway's cost ledger (`api_calls`, one row per logical provider call with `cost_usd` in
 * USD; written by domain/gateway/ledger.ts) and the denominator of "cost per lead": emails actually sent.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** Spend of one provider since a time: calls counted, cost in USD. */
export interface ProviderSpend {
  provider: string;
  calls: number;
  costUsd: number;
}

/** Spend per provider since `since` (providers with no calls are absent). */
export async function spendByProvider(em: EntityManager, since: Date): Promise<ProviderSpend[]> {
  const rows = await em
    .execute<{ provider: string; calls: string | number; cost: string | number | null }[]>(
      `select provider, count(*) as calls, coalesce(sum(cost_usd), 0) as cost from api_calls where created_at >= ? group by provider order by provider`,
      [since],
    );
  return rows.map((r) => ({ provider: r.provider, calls: Number(r.calls), costUsd: Number(r.cost ?? 0) }));
}

/** Emails SendGrid accepted (`sent_at` set) since `since`: the leads emailed. */
export async function emailsSentSince(em: EntityManager, since: Date): Promise<number> {
  const [row] = await em.execute<{ n: string | number }[]>(`select count(*) as n from emails where sent_at >= ?`, [since]);
  return Number(row?.n ?? 0);
}

/** Spend of one provider in the current UTC day and month, USD. */
export interface PeriodSpend {
  provider: string;
  dailyUsd: number;
  monthlyUsd: number;
}

/**
 * Spend per provider since `monthStart`, with the part since `dayStart` (`dayStart` ≥ `monthStart`): the numerators
 * of `leadfactory_provider_budget_used_ratio`. Providers with no calls this month are absent.
 */
export async function spendThisDayAndMonth(em: EntityManager, dayStart: Date, monthStart: Date): Promise<PeriodSpend[]> {
  const rows = await em.execute<{ provider: string; daily: number; monthly: number }[]>(
    `select provider, coalesce(sum(cost_usd) filter (where created_at >= ?), 0)::float8 as daily, coalesce(sum(cost_usd), 0)::float8 as monthly
       from api_calls where created_at >= ? group by provider`,
    [dayStart, monthStart],
  );
  return rows.map((r) => ({ provider: r.provider, dailyUsd: Number(r.daily ?? 0), monthlyUsd: Number(r.monthly ?? 0) }));
}

/**
 * USD spent by one provider since `since` (inclusive), on `em.getConnection()` outside any transaction: the
 * gateway's budget check (domain/gateway/ledger.ts adds the rows it still buffers).
 */
export async function providerSpendSince(em: EntityManager, provider: string, since: Date): Promise<number> {
  const [row] = await em
    .getConnection()
    .execute<{ s: string | number | null }[]>('select coalesce(sum(cost_usd), 0)::float8 as s from api_calls where provider = ? and created_at >= ?', [
      provider,
      since,
    ]);
  return Number(row?.s ?? 0);
}

/** Spend per provider (USD, providers with no calls absent) of the calls made in [`from`, `to`), by provider name. */
export async function spendByProviderBetween(em: EntityManager, from: Date, to: Date): Promise<{ provider: string; costUsd: number }[]> {
  const rows = await em.execute<{ provider: string; usd: string | number | null }[]>(
    `select provider, coalesce(sum(cost_usd), 0) as usd from api_calls where created_at >= ? and created_at < ? group by provider order by 1`,
    [from, to],
  );
  return rows.map((r) => ({ provider: r.provider, costUsd: Number(r.usd ?? 0) }));
}
