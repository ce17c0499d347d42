/**
 * Data-integrity checks (`npm run lf -- db verify`, and after every restore): foreign keys present and validated,
 * orphaned rows, status consistency between tables, job runs left `running`, and counts per stage.
 *
 * Orphans cannot appear while the foreign keys hold; they are checked anyway because a partial restore, a
 * `session_replication_role = replica` load or a dropped constraint lets them in, and the check is what proves a
 * restored copy sound. Count checks are informational (always ok) and carry their numbers in `data`.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** One check's result. `count` is the number of offending rows (or the total, for count checks). */
export interface VerifyCheck {
  id: string;
  ok: boolean;
  count: number;
  detail: string;
  /** Per-status numbers (count checks) or a few offending ids (problem checks). */
  data?: Record<string, number> | number[];
}

/** All checks; `ok` when every check is. */
export interface VerifyReport {
  ok: boolean;
  checkedAt: Date;
  checks: VerifyCheck[];
}

/** The foreign keys the schema must have (name → table). */
export const EXPECTED_FOREIGN_KEYS: Readonly<Record<string, string>> = {
  emails_business_id_foreign: 'emails',
  assessment_results_business_id_foreign: 'assessment_results',
  purchases_business_id_foreign: 'purchases',
  businesses_target_id_foreign: 'businesses',
};

/** Job runs `running` with a heartbeat older than this are reported as left running (default 10 min). */
export const DEFAULT_RUNNING_STALE_MS = 10 * 60_000;

interface ProblemQuery {
  id: string;
  /** Sentence describing one offending row, used as `<n> <what>`. */
  what: string;
  /** Selects the offending ids (`id` column). */
  sql: string;
  params?: unknown[];
}

/** How many offending ids a check lists in `data`. */
const SAMPLE = 10;

/**
 * Runs every check on the database of `em`. `now` and `runningStaleMs` decide which `running` job runs count as
 * left running.
 */
export async function verifyDatabase(em: EntityManager, opts: { now?: Date; runningStaleMs?: number } = {}): Promise<VerifyReport> {
  const now = opts.now ?? new Date();
  const conn = em.getConnection();
  const checks: VerifyCheck[] = [];

  const fkRows = await conn.execute<{ conname: string; convalidated: boolean }[]>(
    `select conname, convalidated from pg_constraint where contype = 'f' and conname in (${Object.keys(EXPECTED_FOREIGN_KEYS).map(() => '?').join(', ')})`,
    Object.keys(EXPECTED_FOREIGN_KEYS),
  );
  const missing = Object.keys(EXPECTED_FOREIGN_KEYS).filter((name) => !fkRows.some((r) => r.conname === name && r.convalidated));
  checks.push({
    id: 'foreign-keys',
    ok: missing.length === 0,
    count: missing.length,
    detail: missing.length === 0 ? `${Object.keys(EXPECTED_FOREIGN_KEYS).length} foreign keys present and validated` : `missing or not validated: ${missing.join(', ')}`,
  });

  const staleBefore = new Date(now.getTime() - (opts.runningStaleMs ?? DEFAULT_RUNNING_STALE_MS));
  const problems: ProblemQuery[] = [
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
  for (const p of problems) {
    const rows = await conn.execute<{ id: number }[]>(p.sql, p.params ?? []);
    const ids = rows.map((r) => Number(r.id));
    checks.push({
      id: p.id,
      ok: ids.length === 0,
      count: ids.length,
      detail: ids.length === 0 ? `none: 0 ${p.what}` : `${ids.length} ${p.what} (ids ${ids.slice(0, SAMPLE).join(', ')}${ids.length > SAMPLE ? ', …' : ''})`,
      ...(ids.length > 0 ? { data: ids.slice(0, SAMPLE) } : {}),
    });
  }

  for (const table of ['businesses', 'emails', 'purchases', 'assessment_results', 'job_runs'] as const) {
    const rows = await conn.execute<{ status: string; n: string | number }[]>(
      `select status::text as status, count(*) as n from ${table} group by status order by status`,
    );
    const data = Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
    const total = Object.values(data).reduce((a, b) => a + b, 0);
    checks.push({
      id: `counts-${table.replace('_', '-')}`,
      ok: true,
      count: total,
      detail: total === 0 ? `${table}: none` : `${table}: ${rows.map((r) => `${r.status} ${Number(r.n)}`).join(', ')}`,
      data,
    });
  }

  return { ok: checks.every((c) => c.ok), checkedAt: now, checks };
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

/** The report as text lines (`ok  id  detail`, problems first). */
export function renderVerifyText(report: VerifyReport): string {
  const sorted = [...report.checks].sort((a, b) => Number(a.ok) - Number(b.ok));
  const width = Math.max(...sorted.map((c) => c.id.length));
  const lines = sorted.map((c) => `${c.ok ? 'ok     ' : 'PROBLEM'}  ${c.id.padEnd(width)}  ${c.detail}`);
  const bad = report.checks.filter((c) => !c.ok).length;
  lines.push('', report.ok ? `db verify: clean (${report.checks.length} checks)` : `db verify: ${bad} problem(s) in ${report.checks.length} checks`);
  return `${lines.join('\n')}\n`;
}
