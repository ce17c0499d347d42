/**
 * The {@link MetricsStateReader} the service uses: reads the shared-state gauges of the metrics catalog
 * (alerts/metrics.ts) from PostgreSQL at scrape time. Every figure comes from a named query of domain/queries/, so
 * a gauge and the alert rule or runbook that reads the same figure share one definition.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import { BUSINESS_STATUSES } from '../db/entities/business.entity.js';
import { EMAIL_STATUSES } from '../db/entities/email.entity.js';
import { PURCHASE_STATUSES } from '../db/entities/purchase.entity.js';
import { startOfUtcDay, type Clock } from '../domain/clock.js';
import { PROVIDERS, type AppConfig } from '../domain/config.js';
import { readBreakerStates, readQuotaRemaining } from '../domain/gateway/state-reader.js';
import { effectiveConfig } from '../domain/overrides.js';
import { assessmentResultsSince } from '../domain/queries/assessments.js';
import { businessesByStatus, lastStageProgressAt } from '../domain/queries/businesses.js';
import { spendThisDayAndMonth, type PeriodSpend } from '../domain/queries/costs.js';
import { bounceRate, emailsByStatus, emailsStuck, sendFailures, sentAndBounced } from '../domain/queries/email-figures.js';
import { pingDatabase } from '../domain/queries/health.js';
import { jobsNotRunning, type ExpectedJob } from '../domain/queries/jobs.js';
import { paymentFailuresTotal, purchasesByStatus } from '../domain/queries/purchases.js';
import { isFailedRun, lastFinishedPipelineRun, pipelineRunTimes, runFailures, runningHeartbeats } from '../domain/queries/runs.js';
import type { MetricsStateReader, OpsSnapshot } from './metrics.js';
import { pipelineDueAt } from './rules-runs.js';

/** What {@link createDbMetricsReader} reads through; undefined while the service is still starting. */
export interface DbMetricsSource {
  orm: MikroORM;
  clock: Clock;
  config: AppConfig;
  /** When the service started (the pipeline's due time gives its start-up run a chance). */
  startedAt?: Date;
  /** The jobs expected to run (the job catalog), for `leadfactory_job_not_running`. */
  expectedJobs?: () => Promise<ExpectedJob[]>;
}

/** How long `databaseUp` waits for `select 1` before reporting the database down (ms). */
export const DATABASE_UP_TIMEOUT_MS = 3_000;

/** `counts` with every key of `keys` present (0 when absent), `keys` first: a status gauge shows every status. */
const everyKey = (keys: readonly string[], counts: Record<string, number>): Record<string, number> => ({ ...Object.fromEntries(keys.map((k) => [k, 0])), ...counts });
const secs = (d: Date | undefined): number | undefined => (d ? d.getTime() / 1000 : undefined);

interface KnexPool {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
  numPendingCreates(): number;
}

/** True when the database answers `select 1` within {@link DATABASE_UP_TIMEOUT_MS}; never throws. */
async function databaseAnswers(orm: MikroORM): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), DATABASE_UP_TIMEOUT_MS);
    timer.unref();
  });
  const probe = pingDatabase(orm.em)
    .then(() => true)
    .catch(() => false);
  return Promise.race([probe, timeout]).finally(() => clearTimeout(timer));
}

/** Connections of `orm`'s knex/tarn pool by state; undefined when the pool cannot be read. */
function poolConnectionsOf(orm: MikroORM): Record<string, number> | undefined {
  try {
    const pool = (orm.em.getConnection().getKnex().client as { pool?: KnexPool }).pool;
    if (!pool || typeof pool.numUsed !== 'function') return undefined;
    return { used: pool.numUsed(), free: pool.numFree(), pending_acquire: pool.numPendingAcquires(), pending_create: pool.numPendingCreates() };
  } catch {
    return undefined;
  }
}

/**
 * The {@link MetricsStateReader} over PostgreSQL used by the service: named queries on job_runs, businesses, emails,
 * assessment_results, purchases, ops_events and api_calls, with the same definitions as the in-process alert rules
 * (alerts/rules.ts), the reader's clock for "now" and run-time overrides for quotas. `source()` returning undefined
 * (service not started yet) makes every method report nothing (and `databaseUp` false).
 */
export function createDbMetricsReader(source: () => DbMetricsSource | undefined): MetricsStateReader {
  return {
    async breakerStates() {
      const s = source();
      return s ? readBreakerStates(s.orm) : {};
    },
    async quotaRemaining() {
      const s = source();
      if (!s) return {};
      const cfg = await effectiveConfig(s.orm.em.fork(), s.config);
      return readQuotaRemaining(s.orm, s.clock, cfg.gateway.limits) as Promise<Record<string, number>>;
    },
    async databaseUp() {
      const s = source();
      return s ? databaseAnswers(s.orm) : false;
    },
    poolConnections() {
      const s = source();
      return s ? poolConnectionsOf(s.orm) : undefined;
    },
    async opsSnapshot() {
      const s = source();
      if (!s) throw new Error('metrics source not ready');
      return readOpsSnapshot(s);
    },
  };
}

