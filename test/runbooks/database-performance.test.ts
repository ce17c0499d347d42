import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import {
  BLOAT_MIN_DEAD_TUPLES,
  LARGE_TABLE_ROWS,
  OWN_TABLES,
  SLOW_MEAN_PROBLEM_MS,
  createSuggestedIndex,
  isPglite,
  redactQuery,
  vacuumAnalyze,
  type ConnectionStats,
} from '../../domain/ops/pg-stats.js';
import type { Services } from '../../domain/services.js';
import type { RunbookContext } from '../../runbooks/context.js';
import { connectionsVerdict, runbook, statementsVerdict } from '../../runbooks/database-performance.js';
import { diagnose, runDiagnostic, type Diagnosis, type Finding } from '../../runbooks/define.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';

type Ctx = { db: Database; s: Services; rc: RunbookContext };
const test = suite<Ctx>(`runbook database-performance (${DB_KIND})`);

test.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.s = await testServices(ctx.db);
  ctx.rc = runbookContext(ctx.s);
  // autovacuum must not clean the dead rows a test makes before the diagnostic reads them
  await ctx.db.orm.em.getConnection().execute('alter table businesses set (autovacuum_enabled = false)');
});
test.after(async (ctx) => {
  await ctx.s?.close();
  await ctx.db?.close();
});
test.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  await ctx.db.orm.em.getConnection().execute('create index if not exists "businesses_status_index" on "businesses" ("status")');
});

/** Asserts that `fn` rejects with a message matching `re`. */
async function rejects(fn: () => Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await fn();
  } catch (err) {
    assert.match((err as Error).message, re);
    return;
  }
  assert.unreachable('expected a rejection');
}

const sql = (ctx: Ctx) => ctx.db.orm.em.getConnection();
const finding = (d: Diagnosis, id: string): Finding => {
  const r = d.results.find((x) => x.id === id);
  assert.ok(r, `no result for ${id}`);
  return r!.finding;
};
const causes = (d: Diagnosis) => d.rootCauses.map((c) => c.id);
const remediation = (id: string) => runbook.remediations.find((r) => r.id === id)!;
const rootCause = (id: string) => runbook.rootCauses.find((r) => r.id === id)!;

/** Inserts `count` businesses (`pending` of them assessment_pending, the rest new). */
async function seedBusinesses(ctx: Ctx, count: number, pending = 0): Promise<void> {
  await sql(ctx).execute(
    `insert into businesses (yelp_id, name, status, created_at, updated_at)
     select 'y-' || g, 'Biz ' || g, case when g <= ? then 'assessment_pending' else 'new' end, now(), now()
       from generate_series(1, ?) g`,
    [pending, count],
  );
}

/** Runs `stmts` in one transaction that forces its statistics to be flushed at commit (pg_stat lags otherwise). */
async function withFlushedStats(ctx: Ctx, stmts: string[]): Promise<void> {
  await ctx.db.orm.em.fork().transactional(async (em) => {
    for (const s of stmts) await em.execute(s);
    await em.execute('select pg_stat_force_next_flush()');
  });
}

/**
 * Makes every pooled connection flush its pending table counters now: PostgreSQL backends flush them at most once
 * a second, or after 10 s idle, so a late flush of an earlier TRUNCATE would reset the counts a test just made.
 */
async function flushAllPooledStats(ctx: Ctx, pool = 5): Promise<void> {
  await Promise.all(
    Array.from({ length: pool }, () =>
      ctx.db.orm.em.fork().transactional(async (em) => {
        await em.execute('select pg_stat_force_next_flush(), pg_sleep(0.05)');
      }),
    ),
  );
}

test('a small healthy database indicates no bloat, no missing index and no slow statements', async (ctx) => {
  await seedBusinesses(ctx, 30, 5);
  const d = await diagnose(runbook, ctx.rc);
  for (const r of d.results) assert.not.equal(r.finding.status, 'error', `${r.id}: ${r.finding.summary}`);
  const c = causes(d);
  for (const id of ['table-bloat', 'missing-index', 'slow-statements']) assert.not.ok(c.includes(id), `${id} indicated: ${JSON.stringify(d.results)}`);

  const top = finding(d, 'top-statements');
  assert.is(top.status, 'no_data');
  assert.match(top.summary, "shared_preload_libraries = 'pg_stat_statements'");
  assert.match(top.summary, 'CREATE EXTENSION pg_stat_statements');
  assert.match(top.summary, 'restart');

  const conn = finding(d, 'connections');
  assert.is(conn.evidence?.maxConnections, 100);
  assert.ok((conn.evidence?.total as number) >= 1);
  assert.ok(((conn.evidence?.byState as Record<string, number>).active ?? 0) >= 1, 'our own query is active');
  assert.is(conn.evidence?.poolMax, ctx.s.config.db.poolMax);
  // connection-saturation follows the finding (a shared test server may be busy with other suites)
  assert.is(c.includes('connection-saturation'), conn.status === 'warn' || conn.status === 'problem');

  const sizes = finding(d, 'table-sizes');
  assert.is(sizes.status, 'ok');
  const tables = sizes.evidence?.tables as { table: string; bytes: number }[];
  assert.ok(tables.length > 0);
  for (const t of tables) assert.ok(OWN_TABLES.includes(t.table), t.table);
  assert.ok(tables.find((t) => t.table === 'businesses')!.bytes > 0);

  assert.is(finding(d, 'vacuum-stats').status, 'ok');
  assert.is(finding(d, 'missing-indexes').status, 'ok');
  assert.equal(finding(d, 'missing-indexes').evidence?.missing, []);
  const plans = finding(d, 'key-query-plans');
  assert.is(plans.status, 'ok');
  assert.equal(
    (plans.evidence?.plans as { id: string }[]).map((p) => p.id),
    ['assessment-claim', 'pending-emails', 'ops-events-unposted'],
  );
  assert.is(finding(d, 'index-usage').status, 'ok');
});

