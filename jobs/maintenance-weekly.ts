/**
 * Job: weekly maintenance (Sunday 03:00 UTC). VACUUM (ANALYZE) of every one of our tables (domain/ops/pg-stats.ts
 * `vacuumAnalyze`: only names from OWN_TABLES, never input), then an index usage report: indexes never scanned
 * since the statistics were reset (unique/primary keys left out: they enforce constraints), and seq-scan-heavy
 * tables (at least SEQ_SCAN_HEAVY_MIN seq scans, more than index scans, at least LARGE_TABLE_ROWS rows). Records
 * `maintenance.weekly` (info; warning when a VACUUM failed) with the report, once per day. First it deletes finished
 * delivery rows past their retention (domain/ops/retention.ts: processed webhook deliveries and sent Slack outbox
 * rows after 30 days, posted ops events after 120), so the VACUUM reclaims their space.
 *
 * Runs in a worker with a one-connection pool (VACUUM may take minutes on a large database).
 */
import { recordOpsEvent } from '../domain/events.js';
import { indexUsage, LARGE_TABLE_ROWS, SEQ_SCAN_HEAVY_MIN, tableSizes, vacuumAnalyze } from '../domain/ops/pg-stats.js';
import { pruneFinishedRows, type RetentionResult } from '../domain/ops/retention.js';
import type { JobContext } from './job-types.js';
import { dayStamp } from './job-context.js';

/** The catalog entry the lead adds to jobs/catalog.ts (cron in UTC). */
export const MAINTENANCE_WEEKLY_JOB = {
  name: 'maintenance-weekly',
  file: 'maintenance-weekly',
  cron: '0 3 * * 0',
  timeoutMs: 60 * 60 * 1000,
  why: 'Sunday 03:00 UTC: VACUUM ANALYZE of our tables and an index usage report (unused indexes, seq-scan-heavy tables) (maintenance: weekly).',
} as const;

/** What one run did. */
export interface MaintenanceWeeklySummary {
  status: 'done' | 'partial';
  vacuumed: string[];
  failed: { table: string; error: string }[];
  durationMs: number;
  /** Finished rows deleted by retention, per table. */
  pruned: RetentionResult;
  unusedIndexes: { table: string; index: string; bytes: number }[];
  seqScanHeavy: { table: string; seqScans: number; idxScans: number; rows: number }[];
  posted: boolean;
}

/** One run at the context's instant, on its database. */
export default async function maintenanceWeekly(ctx: JobContext): Promise<MaintenanceWeeklySummary> {
  const { em, logger, now, report } = ctx;
  const t0 = performance.now();
  const pruned = await pruneFinishedRows(em(), now);
  const tables = (await tableSizes(em())).map((t) => t.table).sort();
  const vacuumed: string[] = [];
  const failed: MaintenanceWeeklySummary['failed'] = [];
  for (const table of tables) {
    try {
      await vacuumAnalyze(em(), table);
      vacuumed.push(table);
    } catch (err) {
      failed.push({ table, error: String((err as Error)?.message ?? err).slice(0, 200) });
    }
    report({ kind: 'progress', stage: 'vacuum', n: vacuumed.length });
  }
  const durationMs = Math.round(performance.now() - t0);
  logger.info({ vacuumed: vacuumed.length, failed: failed.length, durationMs }, 'weekly vacuum analyze done');

  const usage = await indexUsage(em());
  const unusedIndexes = usage.indexes.filter((i) => i.scans === 0 && !i.unique).map((i) => ({ table: i.table, index: i.index, bytes: i.bytes }));
  const seqScanHeavy = usage.tables.filter((t) => t.seqScans >= SEQ_SCAN_HEAVY_MIN && t.seqScans > t.idxScans && t.rows >= LARGE_TABLE_ROWS);
  const status = failed.length ? 'partial' : 'done';
  const posted = await recordOpsEvent(
    em(),
    {
      type: 'maintenance.weekly',
      severity: failed.length ? 'warning' : 'info',
      dedupKey: `maintenance.weekly:${dayStamp(now)}`,
      payload: { vacuumed: vacuumed.length, failed, durationMs, pruned, unusedIndexes: unusedIndexes.slice(0, 20), unusedCount: unusedIndexes.length, seqScanHeavy: seqScanHeavy.slice(0, 20) },
    },
    now,
  );
  return { status, vacuumed, failed, durationMs, pruned, unusedIndexes, seqScanHeavy, posted };
}
