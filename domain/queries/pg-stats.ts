/**
 * PostgreSQL catalog and statistics queries of the database-performance runbook (domain/ops/pg-stats.ts): top
 * statements (pg_stat_statements), connections (pg_stat_activity vs max_connections), table sizes, dead tuples and
 * vacuum/analyze times (pg_stat_user_tables), index usage (pg_stat_user_indexes), the indexes that exist, EXPLAIN
 * plans of the pipeline's key queries, and the two maintenance writes (VACUUM ANALYZE, CREATE INDEX). Every read
 * works on a real PostgreSQL 15 and on the embedded PGlite (where some views are empty).
 *
 * Names put into SQL come only from our whitelists (domain/ops/pg-limits.ts OWN_TABLES, SUGGESTED_INDEXES): the
 * callers check them; these functions quote them.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { SERVER_VERSION_NUM_SQL } from './pg-server.js';
import { AppError } from '../errors.js';
import { IDLE_IN_TRANSACTION_MS, isOwnTable, LONG_RUNNING_QUERY_MS, OWN_TABLES, redactQuery, scanNodes } from '../ops/pg-limits.js';

const n = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const iso = (v: unknown): string | null => (v === null || v === undefined ? null : new Date(v as string).toISOString());
const inList = (xs: readonly unknown[]) => xs.map(() => '?').join(',');

/** True on the embedded PGlite (its `version()` names PGlite). */
export async function isPglite(em: EntityManager): Promise<boolean> {
  const [row] = await em.execute<{ v: string }[]>('select version() as v');
  return /pglite/i.test(row?.v ?? '');
}

/** One statement from pg_stat_statements (this database only). Times in ms; `query` normalised and redacted. */
export interface StatementStat {
  queryid: string;
  calls: number;
  totalMs: number;
  meanMs: number;
  rows: number;
  query: string;
}

/** pg_stat_statements' answer: unavailable (with why) or the top statements by total time. */
export type TopStatements = { available: false; reason: string } | { available: true; statements: StatementStat[] };

/**
 * The `limit` statements of this database with the most total execution time, from pg_stat_statements.
 * Unavailable (not an error) when the extension is not created, or created but not preloaded.
 * @throws driver errors other than "not loaded".
 */
export async function topStatements(em: EntityManager, limit = 5): Promise<TopStatements> {
  const conn = em.getConnection();
  const [ext] = await conn.execute<{ installed: boolean }[]>(
    `select exists(select 1 from pg_extension where extname = 'pg_stat_statements') as installed`,
  );
  if (!ext?.installed) return { available: false, reason: 'the pg_stat_statements extension is not installed' };
  try {
    const rows = await conn.execute<Record<string, unknown>[]>(
      `select queryid::text as queryid, calls, total_exec_time, mean_exec_time, rows, query
         from pg_stat_statements
        where dbid = (select oid from pg_database where datname = current_database())
        order by total_exec_time desc
        limit ?`,
      [limit],
    );
    return {
      available: true,
      statements: rows.map((r) => ({
        queryid: String(r.queryid),
        calls: n(r.calls),
        totalMs: Math.round(n(r.total_exec_time) * 10) / 10,
        meanMs: Math.round(n(r.mean_exec_time) * 10) / 10,
        rows: n(r.rows),
        query: redactQuery(r.query as string),
      })),
    };
  } catch (err) {
    const msg = (err as Error).message ?? '';
    if (/shared_preload_libraries|must be loaded/i.test(msg)) {
      return { available: false, reason: 'pg_stat_statements is created but not loaded through shared_preload_libraries' };
    }
    throw err;
  }
}

/** A long-running query or a session idle in a transaction (query text redacted). */
export interface SessionInfo {
  pid: number;
  state: string;
  seconds: number;
  query: string;
}

/** Connections of the whole server (client backends; PGlite's single "standalone backend"), by state, against max_connections. */
export interface ConnectionStats {
  total: number;
  byState: Record<string, number>;
  maxConnections: number;
  /** total / maxConnections (0–1). */
  usedRatio: number;
  /** Active queries (other than ours) running longer than LONG_RUNNING_QUERY_MS. */
  longRunning: SessionInfo[];
  /** Sessions idle in a transaction for longer than IDLE_IN_TRANSACTION_MS. */
  idleInTransaction: SessionInfo[];
}