test('many dead rows indicate table-bloat; vacuum-analyze clears them and the recheck reads ok', async (ctx) => {
  const n = 2 * BLOAT_MIN_DEAD_TUPLES;
  // earlier statements' counters may still wait in pooled backends, and a TRUNCATE's reset applies when its own
  // backend flushes: flush everything, then truncate and count from a known zero
  await flushAllPooledStats(ctx);
  await withFlushedStats(ctx, ['truncate businesses restart identity cascade']);
  await withFlushedStats(ctx, [
    `insert into businesses (yelp_id, name, created_at, updated_at) select 'y-' || g, 'Biz ' || g, now(), now() from generate_series(1, ${n}) g`,
  ]);
  await withFlushedStats(ctx, [`update businesses set name = name || ' (renamed)'`]);

  const d = await diagnose(runbook, ctx.rc);
  assert.ok(causes(d).includes('table-bloat'), JSON.stringify(finding(d, 'vacuum-stats')));
  const vs = finding(d, 'vacuum-stats');
  assert.is(vs.status, 'problem', JSON.stringify(vs.evidence)); // n dead of 2n = 50 %
  const bloated = vs.evidence?.bloated as { table: string; dead: number; live: number; deadRatio: number }[];
  assert.is(bloated[0]!.table, 'businesses');
  assert.is(bloated[0]!.dead, n);
  assert.is(bloated[0]!.live, n);
  assert.is(bloated[0]!.deadRatio, 0.5);
  assert.match(vs.summary, 'businesses');

  const rem = remediation('vacuum-analyze');
  const byId = Object.fromEntries(d.results.map((r) => [r.id, r.finding]));
  const input = rem.defaultInput!(byId);
  assert.equal(input, { table: 'businesses' });
  assert.is(rem.idempotencyKey(input), 'vacuum-analyze:businesses');
  const out = await rem.run(ctx.rc, input, 'test:U1');
  assert.match(out.summary, 'VACUUM (ANALYZE) of businesses');

  const [row] = await sql(ctx).execute<{ dead: string; vac: string | null; an: string | null }[]>(
    `select n_dead_tup as dead, last_vacuum as vac, last_analyze as an from pg_stat_user_tables where relname = 'businesses'`,
  );
  assert.is(Number(row!.dead), 0);
  assert.ok(row!.vac, 'last_vacuum set');
  assert.ok(row!.an, 'last_analyze set');
  const re = await runDiagnostic(runbook.diagnostics.find((x) => x.id === rem.recheck)!, ctx.rc);
  assert.is(re.finding.status, 'ok', re.finding.summary);
});

test('a dropped key index on a large table indicates missing-index; create-missing-index restores it', async (ctx) => {
  await sql(ctx).execute('drop index "businesses_status_index"');
  await seedBusinesses(ctx, LARGE_TABLE_ROWS + 2000, 20);
  await sql(ctx).execute('analyze businesses');

  const d = await diagnose(runbook, ctx.rc);
  assert.ok(causes(d).includes('missing-index'));
  const mi = finding(d, 'missing-indexes');
  assert.is(mi.status, 'problem');
  const missing = mi.evidence?.missing as { table: string; column: string; name: string; rows: number }[];
  assert.equal(missing.map((m) => `${m.table}.${m.column}`), ['businesses.status']);
  assert.is(missing[0]!.name, 'businesses_status_index');
  assert.ok(missing[0]!.rows >= LARGE_TABLE_ROWS);
  const plans = finding(d, 'key-query-plans');
  const claim = (plans.evidence?.plans as { id: string; seqScans: string[]; indexes: string[] }[]).find((p) => p.id === 'assessment-claim')!;
  assert.not.ok(claim.indexes.includes('businesses_status_index'));
  assert.equal(claim.seqScans, ['businesses']);
  assert.is(plans.status, 'warn');
  assert.equal(plans.evidence?.seqScansOnLargeTables, [{ query: 'assessment-claim', table: 'businesses', rows: missing[0]!.rows }]);

  const rem = remediation('create-missing-index');
  const byId = Object.fromEntries(d.results.map((r) => [r.id, r.finding]));
  const input = rem.defaultInput!(byId);
  assert.equal(input, { table: 'businesses', column: 'status' });
  assert.is(rem.idempotencyKey(input), 'create-index:businesses.status');
  const out = await rem.run(ctx.rc, input, 'test:U1');
  const pglite = await isPglite(ctx.db.orm.em.fork());
  assert.match(out.summary, pglite ? 'plain CREATE INDEX (embedded PGlite' : 'concurrently');

  const idx = await sql(ctx).execute<{ def: string }[]>(`select indexdef as def from pg_indexes where indexname = 'businesses_status_index'`);
  assert.is(idx.length, 1);
  assert.match(idx[0]!.def, '(status)');
  const re = await runDiagnostic(runbook.diagnostics.find((x) => x.id === rem.recheck)!, ctx.rc);
  assert.is(re.finding.status, 'ok', re.finding.summary);
  await sql(ctx).execute('analyze businesses');
  const after = await runDiagnostic(runbook.diagnostics.find((x) => x.id === 'key-query-plans')!, ctx.rc);
  assert.is(after.finding.status, 'ok', after.finding.summary);

  const again = await createSuggestedIndex(ctx.db.orm.em.fork(), 'businesses', 'status');
  assert.is(again.created, false);
});

