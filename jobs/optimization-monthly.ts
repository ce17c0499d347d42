/**
 * Job: the monthly optimisation report (1st of the month, 05:00 UTC): every table's size (bytes with indexes and
 * TOAST, row estimate) and its growth since the last report, whose sizes are kept in the setting
 * `maintenance.table_sizes`. Records `maintenance.monthly` (info) with the report, then stores the new sizes.
 * Read-only apart from that setting; a worker with a one-connection pool.
 */
import { recordOpsEvent } from '../domain/events.js';
import { tableSizes } from '../domain/ops/pg-stats.js';
import { getSetting, setSetting } from '../domain/settings.js';
import type { JobContext } from './job-types.js';
import { dayStamp } from './job-context.js';

/** The catalog entry the lead adds to jobs/catalog.ts (cron in UTC). */
export const OPTIMIZATION_MONTHLY_JOB = {
  name: 'optimization-monthly',
  file: 'optimization-monthly',
  cron: '0 5 1 * *',
  timeoutMs: 10 * 60 * 1000,
  why: '1st of the month 05:00 UTC: table sizes and their growth since the last report (maintenance: monthly optimisation).',
} as const;

/** Setting with the sizes of the last report. */
export const TABLE_SIZES_SETTING = 'maintenance.table_sizes';

/** What the setting holds. */
export interface StoredTableSizes {
  at: string;
  tables: Record<string, { bytes: number; rows: number }>;
}

/** One table's size and growth (null growth: no earlier size). */
export interface TableGrowth {
  table: string;
  bytes: number;
  rows: number;
  bytesDelta: number | null;
  rowsDelta: number | null;
  /** Growth of bytes in percent (1 decimal); null when there was no earlier size or it was 0. */
  bytesPct: number | null;
}

/** What one run did. */
export interface OptimizationMonthlySummary {
  status: 'first' | 'compared';
  since: string | null;
  totalBytes: number;
  totalBytesDelta: number | null;
  tables: TableGrowth[];
  posted: boolean;
}

/** Growth of `current` against `previous` (pure), largest first. */
export function tableGrowth(current: { table: string; bytes: number; rows: number }[], previous: StoredTableSizes['tables'] | undefined): TableGrowth[] {
  return current
    .map((t) => {
      const p = previous?.[t.table];
      return {
        table: t.table,
        bytes: t.bytes,
        rows: t.rows,
        bytesDelta: p ? t.bytes - p.bytes : null,
        rowsDelta: p ? t.rows - p.rows : null,
        bytesPct: p && p.bytes > 0 ? Math.round(((t.bytes - p.bytes) / p.bytes) * 1000) / 10 : null,
      };
    })
    .sort((a, b) => b.bytes - a.bytes || a.table.localeCompare(b.table));
}

/** One run at the context's instant, on its database. */
export default async function optimizationMonthly(ctx: JobContext): Promise<OptimizationMonthlySummary> {
  const { em, now, report } = ctx;
  const current = await tableSizes(em());
  report({ kind: 'progress', stage: 'sizes', n: current.length });
  const previous = await getSetting<StoredTableSizes>(em(), TABLE_SIZES_SETTING);
  const tables = tableGrowth(current, previous?.tables);
  const totalBytes = tables.reduce((s, t) => s + t.bytes, 0);
  const totalBytesDelta = previous ? tables.reduce((s, t) => s + (t.bytesDelta ?? t.bytes), 0) : null;
  const since = previous?.at ?? null;
  const byGrowth = [...tables].filter((t) => t.bytesDelta !== null).sort((a, b) => b.bytesDelta! - a.bytesDelta!);
  const posted = await recordOpsEvent(
    em(),
    {
      type: 'maintenance.monthly',
      severity: 'info',
      dedupKey: `maintenance.monthly:${dayStamp(now)}`,
      payload: { since, totalBytes, totalBytesDelta, largest: tables.slice(0, 10), fastestGrowing: byGrowth.slice(0, 5), tableCount: tables.length },
    },
    now,
  );
  const stored: StoredTableSizes = { at: now.toISOString(), tables: Object.fromEntries(current.map((t) => [t.table, { bytes: t.bytes, rows: t.rows }])) };
  await setSetting(em(), TABLE_SIZES_SETTING, stored, 'system:optimization-monthly', now);
  return { status: previous ? 'compared' : 'first', since, totalBytes, totalBytesDelta, tables, posted };
}
