/**
 * Runbook "Database performance" (troubleshooting guide playbook 5: pg_stat_statements top queries, active
 * connections, table sizes, missing indexes, VACUUM ANALYZE).
 *
 * Diagnostics (read-only; all work on PostgreSQL 15 and on the embedded PGlite, where a missing view or extension
 * is `no_data`): top statements, connections, table sizes, dead tuples and vacuum/analyze times, index usage,
 * the indexes our key queries need, and EXPLAIN plans of the key queries (no ANALYZE: nothing is executed).
 *
 * Remediations: VACUUM (ANALYZE) one of our tables; create a missing suggested index (CONCURRENTLY on PostgreSQL).
 * Both take names only from whitelists (domain/ops/pg-stats.ts).
 */
import { z } from 'zod';
import {
  BLOAT_PROBLEM_RATIO,
  CONNECTIONS_PROBLEM_RATIO,
  CONNECTIONS_WARN_RATIO,
  KEY_QUERIES,
  LARGE_TABLE_ROWS,
  OWN_TABLES,
  PG_STAT_STATEMENTS_HOWTO,
  SEQ_SCAN_HEAVY_MIN,
  SLOW_MEAN_PROBLEM_MS,
  SLOW_MEAN_WARN_MS,
  SLOW_MIN_CALLS,
  SUGGESTED_INDEXES,
  connectionStats,
  createSuggestedIndex,
  explainKeyQuery,
  findSuggestedIndex,
  hasStaleStats,
  indexUsage,
  isBloated,
  isOwnTable,
  missingIndexes,
  tableRows,
  tableSizes,
  topStatements,
  vacuumAnalyze,
  vacuumStats,
  type ConnectionStats,
  type StatementStat,
} from '../domain/ops/pg-stats.js';
import type { RunbookContext } from './context.js';
import { defineRunbook, evidenceOf, type Finding, type FindingStatus } from './define.js';

const bad = (f: Finding | undefined) => f?.status === 'warn' || f?.status === 'problem';
const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
const pct = (r: number) => Math.round(r * 100);

/** A view or function missing on this server (PGlite builds): the diagnostic reports no_data, not error. */
function missingObject(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return code === '42P01' || code === '42883' || /does not exist/i.test((err as Error)?.message ?? '');
}

/** Runs `fn`; a missing view/function becomes a no_data finding naming what was missing. */
async function orNoData(what: string, fn: () => Promise<Finding>): Promise<Finding> {
  try {
    return await fn();
  } catch (err) {
    if (missingObject(err)) return { status: 'no_data', summary: `${what} is not available on this server: ${(err as Error).message}.` };
    throw err;
  }
}

/** The verdict on pg_stat_statements' top statements: the slowest mean among statements called often enough. */
export function statementsVerdict(statements: StatementStat[]): { status: FindingStatus; slow: StatementStat[] } {
  const slow = statements.filter((s) => s.calls >= SLOW_MIN_CALLS && s.meanMs >= SLOW_MEAN_WARN_MS);
  const status: FindingStatus = slow.some((s) => s.meanMs >= SLOW_MEAN_PROBLEM_MS) ? 'problem' : slow.length ? 'warn' : 'ok';
  return { status, slow };
}

/** The verdict on connections: saturation by ratio; long-running queries and stale idle transactions warn. */
export function connectionsVerdict(c: ConnectionStats): FindingStatus {
  if (c.usedRatio >= CONNECTIONS_PROBLEM_RATIO) return 'problem';
  if (c.usedRatio >= CONNECTIONS_WARN_RATIO || c.longRunning.length > 0 || c.idleInTransaction.length > 0) return 'warn';
  return 'ok';
}

async function topStatementsDiag(ctx: RunbookContext): Promise<Finding> {
  const top = await topStatements(ctx.em(), 5);
  if (!top.available) {
    return {
      status: 'no_data',
      summary: `No statement statistics: ${top.reason}; to enable it, ${PG_STAT_STATEMENTS_HOWTO}.`,
      evidence: { installed: false, reason: top.reason },
    };
  }
  const { status, slow } = statementsVerdict(top.statements);
  const first = top.statements[0];
  return {
    status,
    summary: first
      ? `${slow.length} slow statement(s) (mean ≥ ${SLOW_MEAN_WARN_MS} ms over ≥ ${SLOW_MIN_CALLS} calls); the top statement took ${first.totalMs} ms in total over ${first.calls} calls (mean ${first.meanMs} ms).`
      : 'pg_stat_statements has no statements for this database yet.',
    evidence: { installed: true, slow: slow.length, statements: top.statements },
  };
}