test('remediation inputs are whitelisted: only our tables, only suggested indexes', async (ctx) => {
  const vac = remediation('vacuum-analyze').inputSchema!;
  assert.ok(vac.safeParse({ table: 'emails' }).success);
  for (const table of ['pg_class', 'businesses; drop table emails', '"businesses"', 'mikro_orm_migrations', '']) {
    assert.not.ok(vac.safeParse({ table }).success, table);
  }
  const idx = remediation('create-missing-index').inputSchema!;
  assert.ok(idx.safeParse({ table: 'ops_events', column: 'posted_at' }).success);
  assert.not.ok(idx.safeParse({ table: 'businesses', column: 'name' }).success);
  assert.not.ok(idx.safeParse({ table: 'businesses', column: 'status); drop table emails; --' }).success);

  const em = ctx.db.orm.em.fork();
  await rejects(() => vacuumAnalyze(em, 'pg_class'), /not one of our tables/);
  await rejects(() => createSuggestedIndex(em, 'businesses', 'name'), /no suggested index/);
  await rejects(() => remediation('vacuum-analyze').run(ctx.rc, { table: 'pg_class' }, 'test:U1'), /table must be one of ours/);
  assert.is(remediation('vacuum-analyze').requiredRole, 'operator');
  assert.is(remediation('create-missing-index').risk, 'write');
});

test('slow statements and connection saturation are judged from the numbers', () => {
  const stmt = (meanMs: number, calls: number) => ({ queryid: '1', calls, totalMs: meanMs * calls, meanMs, rows: 1, query: 'select $1' });
  assert.is(statementsVerdict([stmt(5, 1000)]).status, 'ok');
  assert.is(statementsVerdict([stmt(5000, 2)]).status, 'ok'); // too few calls
  assert.is(statementsVerdict([stmt(300, 10)]).status, 'warn');
  assert.is(statementsVerdict([stmt(SLOW_MEAN_PROBLEM_MS, 10), stmt(5, 10)]).slow.length, 1);
  assert.is(statementsVerdict([stmt(SLOW_MEAN_PROBLEM_MS, 10)]).status, 'problem');

  const conns = (total: number, extra: Partial<ConnectionStats> = {}): ConnectionStats => ({
    total,
    byState: { active: total },
    maxConnections: 100,
    usedRatio: total / 100,
    longRunning: [],
    idleInTransaction: [],
    ...extra,
  });
  assert.is(connectionsVerdict(conns(10)), 'ok');
  assert.is(connectionsVerdict(conns(80)), 'warn');
  assert.is(connectionsVerdict(conns(95)), 'problem');
  assert.is(connectionsVerdict(conns(5, { idleInTransaction: [{ pid: 1, state: 'idle in transaction', seconds: 300, query: 'begin' }] })), 'warn');

  const f = (status: Finding['status'], evidence: Record<string, unknown> = {}): Finding => ({ status, summary: '', evidence });
  assert.ok(rootCause('connection-saturation').indicatedBy({ connections: f('problem', { saturated: true }) }));
  assert.not.ok(rootCause('connection-saturation').indicatedBy({ connections: f('ok', { saturated: false }) }));
  assert.ok(rootCause('slow-statements').indicatedBy({ 'top-statements': f('warn') }));
  assert.ok(rootCause('slow-statements').indicatedBy({ 'top-statements': f('no_data'), connections: f('warn', { longRunning: [{ pid: 1 }] }) }));
  assert.not.ok(rootCause('slow-statements').indicatedBy({ 'top-statements': f('no_data'), connections: f('ok', { longRunning: [] }) }));
  assert.is(redactQuery("select * from emails where to_address = 'a@b.c'  and id = 1"), "select * from emails where to_address = '…' and id = 1");
});

test.run();
