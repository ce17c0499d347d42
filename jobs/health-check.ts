/**
 * Job: the 60-second health check (troubleshooting guide, prevention: health checks every 60 s). Runs the
 * quick-diagnostics runbook's `health`, `database` and `integrations` diagnostics (read-only) on the service's
 * own runbook context, stores the outcome in the setting `health.last` ({at, status, diagnostics: {id: status}})
 * and records the ops event `health.changed` ONLY when the overall status differs from the stored one: severity
 * warning when it got worse, info when it recovered (or on the first check when healthy). Dedup key
 * `health.changed:<from>-><to>:<minute>`, so two replicas or a re-run in the same minute post once.
 *
 * In-process only (catalog `inProcess: true`): it needs the main process's runbook context (providers, breaker
 * state, probes) and is too frequent to start a worker for.
 */
import { recordOpsEvent } from '../domain/events.js';
import { getSetting, setSetting } from '../domain/settings.js';
import { runDiagnostic, type FindingStatus } from '../runbooks/define.js';
import { runbook as quickDiagnostics } from '../runbooks/quick-diagnostics.js';
import type { JobContext } from './job-types.js';
import { minuteStamp, requireRunbooks } from './job-context.js';

/** The catalog entry the lead adds to jobs/catalog.ts (every minute; `everyCron(60_000)` is equivalent). */
export const HEALTH_CHECK_JOB = {
  name: 'health-check',
  file: 'health-check',
  cron: '* * * * *',
  timeoutMs: 30_000,
  why: 'Health check every 60 s (service, database, provider integrations); stored, posted only when the status changes (prevention: health checks).',
  inProcess: true,
} as const;

/** Setting holding the last check. */
export const HEALTH_LAST_SETTING = 'health.last';
/** The diagnostics of the quick-diagnostics runbook the check runs. */
export const HEALTH_DIAGNOSTICS = ['health', 'database', 'integrations'] as const;

/** Overall status of a check, best to worst. */
export type HealthStatus = 'ok' | 'warn' | 'problem';
const RANK: Record<HealthStatus, number> = { ok: 0, warn: 1, problem: 2 };

/** A finding's weight in the overall status: a diagnostic that failed or timed out counts as a problem. */
export function overallOf(statuses: FindingStatus[]): HealthStatus {
  let worst: HealthStatus = 'ok';
  for (const s of statuses) {
    const h: HealthStatus = s === 'problem' || s === 'error' ? 'problem' : s === 'warn' ? 'warn' : 'ok';
    if (RANK[h] > RANK[worst]) worst = h;
  }
  return worst;
}

/** What `health.last` holds. */
export interface StoredHealth {
  at: string;
  status: HealthStatus;
  diagnostics: Record<string, FindingStatus>;
}

/** What one check did. */
export interface HealthCheckSummary {
  status: HealthStatus;
  previous: HealthStatus | null;
  changed: boolean;
  /** `worse`, `better` or `initial` when changed. */
  direction?: 'worse' | 'better' | 'initial';
  /** True when this run recorded the event (false when a replica already did this minute). */
  posted: boolean;
  diagnostics: Record<string, FindingStatus>;
}

/**
 * One check at the context's instant.
 * @throws Error when the context has no runbook context (run outside the service's main thread).
 */
export default async function healthCheck(ctx: JobContext): Promise<HealthCheckSummary> {
  const rb = requireRunbooks(ctx);
  const { now, report } = ctx;
  const diags = quickDiagnostics.diagnostics.filter((d) => (HEALTH_DIAGNOSTICS as readonly string[]).includes(d.id));
  const results = await Promise.all(diags.map((d) => runDiagnostic(d, rb)));
  report({ kind: 'progress', stage: 'diagnostics', n: results.length });
  const diagnostics = Object.fromEntries(results.map((r) => [r.id, r.finding.status])) as Record<string, FindingStatus>;
  const status = overallOf(results.map((r) => r.finding.status));

  const em = ctx.em();
  const last = await getSetting<StoredHealth>(em, HEALTH_LAST_SETTING);
  const previous = last && last.status in RANK ? last.status : null;
  const changed = previous !== status;
  const direction = !changed ? undefined : previous === null ? 'initial' : RANK[status] > RANK[previous] ? 'worse' : 'better';
  let posted = false;
  if (changed) {
    const worse = direction === 'worse' || (direction === 'initial' && status !== 'ok');
    posted = await recordOpsEvent(
      em,
      {
        type: 'health.changed',
        severity: worse ? 'warning' : 'info',
        dedupKey: `health.changed:${previous ?? 'none'}->${status}:${minuteStamp(now)}`,
        payload: {
          from: previous,
          to: status,
          direction,
          diagnostics: Object.fromEntries(results.map((r) => [r.id, { status: r.finding.status, summary: r.finding.summary.slice(0, 300) }])),
        },
      },
      now,
    );
  }
  await setSetting(em, HEALTH_LAST_SETTING, { at: now.toISOString(), status, diagnostics } satisfies StoredHealth, 'system:health-check', now);
  return { status, previous, changed, ...(direction ? { direction } : {}), posted, diagnostics };
}