/** Spend / budget per provider and period for every configured (positive) budget; ratio 1 = budget used up. */
export function budgetUsedRatios(config: AppConfig, spend: readonly PeriodSpend[]): OpsSnapshot['budgetUsedRatio'] {
  const spent = new Map(spend.map((r) => [r.provider, r]));
  const out: OpsSnapshot['budgetUsedRatio'] = [];
  for (const provider of PROVIDERS) {
    const b = config.gateway.budgets[provider];
    const row = spent.get(provider);
    if (b.dailyUsd !== undefined && b.dailyUsd > 0) out.push({ provider, period: 'daily', ratio: (row?.dailyUsd ?? 0) / b.dailyUsd });
    if (b.monthlyUsd !== undefined && b.monthlyUsd > 0) out.push({ provider, period: 'monthly', ratio: (row?.monthlyUsd ?? 0) / b.monthlyUsd });
  }
  return out;
}

/** The pipeline-run and job figures of an {@link OpsSnapshot}, read one query after another. */
async function readRunFigures({ orm, clock, config, startedAt, expectedJobs }: DbMetricsSource) {
  const em = orm.em.fork();
  const now = clock.now();
  const times = await pipelineRunTimes(em);
  const heartbeats = await runningHeartbeats(em);
  const progress = await lastStageProgressAt(em, now);
  const lastRun = await lastFinishedPipelineRun(em, now);
  const failures = lastRun && !isFailedRun(lastRun) ? runFailures(lastRun.counts) : undefined;
  const jobs = expectedJobs ? await expectedJobs() : [];
  const notRunning = new Set((await jobsNotRunning(em, jobs, now, startedAt ?? new Date(0))).map((j) => j.job));
  const due = pipelineDueAt(config, now, startedAt);
  return {
    lastProgressSeconds: secs(progress) ?? 0,
    lastFailedRunId: lastRun && isFailedRun(lastRun) ? lastRun.id : 0,
    lastRunFailedItems: failures?.failed ?? 0,
    lastRunFailedRatio: failures?.ratio ?? 0,
    jobNotRunning: Object.fromEntries(jobs.map((j) => [j.name, notRunning.has(j.name) ? 1 : 0])),
    lastDueSeconds: secs(due),
    lastSuccessSeconds: secs(times.lastSuccessAt),
    lastRunDurationSeconds: times.lastDurationSeconds,
    runningHeartbeatAgeSeconds: Object.fromEntries(heartbeats.map((r) => [r.job, Math.max(0, (now.getTime() - r.heartbeatAt.getTime()) / 1000)])),
  } satisfies Partial<OpsSnapshot>;
}

/**
 * Reads one {@link OpsSnapshot} (a handful of small aggregate queries, one after another on purpose: a scrape must
 * not take a burst of pool connections from the pipeline). @throws database errors.
 */
export async function readOpsSnapshot(source: DbMetricsSource): Promise<OpsSnapshot> {
  const { orm, clock, config } = source;
  const em = orm.em.fork();
  const now = clock.now();
  const hourAgo = new Date(now.getTime() - 3_600_000);
  const runs = await readRunFigures(source);
  const businesses = everyKey(BUSINESS_STATUSES, await businessesByStatus(em));
  const emails = everyKey(EMAIL_STATUSES, await emailsByStatus(em));
  const lastHour = await sentAndBounced(em, hourAgo, now);
  const stuck = await emailsStuck(em, now, config.stages.stuckAfterMs);
  const assessments = await assessmentResultsSince(em, hourAgo);
  const purchases = everyKey(PURCHASE_STATUSES, await purchasesByStatus(em));
  const paymentFailures = await paymentFailuresTotal(em);
  const spend = await spendThisDayAndMonth(em, startOfUtcDay(now), new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)));
  const bounce = await bounceRate(em, now, config.delivery);
  const sendFailed = await sendFailures(em, now);
  return {
    ...runs,
    emailsSent24h: bounce.sent,
    emailBounceRate24h: bounce.rate,
    emailsSendFailed1h: sendFailed.recent,
    businesses,
    emails,
    emailsSent1h: lastHour.sent,
    emailsBounced1h: lastHour.bounced,
    emailsStuck: stuck,
    assessments1h: assessments.total,
    assessmentsFailed1h: assessments.failed,
    purchases,
    paymentFailures,
    budgetUsedRatio: budgetUsedRatios(config, spend),
  };
}
