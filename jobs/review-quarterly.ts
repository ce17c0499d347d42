/**
 * Job: the quarterly review post (1 Jan/Apr/Jul/Oct, 09:00 UTC) over the quarter that just ended (the last full
 * calendar quarter before the run): incidents declared by severity and the mean time to acknowledge (incidents
 * table: acknowledged_at - declared_at, overall and per severity), alerts fired by name (alerts that started
 * firing in the quarter), job runs by status (job_runs), and provider spend (api_calls cost_usd by provider).
 * Records `review.quarterly` (info), once per quarter. Read-only; a worker with a one-connection pool.
 */
import { recordOpsEvent } from '../domain/events.js';
import type { JobContext } from './job-types.js';
import { spendByProviderBetween } from '../domain/queries/costs.js';
import { alertsFiredByName, incidentAckStatsBySeverity } from '../domain/queries/quarterly-review.js';
import { runCountsByStatus } from '../domain/queries/runs.js';

/** The catalog entry the lead adds to jobs/catalog.ts (cron in UTC). */
export const REVIEW_QUARTERLY_JOB = {
  name: 'review-quarterly',
  file: 'review-quarterly',
  cron: '0 9 1 1,4,7,10 *',
  timeoutMs: 10 * 60 * 1000,
  why: 'Quarterly review post: incidents by severity and mean time to acknowledge, alerts fired, job runs by status, provider spend (maintenance: quarterly).',
} as const;

/** The last full calendar quarter (UTC) before `now`: [start, end) and its label, e.g. `2026-Q4`. */
export function previousQuarter(now: Date): { start: Date; end: Date; label: string } {
  const q = Math.floor(now.getUTCMonth() / 3); // current quarter 0–3
  const end = new Date(Date.UTC(now.getUTCFullYear(), q * 3, 1));
  const start = new Date(Date.UTC(end.getUTCFullYear(), end.getUTCMonth() - 3, 1));
  return { start, end, label: `${start.getUTCFullYear()}-Q${Math.floor(start.getUTCMonth() / 3) + 1}` };
}

/** What one run computed. Times in minutes (1 decimal); spend in USD (2 decimals). */
export interface QuarterlyReview {
  status: 'done';
  quarter: string;
  from: string;
  to: string;
  incidents: { total: number; bySeverity: Record<string, number>; acknowledged: number; mttaMinutes: number | null; mttaBySeverity: Record<string, number | null> };
  alertsFired: Record<string, number>;
  jobRuns: Record<string, number>;
  spendUsd: Record<string, number>;
  totalSpendUsd: number;
  posted: boolean;
}

const round = (v: number, d: number): number => Math.round(v * 10 ** d) / 10 ** d;

/** One run at the context's instant, on its database. */
export default async function reviewQuarterly(ctx: JobContext): Promise<QuarterlyReview> {
  const { em, now, report } = ctx;
  const { start, end, label } = previousQuarter(now);
  const inc = await incidentAckStatsBySeverity(em(), start, end);
  const alertsFired = await alertsFiredByName(em(), start, end);
  const jobRuns = await runCountsByStatus(em(), start, end);
  const spend = await spendByProviderBetween(em(), start, end);
  report({ kind: 'progress', stage: 'queries', n: 4 });

  const acknowledged = inc.reduce((s, r) => s + r.acknowledged, 0);
  const sumS = inc.reduce((s, r) => s + r.sumAckSeconds, 0);
  const incidents = {
    total: inc.reduce((s, r) => s + r.count, 0),
    bySeverity: Object.fromEntries(inc.map((r) => [r.severity, r.count])),
    acknowledged,
    mttaMinutes: acknowledged ? round(sumS / acknowledged / 60, 1) : null,
    mttaBySeverity: Object.fromEntries(inc.map((r) => [r.severity, r.mttaSeconds === null ? null : round(r.mttaSeconds / 60, 1)])),
  };
  const spendUsd = Object.fromEntries(spend.map((r) => [r.provider, round(r.costUsd, 2)]));
  const review = {
    quarter: label,
    from: start.toISOString(),
    to: end.toISOString(),
    incidents,
    alertsFired,
    jobRuns,
    spendUsd,
    totalSpendUsd: round(spend.reduce((s, r) => s + r.costUsd, 0), 2),
  };
  const posted = await recordOpsEvent(em(), { type: 'review.quarterly', severity: 'info', dedupKey: `review.quarterly:${label}`, payload: review }, now);
  return { status: 'done', ...review, posted };
}