async function connectionsDiag(ctx: RunbookContext): Promise<Finding> {
  return orNoData('pg_stat_activity', async () => {
    const c = await connectionStats(ctx.em());
    const status = connectionsVerdict(c);
    const parts = [`${c.total} of ${c.maxConnections} connections in use (${pct(c.usedRatio)}%)`];
    if (c.longRunning.length) parts.push(`${c.longRunning.length} query(ies) running over ${Math.round(c.longRunning[0]!.seconds / 60)} min`);
    if (c.idleInTransaction.length) parts.push(`${c.idleInTransaction.length} session(s) idle in a transaction`);
    return {
      status,
      summary: `${parts.join('; ')}; this service's pool allows ${ctx.services.config.db.poolMax}.`,
      evidence: {
        total: c.total,
        maxConnections: c.maxConnections,
        usedRatio: c.usedRatio,
        byState: c.byState,
        poolMax: ctx.services.config.db.poolMax,
        saturated: c.usedRatio >= CONNECTIONS_WARN_RATIO,
        longRunning: c.longRunning.slice(0, 5),
        idleInTransaction: c.idleInTransaction.slice(0, 5),
      },
    };
  });
}

async function tableSizesDiag(ctx: RunbookContext): Promise<Finding> {
  const sizes = await tableSizes(ctx.em());
  if (sizes.length === 0) return { status: 'no_data', summary: 'None of our tables were found in the current schema.' };
  const totalBytes = sizes.reduce((s, t) => s + t.bytes, 0);
  const big = sizes[0]!;
  return {
    status: 'ok',
    summary: `Our ${sizes.length} tables take ${mib(totalBytes)} MiB; the largest is ${big.table} (${mib(big.bytes)} MiB, ~${big.rows} rows).`,
    evidence: { totalBytes, tables: sizes.slice(0, 8).map((t) => ({ table: t.table, bytes: t.bytes, rows: t.rows })) },
  };
}

async function vacuumStatsDiag(ctx: RunbookContext): Promise<Finding> {
  return orNoData('pg_stat_user_tables', async () => {
    const stats = await vacuumStats(ctx.em());
    if (stats.length === 0) return { status: 'no_data', summary: 'No table statistics for our tables (pg_stat_user_tables is empty).' };
    const bloated = stats.filter(isBloated);
    const stale = stats.filter(hasStaleStats);
    const status: FindingStatus = bloated.some((b) => b.deadRatio >= BLOAT_PROBLEM_RATIO) ? 'problem' : bloated.length || stale.length ? 'warn' : 'ok';
    const worst = stats[0]!;
    const summary =
      bloated.length || stale.length
        ? `${bloated.length} bloated table(s)${bloated.length ? ` (worst: ${bloated[0]!.table}, ${bloated[0]!.dead} dead rows = ${pct(bloated[0]!.deadRatio)}%)` : ''} and ${stale.length} with stale statistics; VACUUM ANALYZE them.`
        : `No bloat: the most dead rows are ${worst.dead} in ${worst.table} (${pct(worst.deadRatio)}%).`;
    const brief = (v: (typeof stats)[number]) => ({
      table: v.table,
      live: v.live,
      dead: v.dead,
      deadRatio: v.deadRatio,
      lastAutovacuum: v.lastAutovacuum,
      lastVacuum: v.lastVacuum,
      lastAnalyze: v.lastAnalyze ?? v.lastAutoanalyze,
      modifiedSinceAnalyze: v.modifiedSinceAnalyze,
    });
    return {
      status,
      summary,
      evidence: {
        bloated: bloated.map(brief),
        staleStats: stale.map(brief),
        mostDead: brief(worst),
        autovacuumEverRan: stats.some((s) => s.lastAutovacuum !== null),
      },
    };
  });
}

