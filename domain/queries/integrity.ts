/**
 * The integrity queries of `db verify` (domain/recovery/verify.ts): foreign keys present and validated, rows that
 * break the schema's promises (orphans, inconsistent statuses, job runs left running), counts per status, and
 * exact row counts per table (to compare a restored copy with its source).
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** Of the foreign-key constraints named `names`, those present and validated. */
export async function validatedForeignKeys(em: EntityManager, names: readonly string[]): Promise<Set<string>> {
  const rows = await em.execute<{ conname: string; convalidated: boolean }[]>(
    `select conname, convalidated from pg_constraint where contype = 'f' and conname in (${names.map(() => '?').join(', ')})`,
    [...names],
  );
  return new Set(rows.filter((r) => r.convalidated).map((r) => r.conname));
}

/** A query for offending rows: `what` describes one (used as `<n> <what>`); `sql` selects their ids (`id`). */
export interface ProblemQuery {
  id: string;
  what: string;
  sql: string;
  params?: unknown[];
}

/** The problem queries, in report order; job runs `running` with a heartbeat before `staleBefore` count as left running. */
export function problemQueries(staleBefore: Date): ProblemQuery[] {
  return [
    {
      id: 'orphan-emails',
      what: 'email(s) whose business does not exist',
      sql: `select e.id from emails e where not exists (select 1 from businesses b where b.id = e.business_id) order by e.id`,
    },
    {
      id: 'orphan-assessment-results',
      what: 'assessment result(s) whose business does not exist',
      sql: `select a.id from assessment_results a where not exists (select 1 from businesses b where b.id = a.business_id) order by a.id`,
    },
    {
      id: 'orphan-purchases',
      what: 'purchase(s) pointing at a business that does not exist',
      sql: `select p.id from purchases p where p.business_id is not null and not exists (select 1 from businesses b where b.id = p.business_id) order by p.id`,
    },
    {
      id: 'orphan-businesses',
      what: 'business(es) pointing at a target that does not exist',
      sql: `select b.id from businesses b where b.target_id is not null and not exists (select 1 from targets t where t.id = b.target_id) order by b.id`,
    },
    {
      id: 'emailed-without-email',
      what: "business(es) 'emailed' without any email row",
      sql: `select b.id from businesses b where b.status = 'emailed' and not exists (select 1 from emails e where e.business_id = b.id) order by b.id`,
    },
    {
      id: 'sent-without-sent-at',
      what: "email(s) 'sent' or 'delivered' without sent_at",
      sql: `select id from emails where status in ('sent', 'delivered') and sent_at is null order by id`,
    },
    {
      id: 'paid-without-stripe-ids',
      what: "purchase(s) 'paid' with neither a Stripe session nor a payment intent id",
      sql: `select id from purchases where status = 'paid' and stripe_session_id is null and stripe_payment_intent_id is null order by id`,
    },
    {
      id: 'job-runs-left-running',
      what: `job run(s) still 'running' with no heartbeat since ${staleBefore.toISOString()}`,
      sql: `select id from job_runs where status = 'running' and heartbeat_at < ? order by id`,
      params: [staleBefore],
    },
  ];
}

/** Ids of the rows `q` finds, ascending. */
export async function offendingIds(em: EntityManager, q: ProblemQuery): Promise<number[]> {
  const rows = await em.execute<{ id: number }[]>(q.sql, q.params ?? []);
  return rows.map((r) => Number(r.id));
}

/** Tables whose rows are counted per status by `db verify`. */
export const STATUS_TABLES = ['businesses', 'emails', 'purchases', 'assessment_results', 'job_runs'] as const;

/** Rows of one of {@link STATUS_TABLES} per status (statuses present, in `order by status` order). */
export async function statusCounts(em: EntityManager, table: (typeof STATUS_TABLES)[number]): Promise<{ status: string; n: number }[]> {
  const rows = await em.execute<{ status: string; n: string | number }[]>(
    `select status::text as status, count(*) as n from ${table} group by status order by status`,
  );
  return rows.map((r) => ({ status: r.status, n: Number(r.n) }));
}

/**
 * Exact row counts of every ordinary table in the `public` schema (the migrations table included), by name; used
 * to compare a restored copy with its source.
 */
export async function tableRowCounts(em: EntityManager): Promise<Record<string, number>> {
  const conn = em.getConnection();
  const tables = await conn.execute<{ name: string }[]>(
    `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind in ('r', 'p') order by c.relname`,
  );
  const out: Record<string, number> = {};
  for (const { name } of tables) {
    const [row] = await conn.execute<{ n: string | number }[]>(`select count(*) as n from "${name.replace(/"/g, '""')}"`);
    out[name] = Number(row?.n ?? 0);
  }
  return out;
}

