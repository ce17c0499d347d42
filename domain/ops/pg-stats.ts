/**
 * PostgreSQL statistics for the database-performance runbook, in one place for its callers: the thresholds and
 * whitelists (domain/ops/pg-limits.ts), the catalog and statistics queries (domain/queries/pg-stats.ts), and here
 * the judgements over them (bloat, stale statistics, missing indexes) and the index remediation.
 *
 * Two writes, for remediations only: `vacuumAnalyze` and {@link createSuggestedIndex}. Both accept only names from
 * our own whitelists (`OWN_TABLES`, `SUGGESTED_INDEXES`) and quote them; nothing a user types is ever put into SQL
 * unchecked.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { createIndex, dropIndex, invalidIndexCount, isPglite, leadingColumns, tableRows, type VacuumStat } from '../queries/pg-stats.js';
import { AppError } from '../errors.js';
import {
  BLOAT_MIN_DEAD_TUPLES,
  BLOAT_WARN_RATIO,
  findSuggestedIndex,
  STALE_STATS_MIN_CHANGES,
  STALE_STATS_RATIO,
  SUGGESTED_INDEXES,
  suggestedIndexName,
  type SuggestedIndex,
} from './pg-limits.js';

export * from './pg-limits.js';
export {
  connectionStats,
  explainKeyQuery,
  indexUsage,
  isPglite,
  KEY_QUERIES,
  tableRows,
  tableSizes,
  topStatements,
  vacuumAnalyze,
  vacuumStats,
  type ConnectionStats,
  type IndexUse,
  type KeyQuery,
  type PlanSummary,
  type SessionInfo,
  type StatementStat,
  type TableScans,
  type TableSize,
  type TopStatements,
  type VacuumStat,
} from '../queries/pg-stats.js';

/** True when a table is bloated: at least {@link BLOAT_MIN_DEAD_TUPLES} dead and a ratio of at least {@link BLOAT_WARN_RATIO}. */
export function isBloated(v: VacuumStat): boolean {
  return v.dead >= BLOAT_MIN_DEAD_TUPLES && v.deadRatio >= BLOAT_WARN_RATIO;
}

/** True when a table's planner statistics are stale (many rows changed since the last analyze). */
export function hasStaleStats(v: VacuumStat): boolean {
  return v.modifiedSinceAnalyze >= STALE_STATS_MIN_CHANGES && v.modifiedSinceAnalyze >= STALE_STATS_RATIO * Math.max(v.live, 1);
}

/** A suggested index that is missing, with its table's row estimate. */
export interface MissingIndex extends SuggestedIndex {
  name: string;
  rows: number;
}

/** {@link SUGGESTED_INDEXES} without a valid index leading with their column (tables that don't exist are skipped). */
export async function missingIndexes(em: EntityManager): Promise<MissingIndex[]> {
  const have = await leadingColumns(em);
  const rows = await tableRows(em);
  return SUGGESTED_INDEXES.filter((s) => rows.has(s.table) && !have.has(`${s.table}.${s.column}`)).map((s) => ({
    ...s,
    name: suggestedIndexName(s),
    rows: rows.get(s.table) ?? 0,
  }));
}

/** What {@link createSuggestedIndex} did. */
export interface CreateIndexResult {
  name: string;
  /** False when a valid index leading with the column already existed. */
  created: boolean;
  /** True when built with CONCURRENTLY (no write lock on the table); false on PGlite or after a fallback. */
  concurrently: boolean;
  /** One sentence for the operator. */
  detail: string;
}

/**
 * Creates a whitelisted suggested index, named {@link suggestedIndexName}: `CREATE INDEX CONCURRENTLY IF NOT EXISTS`
 * on PostgreSQL (an invalid leftover of a failed concurrent build under that name is dropped first); a plain
 * `CREATE INDEX IF NOT EXISTS` on the embedded PGlite (one connection, nothing to stay concurrent with) or when
 * the server refuses CONCURRENTLY. Runs outside any transaction.
 * @throws AppError bad_request when (table, column) is not in {@link SUGGESTED_INDEXES}; driver errors.
 */
export async function createSuggestedIndex(em: EntityManager, table: string, column: string): Promise<CreateIndexResult> {
  const s = findSuggestedIndex(table, column);
  if (!s) {
    throw new AppError(
      'bad_request',
      `no suggested index on ${String(table)}.${String(column)}; suggested: ${SUGGESTED_INDEXES.map((x) => `${x.table}.${x.column}`).join(', ')}`,
    );
  }
  const name = suggestedIndexName(s);
  if ((await leadingColumns(em)).has(`${s.table}.${s.column}`)) {
    return { name, created: false, concurrently: false, detail: `${s.table}.${s.column} already has an index; nothing to do` };
  }
  const invalid = await invalidIndexCount(em, name);
  const target = { name, table: s.table, column: s.column };
  if (await isPglite(em)) {
    if (invalid > 0) await dropIndex(em, name, false);
    await createIndex(em, target, false);
    return { name, created: true, concurrently: false, detail: `created ${name} with a plain CREATE INDEX (embedded PGlite: no concurrent build)` };
  }
  if (invalid > 0) await dropIndex(em, name, true);
  try {
    await createIndex(em, target, true);
    return { name, created: true, concurrently: true, detail: `created ${name} concurrently (writes were not blocked)` };
  } catch (err) {
    if (!/concurrently/i.test((err as Error).message ?? '')) throw err;
    await dropIndex(em, name, false);
    await createIndex(em, target, false);
    return {
      name,
      created: true,
      concurrently: false,
      detail: `created ${name} with a plain CREATE INDEX (the server refused CONCURRENTLY: ${(err as Error).message})`,
    };
  }
}