async function indexUsageDiag(ctx: RunbookContext): Promise<Finding> {
  return orNoData('pg_stat_user_indexes', async () => {
    const { indexes, tables } = await indexUsage(ctx.em());
    if (indexes.length === 0 && tables.length === 0) return { status: 'no_data', summary: 'No index statistics for our tables.' };
    const rowsOf = new Map(tables.map((t) => [t.table, t.rows]));
    const unused = indexes.filter((i) => i.scans === 0 && !i.unique && (rowsOf.get(i.table) ?? 0) >= LARGE_TABLE_ROWS);
    const seqHeavy = tables.filter((t) => t.seqScans >= SEQ_SCAN_HEAVY_MIN && t.seqScans > t.idxScans && t.rows >= LARGE_TABLE_ROWS);
    return {
      status: seqHeavy.length ? 'warn' : 'ok',
      summary: `${seqHeavy.length} large table(s) read mostly by seq scans${seqHeavy.length ? ` (${seqHeavy.map((t) => `${t.table}: ${t.seqScans} seq vs ${t.idxScans} index scans`).join(', ')})` : ''}; ${unused.length} unused index(es) on large tables.`,
      evidence: {
        seqScanHeavy: seqHeavy.slice(0, 5),
        unusedIndexes: unused.slice(0, 10).map((i) => ({ table: i.table, index: i.index, bytes: i.bytes })),
        indexes: indexes.length,
      },
    };
  });
}

async function missingIndexesDiag(ctx: RunbookContext): Promise<Finding> {
  const missing = await missingIndexes(ctx.em());
  if (missing.length === 0) {
    return { status: 'ok', summary: `All ${SUGGESTED_INDEXES.length} indexes the key queries need exist.`, evidence: { missing: [] } };
  }
  const large = missing.some((m) => m.rows >= LARGE_TABLE_ROWS);
  return {
    status: large ? 'problem' : 'warn',
    summary: `${missing.length} index(es) the key queries need are missing: ${missing.map((m) => `${m.table}.${m.column} (~${m.rows} rows; ${m.why})`).join(', ')}.`,
    evidence: { missing: missing.map((m) => ({ table: m.table, column: m.column, name: m.name, rows: m.rows })) },
  };
}

async function keyQueryPlansDiag(ctx: RunbookContext): Promise<Finding> {
  const em = ctx.em();
  const rows = await tableRows(em);
  const plans = [];
  for (const q of KEY_QUERIES) plans.push({ ...(await explainKeyQuery(em, q)), title: q.title });
  const slow = plans.flatMap((p) =>
    p.seqScans.filter((t) => (rows.get(t) ?? 0) >= LARGE_TABLE_ROWS).map((t) => ({ query: p.id, table: t, rows: rows.get(t) ?? 0 })),
  );
  return {
    status: slow.length ? 'warn' : 'ok',
    summary: slow.length
      ? `${slow.length} key query plan(s) scan a large table sequentially: ${slow.map((s) => `${s.query} on ${s.table} (~${s.rows} rows)`).join(', ')}.`
      : `The ${plans.length} key queries plan without a Seq Scan on a large table (≥ ${LARGE_TABLE_ROWS} rows).`,
    evidence: {
      seqScansOnLargeTables: slow,
      plans: plans.map((p) => ({ id: p.id, top: p.top, totalCost: p.totalCost, seqScans: p.seqScans, indexes: p.indexes })),
    },
  };
}

const vacuumInput = z.object({
  table: z.string().refine(isOwnTable, { message: `table must be one of ours: ${OWN_TABLES.join(', ')}` }),
});

const indexInput = z
  .object({ table: z.string(), column: z.string() })
  .refine((v) => findSuggestedIndex(v.table, v.column) !== undefined, {
    message: `(table, column) must be a suggested index: ${SUGGESTED_INDEXES.map((s) => `${s.table}.${s.column}`).join(', ')}`,
  });

