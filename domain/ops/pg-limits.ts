/**
 * The limits and whitelists of the database-performance checks (domain/ops/pg-stats.ts): thresholds that make a
 * figure a warning or a problem, the tables we own, the indexes our key queries need, and the redaction of query
 * text shown as evidence. No SQL and no I/O here.
 */
import { ENTITY_TABLES } from '../../db/entities/index.js';

/** Tables this application owns: the `tableName` of every entity in db/entities ENTITIES. */
export const OWN_TABLES: readonly string[] = ENTITY_TABLES;

/** True when `table` is one of {@link OWN_TABLES} (exact match). */
export function isOwnTable(table: unknown): table is string {
  return typeof table === 'string' && OWN_TABLES.includes(table);
}

/** A table is "large" from this many rows on: a Seq Scan over it, or a missing index on it, matters. */
export const LARGE_TABLE_ROWS = 10_000;
/** Dead tuples below this count never make a table "bloated", whatever the ratio (small tables). */
export const BLOAT_MIN_DEAD_TUPLES = 1_000;
/** Dead / (live + dead) from which a table is bloated: warn. */
export const BLOAT_WARN_RATIO = 0.2;
/** Dead / (live + dead) from which bloat is a problem. */
export const BLOAT_PROBLEM_RATIO = 0.5;
/** Rows changed since the last analyze from which statistics are stale (with {@link STALE_STATS_RATIO}). */
export const STALE_STATS_MIN_CHANGES = 10_000;
/** Rows changed since the last analyze, as a share of live rows, from which statistics are stale. */
export const STALE_STATS_RATIO = 0.2;
/** Used / max_connections from which connections are nearly saturated: warn. */
export const CONNECTIONS_WARN_RATIO = 0.75;
/** Used / max_connections from which connections are saturated: problem. */
export const CONNECTIONS_PROBLEM_RATIO = 0.9;
/** An active query running longer than this (ms) is long-running. */
export const LONG_RUNNING_QUERY_MS = 5 * 60_000;
/** A session idle in a transaction for longer than this (ms) holds locks and a connection for nothing. */
export const IDLE_IN_TRANSACTION_MS = 60_000;
/** Mean execution time (ms) from which a statement is slow: warn. */
export const SLOW_MEAN_WARN_MS = 200;
/** Mean execution time (ms) from which a statement is very slow: problem. */
export const SLOW_MEAN_PROBLEM_MS = 1_000;
/** Statements called fewer times than this are ignored for slowness (one-off maintenance). */
export const SLOW_MIN_CALLS = 5;
/** A table with at least this many seq scans, more than its index scans, and {@link LARGE_TABLE_ROWS}: seq-scan heavy. */
export const SEQ_SCAN_HEAVY_MIN = 100;

/** How to enable pg_stat_statements (said when it is missing). */
export const PG_STAT_STATEMENTS_HOWTO =
  "set shared_preload_libraries = 'pg_stat_statements' in postgresql.conf, restart PostgreSQL, then run CREATE EXTENSION pg_stat_statements";

/** Query text for evidence: string literals blanked (no addresses or values), whitespace squeezed, cut to `max` chars. */
export function redactQuery(q: string | null | undefined, max = 100): string {
  const s = String(q ?? '')
    .replace(/'(?:[^']|'')*'/g, "'…'")
    .replace(/\s+/g, ' ')
    .trim();
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** An index one of our key queries needs: a b-tree whose first key column is `column`. */
export interface SuggestedIndex {
  table: string;
  column: string;
  /** The query that needs it. */
  why: string;
}

/**
 * The indexes our key queries rely on (the migrations create them all; a missing one was dropped or never made).
 * The only indexes domain/ops/pg-stats.ts `createSuggestedIndex` may create.
 */
export const SUGGESTED_INDEXES: readonly SuggestedIndex[] = Object.freeze([
  { table: 'businesses', column: 'status', why: 'assessment claim and pipeline status counts (businesses by status)' },
  { table: 'emails', column: 'status', why: 'delivery claim of pending emails' },
  { table: 'ops_events', column: 'posted_at', why: 'notifier claim of events not yet posted' },
  { table: 'emails', column: 'provider_message_id', why: 'SendGrid event webhook lookups by message id' },
  { table: 'assessment_results', column: 'business_id', why: 'assessment results of a business' },
  { table: 'email_events', column: 'email_id', why: 'events of an email' },
  { table: 'job_runs', column: 'job', why: 'last runs of a job' },
  { table: 'purchases', column: 'status', why: 'purchases by status' },
]);

/** The suggestion for (table, column), or undefined when it is not whitelisted. */
export function findSuggestedIndex(table: unknown, column: unknown): SuggestedIndex | undefined {
  return SUGGESTED_INDEXES.find((s) => s.table === table && s.column === column);
}

/** Deterministic index name, as the migrations (MikroORM) name them: `<table>_<column>_index`. */
export function suggestedIndexName(s: Pick<SuggestedIndex, 'table' | 'column'>): string {
  return `${s.table}_${s.column}_index`;
}

/** Seq-scanned relations and indexes used in an EXPLAIN (FORMAT JSON) plan node tree. */
export function scanNodes(plan: Record<string, unknown>): { seqScans: string[]; indexes: string[] } {
  const seqScans: string[] = [];
  const indexes: string[] = [];
  const walk = (node: Record<string, unknown>) => {
    if (node['Node Type'] === 'Seq Scan' && typeof node['Relation Name'] === 'string') seqScans.push(node['Relation Name']);
    if (typeof node['Index Name'] === 'string') indexes.push(node['Index Name']);
    for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
  };
  walk(plan);
  return { seqScans: [...new Set(seqScans)], indexes: [...new Set(indexes)] };
}