/** Reads pg_stat_activity and max_connections. Source: the server's own views (PGlite shows its single backend). */
export async function connectionStats(em: EntityManager): Promise<ConnectionStats> {
  const conn = em.getConnection();
  const [max] = await conn.execute<{ max: number }[]>(`select current_setting('max_connections')::int as max`);
  const states = await conn.execute<{ state: string | null; count: number }[]>(
    `select coalesce(state, 'unknown') as state, count(*)::int as count from pg_stat_activity
      where coalesce(backend_type, 'client backend') in ('client backend', 'standalone backend') group by 1`,
  );
  const sessions = await conn.execute<{ pid: number; state: string; seconds: number; query: string | null }[]>(
    `select pid, state, extract(epoch from (now() - coalesce(case when state = 'active' then query_start else state_change end, now())))::float8 as seconds, query
       from pg_stat_activity
      where coalesce(backend_type, 'client backend') in ('client backend', 'standalone backend') and pid <> pg_backend_pid()
        and ((state = 'active' and query_start < now() - make_interval(secs => ?))
          or (state like 'idle in transaction%' and state_change < now() - make_interval(secs => ?)))
      order by seconds desc limit 20`,
    [LONG_RUNNING_QUERY_MS / 1000, IDLE_IN_TRANSACTION_MS / 1000],
  );
  const byState: Record<string, number> = {};
  let total = 0;
  for (const s of states) {
    byState[s.state ?? 'unknown'] = n(s.count);
    total += n(s.count);
  }
  const maxConnections = n(max?.max) || 100;
  const info = (s: (typeof sessions)[number]): SessionInfo => ({
    pid: n(s.pid),
    state: s.state,
    seconds: Math.round(n(s.seconds)),
    query: redactQuery(s.query, 80),
  });
  return {
    total,
    byState,
    maxConnections,
    usedRatio: Math.round((total / maxConnections) * 1000) / 1000,
    longRunning: sessions.filter((s) => s.state === 'active').map(info),
    idleInTransaction: sessions.filter((s) => s.state !== 'active').map(info),
  };
}

/** One of our tables' size: total bytes (with indexes and TOAST) and a row estimate. */
export interface TableSize {
  table: string;
  bytes: number;
  /** max(pg_class.reltuples, pg_stat_user_tables.n_live_tup): reltuples is -1 before the first analyze. */
  rows: number;
}

/** Sizes of domain/ops/pg-limits.ts OWN_TABLES that exist, largest first. */
export async function tableSizes(em: EntityManager): Promise<TableSize[]> {
  const rows = await em.execute<Record<string, unknown>[]>(
    `select c.relname as table, pg_total_relation_size(c.oid) as bytes, c.reltuples as reltuples, s.n_live_tup as live
       from pg_class c join pg_namespace ns on ns.oid = c.relnamespace
       left join pg_stat_user_tables s on s.relid = c.oid
      where ns.nspname = current_schema() and c.relkind in ('r', 'p') and c.relname in (${inList(OWN_TABLES)})
      order by 2 desc`,
    [...OWN_TABLES],
  );
  return rows.map((r) => ({ table: String(r.table), bytes: n(r.bytes), rows: Math.max(0, Math.round(n(r.reltuples)), n(r.live)) }));
}

/** Row estimates of our tables, by name (from {@link tableSizes}). */
export async function tableRows(em: EntityManager): Promise<Map<string, number>> {
  return new Map((await tableSizes(em)).map((t) => [t.table, t.rows]));
}

/** Dead tuples and maintenance times of one table (pg_stat_user_tables). Times ISO 8601 UTC or null. */
export interface VacuumStat {
  table: string;
  live: number;
  dead: number;
  /** dead / (live + dead), 0–1, 3 decimals. */
  deadRatio: number;
  modifiedSinceAnalyze: number;
  lastVacuum: string | null;
  lastAutovacuum: string | null;
  lastAnalyze: string | null;
  lastAutoanalyze: string | null;
}

