/**
 * Quick diagnostics (troubleshooting guide: the morning checklist, `/health` and `verify_integrations`): is the
 * pipeline running, is the service healthy (database reachable and migrated, few errors, a responsive event loop),
 * do the providers answer and accept their keys, what went wrong recently, and does the database answer at all.
 *
 * Thresholds (LeadFactory v1 §12): the pipeline counts as stalled when its last run started more than
 * {@link PIPELINE_STALE_HOURS} h ago (PipelineStalled: 86 400 s plus the daily schedule's slack); a `select 1`
 * slower than {@link DB_SLOW_MS} ms is a warning (health check: warning above 100 ms); {@link RECURRING_ERRORS_PER_HOUR}
 * or more error records in the last hour count as recurring errors (alert rules: > 10 failures per window).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { pendingMigrations } from '../db/orm.js';
import type { ProviderId } from '../domain/config.js';
import { recentErrors } from '../domain/error-log.js';
import { checkIntegrations, PROVIDER_NAMES } from '../domain/gateway/checks.js';
import { getPipelineStatus, PIPELINE_JOB } from '../domain/status.js';
import { pingDatabase as selectOne } from '../domain/queries/health.js';
import type { RunbookContext } from './context.js';
import { defineRunbook, type Finding } from './define.js';

/** A last pipeline run started longer ago than this (hours) means the pipeline is not running. */
export const PIPELINE_STALE_HOURS = 25;
/** A run still `running` after this many hours is reported as stuck. */
export const PIPELINE_RUNNING_MAX_HOURS = 6;
/** `select 1` slower than this (ms) is a warning. */
export const DB_SLOW_MS = 100;
/** Error records in the last hour from which errors count as recurring. */
export const RECURRING_ERRORS_PER_HOUR = 10;
/** Event-loop delay (p99, ms) from which the process counts as sluggish (warn) or blocked (problem). */
export const LAG_WARN_MS = 200;
export const LAG_PROBLEM_MS = 1000;

const HOUR_MS = 3_600_000;

function errMessage(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0]!.slice(0, 200);
}

/**
 * `select 1` on `em`'s connection, twice: the first may include opening a pooled connection (`connectMs`), the
 * second is the round trip on a warm connection (`latencyMs`, what the thresholds judge). Or the driver's reason.
 */
async function pingDatabase(
  em: EntityManager,
): Promise<{ connected: true; latencyMs: number; connectMs: number } | { connected: false; reason: string }> {
  const ms = (t0: number) => Math.round((performance.now() - t0) * 10) / 10;
  try {
    let t0 = performance.now();
    await selectOne(em);
    const connectMs = ms(t0);
    t0 = performance.now();
    await selectOne(em);
    return { connected: true, latencyMs: ms(t0), connectMs };
  } catch (err) {
    return { connected: false, reason: errMessage(err) };
  }
}

function hoursAgo(iso: string, now: Date): number {
  return Math.round(((now.getTime() - Date.parse(iso)) / HOUR_MS) * 10) / 10;
}

/** Evidence helpers for root causes (findings are plain data). */
const ev = (f: Finding | undefined, key: string): unknown => f?.evidence?.[key];
const nonEmpty = (v: unknown): boolean => Array.isArray(v) && v.length > 0;

