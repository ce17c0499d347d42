/**
 * Data-integrity checks (`npm run lf -- db verify`, and after every restore): foreign keys present and validated,
 * orphaned rows, status consistency between tables, job runs left `running`, and counts per stage.
 *
 * Orphans cannot appear while the foreign keys hold; they are checked anyway because a partial restore, a
 * `session_replication_role = replica` load or a dropped constraint lets them in, and the check is what proves a
 * restored copy sound. Count checks are informational (always ok) and carry their numbers in `data`.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { offendingIds, problemQueries, STATUS_TABLES, statusCounts, tableRowCounts, validatedForeignKeys, type ProblemQuery } from '../queries/integrity.js';

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

/** How many offending ids a check lists in `data`. */
const SAMPLE = 10;

/** The foreign-keys check: every one of {@link EXPECTED_FOREIGN_KEYS} present and validated. */
async function foreignKeyCheck(em: EntityManager): Promise<VerifyCheck> {
  const names = Object.keys(EXPECTED_FOREIGN_KEYS);
  const valid = await validatedForeignKeys(em, names);
  const missing = names.filter((name) => !valid.has(name));
  return {
    id: 'foreign-keys',
    ok: missing.length === 0,
    count: missing.length,
    detail: missing.length === 0 ? `${names.length} foreign keys present and validated` : `missing or not validated: ${missing.join(', ')}`,
  };
}

/** One problem check: ok when `q` finds no row; otherwise the count and the first {@link SAMPLE} ids. */
async function problemCheck(em: EntityManager, q: ProblemQuery): Promise<VerifyCheck> {
  const ids = await offendingIds(em, q);
  return {
    id: q.id,
    ok: ids.length === 0,
    count: ids.length,
    detail: ids.length === 0 ? `none: 0 ${q.what}` : `${ids.length} ${q.what} (ids ${ids.slice(0, SAMPLE).join(', ')}${ids.length > SAMPLE ? ', …' : ''})`,
    ...(ids.length > 0 ? { data: ids.slice(0, SAMPLE) } : {}),
  };
}

/** One count check (always ok): rows of `table` per status, with the total as `count`. */
async function countCheck(em: EntityManager, table: (typeof STATUS_TABLES)[number]): Promise<VerifyCheck> {
  const rows = await statusCounts(em, table);
  const data = Object.fromEntries(rows.map((r) => [r.status, r.n]));
  const total = Object.values(data).reduce((a, b) => a + b, 0);
  return {
    id: `counts-${table.replace('_', '-')}`,
    ok: true,
    count: total,
    detail: total === 0 ? `${table}: none` : `${table}: ${rows.map((r) => `${r.status} ${r.n}`).join(', ')}`,
    data,
  };
}

/**
 * Runs every check on the database of `em`, one query after another. `now` and `runningStaleMs` decide which
 * `running` job runs count as left running. @throws database errors.
 */
export async function verifyDatabase(em: EntityManager, opts: { now?: Date; runningStaleMs?: number } = {}): Promise<VerifyReport> {
  const now = opts.now ?? new Date();
  const checks: VerifyCheck[] = [await foreignKeyCheck(em)];
  const staleBefore = new Date(now.getTime() - (opts.runningStaleMs ?? DEFAULT_RUNNING_STALE_MS));
  for (const q of problemQueries(staleBefore)) checks.push(await problemCheck(em, q));
  for (const table of STATUS_TABLES) checks.push(await countCheck(em, table));
  return { ok: checks.every((c) => c.ok), checkedAt: now, checks };
}

/** Exact row counts of every ordinary table in the `public` schema (domain/queries/integrity.ts). */
export { tableRowCounts };

/** The report as text lines (`ok  id  detail`, problems first). */
export function renderVerifyText(report: VerifyReport): string {
  const sorted = [...report.checks].sort((a, b) => Number(a.ok) - Number(b.ok));
  const width = Math.max(...sorted.map((c) => c.id.length));
  const lines = sorted.map((c) => `${c.ok ? 'ok     ' : 'PROBLEM'}  ${c.id.padEnd(width)}  ${c.detail}`);
  const bad = report.checks.filter((c) => !c.ok).length;
  lines.push('', report.ok ? `db verify: clean (${report.checks.length} checks)` : `db verify: ${bad} problem(s) in ${report.checks.length} checks`);
  return `${lines.join('\n')}\n`;
}