/** pg_stat_user_tables for domain/ops/pg-limits.ts OWN_TABLES, most dead tuples first. Counters may lag writes by up to a second or so. */
export async function vacuumStats(em: EntityManager): Promise<VacuumStat[]> {
  const rows = await em.execute<Record<string, unknown>[]>(
    `select relname, n_live_tup, n_dead_tup, n_mod_since_analyze, last_vacuum, last_autovacuum, last_analyze, last_autoanalyze
       from pg_stat_user_tables where schemaname = current_schema() and relname in (${inList(OWN_TABLES)})
      order by n_dead_tup desc, relname`,
    [...OWN_TABLES],
  );
  return rows.map((r) => {
    const live = n(r.n_live_tup);
    const dead = n(r.n_dead_tup);
    return {
      table: String(r.relname),
      live,
      dead,
      deadRatio: live + dead === 0 ? 0 : Math.round((dead / (live + dead)) * 1000) / 1000,
      modifiedSinceAnalyze: n(r.n_mod_since_analyze),
      lastVacuum: iso(r.last_vacuum),
      lastAutovacuum: iso(r.last_autovacuum),
      lastAnalyze: iso(r.last_analyze),
      lastAutoanalyze: iso(r.last_autoanalyze),
    };
  });
}

/** One index's use (pg_stat_user_indexes). */
export interface IndexUse {
  table: string;
  index: string;
  scans: number;
  unique: boolean;
  bytes: number;
}

/** Seq vs index scans of one table (pg_stat_user_tables). */
export interface TableScans {
  table: string;
  seqScans: number;
  idxScans: number;
  rows: number;
}

/** Index and scan counters of our tables since the statistics were last reset. */
export async function indexUsage(em: EntityManager): Promise<{ indexes: IndexUse[]; tables: TableScans[] }> {
  const conn = em.getConnection();
  const idx = await conn.execute<Record<string, unknown>[]>(
    `select s.relname, s.indexrelname, s.idx_scan, i.indisunique, pg_relation_size(s.indexrelid) as bytes
       from pg_stat_user_indexes s join pg_index i on i.indexrelid = s.indexrelid
      where s.schemaname = current_schema() and s.relname in (${inList(OWN_TABLES)})
      order by s.relname, s.indexrelname`,
    [...OWN_TABLES],
  );
  const tabs = await conn.execute<Record<string, unknown>[]>(
    `select relname, seq_scan, idx_scan, n_live_tup from pg_stat_user_tables
      where schemaname = current_schema() and relname in (${inList(OWN_TABLES)}) order by seq_scan desc`,
    [...OWN_TABLES],
  );
  return {
    indexes: idx.map((r) => ({ table: String(r.relname), index: String(r.indexrelname), scans: n(r.idx_scan), unique: Boolean(r.indisunique), bytes: n(r.bytes) })),
    tables: tabs.map((r) => ({ table: String(r.relname), seqScans: n(r.seq_scan), idxScans: n(r.idx_scan), rows: n(r.n_live_tup) })),
  };
}

/** (table, first key column) of every valid, non-partial index in our schema. */
export async function leadingColumns(em: EntityManager): Promise<Set<string>> {
  const rows = await em.execute<{ t: string; c: string }[]>(
    `select t.relname as t, a.attname as c
       from pg_index i join pg_class t on t.oid = i.indrelid join pg_namespace ns on ns.oid = t.relnamespace
       join pg_attribute a on a.attrelid = t.oid and a.attnum = i.indkey[0]
      where ns.nspname = current_schema() and i.indisvalid and i.indpred is null`,
  );
  return new Set(rows.map((r) => `${r.t}.${r.c}`));
}

/** A key query of the pipeline, as EXPLAINed (constants only; the real statements' locking clauses left out). */
export interface KeyQuery {
  id: string;
  title: string;
  sql: string;
}