/** The quick-diagnostics runbook. */
export const runbook = defineRunbook<RunbookContext>({
  id: 'quick-diagnostics',
  title: 'Quick diagnostics',
  symptoms: [
    'is everything ok',
    'quick health check',
    'system status',
    'something is wrong',
    'is the service up',
    'is the database up',
    'database down',
    'did the pipeline run today',
    'pipeline stuck',
    'pipeline not running',
    'recent errors',
    'what errors happened',
    'are the integrations working',
    'morning checklist',
  ],
  diagnostics: [
    {
      id: 'service-status',
      title: 'Pipeline status',
      async run(ctx) {
        const now = ctx.services.clock.now();
        let st: Awaited<ReturnType<typeof getPipelineStatus>>;
        try {
          st = await getPipelineStatus(ctx.em(), { clock: ctx.services.clock });
        } catch (err) {
          return { status: 'error', summary: `could not read the pipeline status: ${errMessage(err)}` };
        }
        const last = st.runs[0];
        const base = { activeTargets: st.activeTargets, businessesTotal: st.businessesTotal, emailsTotal: st.emailsTotal };
        if (!last) {
          return { status: 'warn', summary: `No ${PIPELINE_JOB} run recorded yet.`, evidence: { ...base, lastRun: null } };
        }
        const ageHours = hoursAgo(last.startedAt, now);
        const evidence = {
          ...base,
          lastRun: { id: last.id, status: last.status, trigger: last.trigger, startedAt: last.startedAt, finishedAt: last.finishedAt },
          ageHours,
          staleAfterHours: PIPELINE_STALE_HOURS,
          error: last.error?.slice(0, 200) ?? null,
        };
        if (last.status === 'failed' || last.status === 'stalled' || last.status === 'interrupted')
          return {
            status: 'problem',
            summary: `The last pipeline run #${last.id} ${last.status} ${ageHours} h ago${last.error ? `: ${last.error.slice(0, 120)}` : ''}.`,
            evidence,
          };
        if (last.status === 'running')
          return ageHours > PIPELINE_RUNNING_MAX_HOURS
            ? { status: 'problem', summary: `Pipeline run #${last.id} has been running for ${ageHours} h (over ${PIPELINE_RUNNING_MAX_HOURS} h).`, evidence }
            : { status: 'ok', summary: `Pipeline run #${last.id} is running (started ${ageHours} h ago).`, evidence };
        if (ageHours > PIPELINE_STALE_HOURS)
          return { status: 'problem', summary: `The last pipeline run #${last.id} started ${ageHours} h ago (over ${PIPELINE_STALE_HOURS} h).`, evidence };
        return { status: 'ok', summary: `The last pipeline run #${last.id} ${last.status} ${ageHours} h ago.`, evidence };
      },
    },
    {
      id: 'health',
      title: 'Service health',
      async run(ctx) {
        const em = ctx.em();
        const now = ctx.services.clock.now();
        const lagMs = ctx.probes.eventLoopLagMs();
        const db = await pingDatabase(em);
        if (!db.connected)
          return {
            status: 'problem',
            summary: `The database is unreachable (${db.reason}); event-loop lag ${lagMs} ms.`,
            evidence: { dbReachable: false, dbError: db.reason, eventLoopLagMs: lagMs },
          };
        const [pending, errors] = await Promise.all([
          pendingMigrations(ctx.services.orm).then(
            (p) => p,
            (err: unknown) => errMessage(err),
          ),
          recentErrors(em, { since: new Date(now.getTime() - HOUR_MS), limit: 1000 }),
        ]);
        const evidence = {
          dbReachable: true,
          dbLatencyMs: db.latencyMs,
          dbConnectMs: db.connectMs,
          pendingMigrations: Array.isArray(pending) ? pending.length : null,
          pendingMigrationNames: Array.isArray(pending) ? pending.slice(0, 5) : [],
          migrationCheckError: Array.isArray(pending) ? null : pending,
          errorsLastHour: errors.length,
          eventLoopLagMs: lagMs,
        };
        const parts = [
          `database answered in ${db.latencyMs} ms`,
          Array.isArray(pending) ? `${pending.length} pending migrations` : `migrations unknown (${pending})`,
          `${errors.length} error records in the last hour`,
          `event-loop lag ${lagMs} ms`,
        ];
        const summary = `${parts.join(', ').replace(/^./, (c) => c.toUpperCase())}.`;
        const problem =
          (Array.isArray(pending) && pending.length > 0) || lagMs >= LAG_PROBLEM_MS || errors.length >= RECURRING_ERRORS_PER_HOUR * 5;
        const warn =
          // a slow database is the `database` diagnostic's verdict; here it is only reported
          !Array.isArray(pending) || lagMs >= LAG_WARN_MS || errors.length >= RECURRING_ERRORS_PER_HOUR;
        return { status: problem ? 'problem' : warn ? 'warn' : 'ok', summary, evidence };
      },
    },
    {
      id: 'integrations',
      title: 'Provider integrations',
      timeoutMs: 7000,
      async run(ctx) {
        const s = ctx.services;
        const [checks, breakers] = await Promise.all([
          checkIntegrations(s, 4000),
          Promise.all(Object.keys(s.config.providers).map((p) => s.gateway.breaker.snapshot(p as ProviderId))),
        ]);
        const breakerOf = new Map(breakers.map((b) => [b.provider, b]));
        const providers: Record<string, unknown> = {};
        for (const c of checks) {
          providers[c.provider] = {
            mode: c.sandbox ? 'sandbox' : 'real',
            host: c.host,
            key: c.key,
            reachable: c.reachable,
            auth: c.authOk ? 'ok' : c.authRejected ? 'rejected' : c.rateLimited ? 'rate_limited' : c.quotaExhausted ? 'quota_exhausted' : 'failed',
            status: c.status ?? null,
            latencyMs: c.latencyMs,
            breaker: breakerOf.get(c.provider)?.state ?? 'closed',
            detail: c.detail,
          };
        }
        const unreachable = checks.filter((c) => !c.reachable).map((c) => c.provider);
        const authRejected = checks.filter((c) => c.reachable && c.authRejected).map((c) => c.provider);
        const degraded = checks.filter((c) => c.reachable && !c.authOk && !c.authRejected).map((c) => c.provider);
        const openBreakers = breakers.filter((b) => b.state !== 'closed').map((b) => b.provider);
        const evidence = { providers, unreachable, authRejected, degraded, openBreakers };
        const names = (ids: ProviderId[]) => ids.map((p) => PROVIDER_NAMES[p]).join(', ');
        const bad: string[] = [];
        if (unreachable.length) bad.push(`unreachable: ${names(unreachable)}`);
        if (authRejected.length) bad.push(`key rejected: ${names(authRejected)}`);
        if (degraded.length) bad.push(`erroring: ${names(degraded)}`);
        if (openBreakers.length) bad.push(`breaker not closed: ${names(openBreakers)}`);
        if (unreachable.length || authRejected.length)
          return { status: 'problem', summary: `${checks.length - unreachable.length - authRejected.length} of ${checks.length} providers OK; ${bad.join('; ')}.`, evidence };
        if (bad.length) return { status: 'warn', summary: `All ${checks.length} providers answer; ${bad.join('; ')}.`, evidence };
        const sandboxed = checks.filter((c) => c.sandbox).length;
        return {
          status: 'ok',
          summary: `All ${checks.length} providers answer and accept their keys (${sandboxed} on the sandbox), slowest ${Math.max(...checks.map((c) => c.latencyMs))} ms.`,
          evidence,
        };
      },
    },
    {
      id: 'recent-errors',
      title: 'Recent errors (24 h)',
      async run(ctx) {
        const now = ctx.services.clock.now();
        const errors = await recentErrors(ctx.em(), { since: new Date(now.getTime() - 24 * HOUR_MS), limit: 500 });
        if (errors.length === 0) return { status: 'no_data', summary: 'No error records in the last 24 h.', evidence: { count: 0 } };
        const lastHour = errors.filter((e) => e.at.getTime() >= now.getTime() - HOUR_MS).length;
        const byComponent: Record<string, number> = {};
        for (const e of errors) byComponent[e.component ?? 'unknown'] = (byComponent[e.component ?? 'unknown'] ?? 0) + 1;
        const latest = errors.slice(0, 5).map((e) => ({
          at: e.at.toISOString(),
          component: e.component,
          code: e.code,
          msg: e.msg.slice(0, 120),
        }));
        const count = errors.length >= 500 ? '500+' : String(errors.length);
        const top = latest[0]!;
        return {
          status: lastHour >= RECURRING_ERRORS_PER_HOUR ? 'problem' : 'warn',
          summary: `${count} error records in the last 24 h (${lastHour} in the last hour); latest: ${top.component ?? 'unknown'}${top.code ? ` ${top.code}` : ''}: ${top.msg}.`,
          evidence: { count: errors.length, capped: errors.length >= 500, lastHour, byComponent, latest },
        };
      },
    },
    {
      id: 'database',
      title: 'Database connection',
      async run(ctx) {
        const db = await pingDatabase(ctx.em());
        if (!db.connected)
          return { status: 'problem', summary: `database connection: ${db.reason}`, evidence: { connected: false, reason: db.reason } };
        const evidence = { connected: true, latencyMs: db.latencyMs, firstQueryMs: db.connectMs, slowAboveMs: DB_SLOW_MS };
        return db.latencyMs > DB_SLOW_MS
          ? { status: 'warn', summary: `The database answered select 1 in ${db.latencyMs} ms (slow: over ${DB_SLOW_MS} ms).`, evidence }
          : { status: 'ok', summary: `The database answered select 1 in ${db.latencyMs} ms.`, evidence };
      },
    },
  ],
  rootCauses: [
    {
      id: 'database-connection',
      title: 'Database connection failed',
      indicatedBy: (f) => ev(f.database, 'connected') === false || ev(f.health, 'dbReachable') === false,
      remediations: ['reconnect-db-pool'],
    },
    {
      id: 'provider-unreachable',
      title: 'A provider does not answer (network, DNS or provider outage); see the external-apis runbook',
      indicatedBy: (f) => nonEmpty(ev(f.integrations, 'unreachable')),
      remediations: [],
    },
    {
      id: 'provider-auth',
      title: 'A provider rejects its API key (401/403 or missing scope); see the external-apis runbook',
      indicatedBy: (f) => nonEmpty(ev(f.integrations, 'authRejected')),
      remediations: [],
    },
    {
      id: 'recurring-errors',
      title: `Errors are recurring (${RECURRING_ERRORS_PER_HOUR} or more in the last hour)`,
      indicatedBy: (f) =>
        Number(ev(f.health, 'errorsLastHour') ?? 0) >= RECURRING_ERRORS_PER_HOUR ||
        Number(ev(f['recent-errors'], 'lastHour') ?? 0) >= RECURRING_ERRORS_PER_HOUR,
      remediations: [],
    },
    {
      id: 'pipeline-not-running',
      title: 'The daily pipeline has not run recently or its last run failed',
      indicatedBy: (f) => f['service-status']?.status === 'problem',
      remediations: ['run-pipeline-now'],
    },
  ],
  remediations: [
    {
      id: 'run-pipeline-now',
      title: 'Run the daily pipeline now',
      risk: 'write',
      requiredRole: 'operator',
      confirmation: 'Start a daily-pipeline run now (nothing happens if one is already running)?',
      idempotencyKey: () => 'run-pipeline-now',
      recheck: 'service-status',
      async run(ctx, _input, actor) {
        const r = await ctx.jobs.runNow(PIPELINE_JOB, actor);
        ctx.services.logger.info({ remediation: 'run-pipeline-now', actor, started: r.started }, 'pipeline run requested');
        return { summary: r.detail };
      },
    },
    {
      id: 'reconnect-db-pool',
      title: 'Reconnect the database pool',
      risk: 'write',
      requiredRole: 'operator',
      confirmation: 'Close and reopen the database connection pool (queries in flight are cut off)?',
      idempotencyKey: () => 'reconnect-db-pool',
      recheck: 'database',
      async run(ctx, _input, actor) {
        // MikroORM 6: reconnect() = driver close(force) + connect(), i.e. a new knex pool on the same URL
        await ctx.services.orm.reconnect();
        const db = await pingDatabase(ctx.services.orm.em.fork());
        ctx.services.logger.info({ remediation: 'reconnect-db-pool', actor, connected: db.connected }, 'database pool reconnected');
        if (!db.connected) throw new Error(`pool reconnected but the database still refuses: ${db.reason}`);
        return { summary: `Database pool reconnected; select 1 answered in ${db.latencyMs} ms.` };
      },
    },
  ],
});