/** The runbook. */
export const runbook = defineRunbook<RunbookContext>({
  id: 'database-performance',
  title: 'Database performance',
  symptoms: [
    'database is slow',
    'slow queries',
    'queries take long',
    'too many connections',
    'connection pool exhausted',
    'postgres high cpu',
    'table bloat',
    'dead tuples',
    'vacuum',
    'missing index',
    'seq scan',
    'pipeline slow on database',
    'db performance',
  ],
  diagnostics: [
    {
      id: 'top-statements',
      title: 'Top statements (pg_stat_statements)',
      run: topStatementsDiag,
    },
    { id: 'connections', title: 'Active connections', run: connectionsDiag },
    { id: 'table-sizes', title: 'Table sizes', run: tableSizesDiag },
    { id: 'vacuum-stats', title: 'Dead rows and vacuum/analyze', run: vacuumStatsDiag },
    { id: 'index-usage', title: 'Index usage', run: indexUsageDiag },
    { id: 'missing-indexes', title: 'Indexes the key queries need', run: missingIndexesDiag },
    { id: 'key-query-plans', title: 'Key query plans (EXPLAIN)', run: keyQueryPlansDiag },
  ],
  rootCauses: [
    {
      id: 'connection-saturation',
      title:
        'Database connections are nearly used up or held by long-running or idle-in-transaction sessions: lower DB_POOL_MAX across replicas or end the stuck sessions (pg_terminate_backend).',
      indicatedBy: (f) => evidenceOf(f, 'connections').saturated === true || bad(f.connections),
      remediations: [],
    },
    {
      id: 'table-bloat',
      title: 'Tables carry many dead rows (or stale planner statistics): autovacuum is not keeping up; VACUUM ANALYZE them.',
      indicatedBy: (f) => bad(f['vacuum-stats']),
      remediations: ['vacuum-analyze'],
    },
    {
      id: 'missing-index',
      title: 'An index the key queries need is missing, so they scan whole tables: create it.',
      indicatedBy: (f) => bad(f['missing-indexes']) || bad(f['key-query-plans']) || bad(f['index-usage']),
      remediations: ['create-missing-index'],
    },
    {
      id: 'slow-statements',
      title: 'Some statements are slow on average or run for minutes: look at their plans, indexes and table bloat.',
      indicatedBy: (f) => bad(f['top-statements']) || ((evidenceOf(f, 'connections').longRunning as unknown[] | undefined)?.length ?? 0) > 0,
      remediations: ['create-missing-index', 'vacuum-analyze'],
    },
  ],
  remediations: [
    {
      id: 'vacuum-analyze',
      title: 'VACUUM ANALYZE a table',
      risk: 'write',
      requiredRole: 'operator',
      confirmation: 'Run VACUUM (ANALYZE) on the table? It reclaims dead rows and refreshes planner statistics; reads and writes continue.',
      idempotencyKey: (input) => `vacuum-analyze:${String(input.table)}`,
      recheck: 'vacuum-stats',
      inputSchema: vacuumInput,
      defaultInput: (f) => {
        const e = evidenceOf(f, 'vacuum-stats');
        const first = ((e.bloated as { table: string }[] | undefined) ?? [])[0] ?? ((e.staleStats as { table: string }[] | undefined) ?? [])[0];
        const table = first?.table ?? (e.mostDead as { table?: string } | undefined)?.table ?? 'businesses';
        return { table };
      },
      async run(ctx, input, actor) {
        const { table } = vacuumInput.parse(input);
        const t0 = performance.now();
        await vacuumAnalyze(ctx.em(), table);
        const ms = Math.round(performance.now() - t0);
        ctx.services.logger.info({ table, actor, ms }, 'vacuum analyze done');
        return { summary: `VACUUM (ANALYZE) of ${table} done in ${ms} ms.` };
      },
    },
    {
      id: 'create-missing-index',
      title: 'Create a missing index',
      risk: 'write',
      requiredRole: 'operator',
      confirmation:
        'Create the missing index (CREATE INDEX CONCURRENTLY on PostgreSQL, so writes continue; a plain CREATE INDEX on the embedded database)?',
      idempotencyKey: (input) => `create-index:${String(input.table)}.${String(input.column)}`,
      recheck: 'missing-indexes',
      inputSchema: indexInput,
      defaultInput: (f) => {
        const m = ((evidenceOf(f, 'missing-indexes').missing as { table: string; column: string }[] | undefined) ?? [])[0];
        if (m) return { table: m.table, column: m.column };
        const scan = ((evidenceOf(f, 'key-query-plans').seqScansOnLargeTables as { table: string }[] | undefined) ?? [])[0];
        const s = SUGGESTED_INDEXES.find((x) => x.table === scan?.table) ?? SUGGESTED_INDEXES[0]!;
        return { table: s.table, column: s.column };
      },
      async run(ctx, input, actor) {
        const { table, column } = indexInput.parse(input);
        const r = await createSuggestedIndex(ctx.em(), table, column);
        ctx.services.logger.info({ table, column, index: r.name, created: r.created, concurrently: r.concurrently, actor }, 'create missing index');
        return { summary: `${table}.${column}: ${r.detail}.` };
      },
    },
  ],
});