/** The queries every pipeline run depends on. */
export const KEY_QUERIES: readonly KeyQuery[] = Object.freeze([
  {
    id: 'assessment-claim',
    title: 'assessment claim (businesses by status)',
    sql: `select id from businesses where status = 'assessment_pending' and (claimed_until is null or claimed_until < now()) order by id limit 20`,
  },
  {
    id: 'pending-emails',
    title: 'delivery claim (pending emails)',
    sql: `select id from emails where status = 'pending' order by id limit 50`,
  },
  {
    id: 'ops-events-unposted',
    title: 'notifier claim (ops events not posted)',
    sql: `select id from ops_events where posted_at is null and attempts < 5 and (claimed_until is null or claimed_until < now()) order by id limit 20`,
  },
]);

/** A key query's plan in brief. */
export interface PlanSummary {
  id: string;
  /** Top plan node, e.g. `Limit`. */
  top: string;
  totalCost: number;
  /** Relations read by a Seq Scan anywhere in the plan. */
  seqScans: string[];
  /** Indexes the plan uses. */
  indexes: string[];
}

/** EXPLAIN (FORMAT JSON) of a key query, without ANALYZE: the plan only, nothing executed. */
export async function explainKeyQuery(em: EntityManager, q: KeyQuery): Promise<PlanSummary> {
  const rows = await em.execute<Record<string, unknown>[]>(`explain (format json) ${q.sql}`);
  let doc = rows[0]?.['QUERY PLAN'];
  if (typeof doc === 'string') doc = JSON.parse(doc);
  const plan = ((doc as { Plan: Record<string, unknown> }[])[0]?.Plan ?? {}) as Record<string, unknown>;
  return { id: q.id, top: String(plan['Node Type'] ?? '?'), totalCost: n(plan['Total Cost']), ...scanNodes(plan) };
}

/**
 * VACUUM (ANALYZE) one of our tables. Runs on the connection outside any transaction (VACUUM refuses a
 * transaction block), so `em` must not be inside `transactional`.
 * @throws AppError bad_request when `table` is not one of domain/ops/pg-limits.ts OWN_TABLES.
 */
export async function vacuumAnalyze(em: EntityManager, table: string): Promise<void> {
  if (!isOwnTable(table)) throw new AppError('bad_request', `vacuum: "${String(table)}" is not one of our tables (${OWN_TABLES.join(', ')})`);
  await em.execute(`vacuum (analyze) "${table}"`);
}

/** Invalid indexes (a failed concurrent build's leftover) named `name` in our schema. */
export async function invalidIndexCount(em: EntityManager, name: string): Promise<number> {
  const [row] = await em.execute<{ n: number }[]>(
    `select count(*)::int as n from pg_index i join pg_class c on c.oid = i.indexrelid join pg_namespace ns on ns.oid = c.relnamespace
      where ns.nspname = current_schema() and c.relname = ? and not i.indisvalid`,
    [name],
  );
  return n(row?.n);
}

/** An index build: its name and the (whitelisted) table and column it covers. */
export interface IndexTarget {
  name: string;
  table: string;
  column: string;
}

/** `DROP INDEX [CONCURRENTLY] IF EXISTS` of `name` (a whitelisted index name). Outside any transaction when concurrent. */
export async function dropIndex(em: EntityManager, name: string, concurrently: boolean): Promise<void> {
  await em.execute(concurrently ? `drop index concurrently if exists "${name}"` : `drop index if exists "${name}"`);
}

/**
 * `CREATE INDEX [CONCURRENTLY] IF NOT EXISTS "<name>" on "<table>" ("<column>")`. Outside any transaction when
 * concurrent. @throws driver errors (e.g. a server refusing CONCURRENTLY).
 */
export async function createIndex(em: EntityManager, t: IndexTarget, concurrently: boolean): Promise<void> {
  const target = `"${t.name}" on "${t.table}" ("${t.column}")`;
  await em.execute(concurrently ? `create index concurrently if not exists ${target}` : `create index if not exists ${target}`);
}

/** The server's `server_version_num` (e.g. 150019 for 15.19) read through the ORM; 0 when it cannot be read as a number. */
export async function serverVersionNumOf(em: EntityManager): Promise<number> {
  const [row] = await em.execute<{ v: string }[]>(SERVER_VERSION_NUM_SQL);
  return Number(row?.v ?? 0);
}
