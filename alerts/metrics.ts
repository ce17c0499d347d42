/**
 * The Prometheus metrics catalog (prom-client). One registry per app instance, so tests can build several
 * without "already registered" errors; default process metrics are collected once per registry.
 * Worker threads never touch it: they report counts to the main thread, which increments these.
 *
 * Two kinds of metric:
 * - process-local counters/histograms incremented in code (`*_total`, `*_duration_seconds`): pipeline stages, job
 *   runs, provider calls, Slack commands, webhook signature failures;
 * - gauges (and one counter) read at scrape time from PostgreSQL through a {@link MetricsStateReader}, so every
 *   thread's, process's and replica's work shows (each replica reports the same shared value; aggregate with
 *   `max without (instance)` when scraping several). alerts/metrics-reader.ts `createDbMetricsReader` is the reader the
 *   service uses (its SQL lives in domain/queries/).
 *
 * Catalog (names are what alerts/rules.ts `promql`, alerts/prometheus/leadfactory.rules.yml and the Grafana
 * dashboard alerts/grafana/leadfactory-ops.json use — keep them in step):
 *
 * | metric | type | labels | source |
 * |---|---|---|---|
 * | leadfactory_pipeline_businesses_processed_total | counter | stage | scheduler (worker progress) |
 * | leadfactory_pipeline_last_progress_timestamp_seconds | gauge | | job_runs (0 = never) |
 * | leadfactory_pipeline_last_due_timestamp_seconds | gauge | | PIPELINE_CRON previous fire |
 * | leadfactory_pipeline_last_success_timestamp_seconds | gauge | | job_runs (absent = never) |
 * | leadfactory_pipeline_run_duration_seconds | gauge | | job_runs, last finished run |
 * | leadfactory_job_runs_total | counter | job_name, status | scheduler |
 * | leadfactory_job_running_heartbeat_age_seconds | gauge | job_name | job_runs, running runs only |
 * | leadfactory_businesses | gauge | status | businesses |
 * | leadfactory_emails | gauge | status | emails |
 * | leadfactory_emails_sent_1h / leadfactory_emails_bounced_1h | gauge | | emails.sent_at in the last hour |
 * | leadfactory_email_bounce_rate_1h | gauge | | bounced / sent over 1 h (0 without sends) |
 * | leadfactory_emails_stuck | gauge | | pending/sending longer than STUCK_AFTER_MINUTES |
 * | leadfactory_assessments_1h / leadfactory_assessments_failed_ratio_1h | gauge | | assessment_results, 1 h |
 * | leadfactory_purchases | gauge | status | purchases |
 * | leadfactory_payment_failures_total | counter | | ops_events payment.failed + checkout failures |
 * | leadfactory_webhook_signature_failures_total | counter | provider | webhook handlers |
 * | leadfactory_database_up | gauge | | `select 1` at scrape (1 up, 0 down) |
 * | leadfactory_db_pool_connections | gauge | state | knex/tarn pool of this process |
 * | leadfactory_provider_budget_used_ratio | gauge | provider, period | api_calls spend / budget |
 * | leadfactory_circuit_breaker_state | gauge | provider | provider_state |
 * | leadfactory_provider_quota_remaining | gauge | provider | provider_quota_usage |
 * | leadfactory_provider_requests_total, _request_duration_seconds, _cost_usd_total, _cache_total | | | gateway |
 * | leadfactory_slack_commands_total, leadfactory_ops_events_posted_total | counter | | bot, notifier |
 * | process_*, nodejs_* | | | prom-client defaults |
 */
import client from 'prom-client';
import type { GatewayObservation } from '../domain/gateway/observer.js';
import { PIPELINE_STAGES } from '../domain/pipeline/stages.js';

/** The registry and the metrics the app updates. */
export interface Metrics {
  registry: client.Registry;
  businessesProcessed: client.Counter<'stage'>;
  jobRuns: client.Counter<'job_name' | 'status'>;
  slackCommands: client.Counter<'subcommand'>;
  opsEventsPosted: client.Counter<'type' | 'outcome'>;
  providerRequests: client.Counter<'provider' | 'operation' | 'status'>;
  providerDuration: client.Histogram<'provider' | 'operation'>;
  providerCost: client.Counter<'provider'>;
  providerCache: client.Counter<'provider' | 'result'>;
  breakerState: client.Gauge<'provider'>;
  quotaRemaining: client.Gauge<'provider'>;
  /** Webhook posts refused for a bad or missing signature, by provider (`stripe`, `sendgrid`). */
  webhookSignatureFailures: client.Counter<'provider'>;
  /** Clicks on signed report links, by what they led to (`checkout_created`, `checkout_reused`, `already_paid`, `failed`, `refused`). */
  reportLinkClicks: client.Counter<'outcome'>;
}

/** Webhook providers whose signature failures are counted (pre-set to 0 so `increase()` sees the first one). */
export const WEBHOOK_PROVIDERS = ['stripe', 'sendgrid', 'pagerduty', 'opsgenie'] as const;

/**
 * Pipeline and business state read from PostgreSQL at scrape time. Timestamps are Unix seconds; `*1h` figures
 * cover the hour before the reader's clock. Record keys are label values (statuses, job names).
 */
export interface OpsSnapshot {
  /** Last time a business completed a stage (domain/queries/businesses.ts lastStageProgressAt); 0 = never. */
  lastProgressSeconds: number;
  /**
   * When a pipeline run was last due (alerts/rules-runs.ts pipelineDueAt: PIPELINE_CRON's previous fire, or the
   * start-up run when that fire was before the service started); undefined when nothing is due yet.
   */
  lastDueSeconds: number | undefined;
  /** Emails sent over the bounce window (24 h) and the bounce rate over it (domain/queries/emails.ts bounceRate). */
  emailsSent24h: number;
  emailBounceRate24h: number;
  /** Emails `failed` in the last hour (domain/queries/emails.ts sendFailures). */
  emailsSendFailed1h: number;
  /** Id of the last finished daily run when it failed or stalled, else 0 (domain/queries/runs.ts). */
  lastFailedRunId: number;
  /** Failed items of the last finished daily run and their ratio (domain/queries/runs.ts runFailures). */
  lastRunFailedItems: number;
  lastRunFailedRatio: number;
  /** 1 per expected job that is not running (domain/queries/jobs.ts jobsNotRunning), 0 for the others. */
  jobNotRunning: Record<string, number>;
  /** End of the last `succeeded` daily-pipeline run; undefined = never. */
  lastSuccessSeconds: number | undefined;
  /** Wall time of the last finished daily-pipeline run (finished_at - started_at), seconds; undefined = none. */
  lastRunDurationSeconds: number | undefined;
  /** Seconds since the heartbeat of each job that has a `running` run. */
  runningHeartbeatAgeSeconds: Record<string, number>;
  /** Businesses per status (every status present, 0 when none). */
  businesses: Record<string, number>;
  /** Emails per status (every status present). */
  emails: Record<string, number>;
  /** Emails with `sent_at` in the last hour, and how many of those bounced. */
  emailsSent1h: number;
  emailsBounced1h: number;
  /** Emails `pending` (by created_at) or `sending` (by claimed_at) for longer than STUCK_AFTER_MINUTES. */
  emailsStuck: number;
  /** Assessment results created in the last hour, and how many of them `failed`. */
  assessments1h: number;
  assessmentsFailed1h: number;
  /** Purchases per status (every status present). */
  purchases: Record<string, number>;
  /**
   * Payment failures ever recorded: ops events `payment.failed` (one per Stripe failure event applied) plus
   * purchases whose checkout session could not be created. Monotonic (neither source is deleted).
   */
  paymentFailures: number;
  /** Spend / budget per provider and period (`daily`, `monthly`) for every configured budget. */
  budgetUsedRatio: { provider: string; period: 'daily' | 'monthly'; ratio: number }[];
}

/**
 * Shared state read at scrape time. The two provider methods are required (existing callers); the rest are
 * optional: a metric whose method is missing is simply not reported. A method that throws leaves that metric's
 * previous value (the database being down shows as `leadfactory_database_up 0`, not as zeros everywhere).
 */
export interface MetricsStateReader extends ProviderStateReader {
  /** Pipeline, email, assessment, purchase and budget figures (one snapshot per scrape). */
  opsSnapshot?(): Promise<OpsSnapshot>;
  /** True when `select 1` answers (within the reader's timeout). */
  databaseUp?(): Promise<boolean>;
  /** Connections of this process's pool by state (`used`, `free`, `pending_acquire`, `pending_create`); undefined = unknown. */
  poolConnections?(): Record<string, number> | undefined;
}

/** Shared state read at scrape time (from PostgreSQL, so every thread's and replica's calls show). */
export interface ProviderStateReader {
  /** Breaker state per provider: 0 closed, 1 open, 2 half_open. */
  breakerStates(): Promise<Record<string, number>>;
  /** Daily quota left per provider (providers without a daily quota are left out). */
  quotaRemaining(): Promise<Record<string, number>>;
}

/**
 * Creates a registry with the catalog and the default process metrics (`process_*`, `nodejs_*`). With a
 * `reader`, the shared-state gauges are read at each scrape (one {@link MetricsStateReader.opsSnapshot} call per
 * scrape, shared by every gauge that needs it); without one they are absent (tests, CLI).
 */
export function createMetrics(reader?: MetricsStateReader): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const businessesProcessed = new client.Counter({
    name: 'leadfactory_pipeline_businesses_processed_total',
    help: 'Businesses that completed a pipeline stage, by stage.',
    labelNames: ['stage'] as const,
    registers,
  });
  for (const stage of PIPELINE_STAGES) businessesProcessed.inc({ stage }, 0);
  const provider = registerProviderMetrics(registers, reader);
  registerStateMetrics(registry, reader);
  return { registry, businessesProcessed, ...provider, ...registerAppCounters(registers) };
}

/** The provider gauges (read from shared state at scrape time) and the gateway's counters and histogram. */
function registerProviderMetrics(registers: client.Registry[], reader: ProviderStateReader | undefined) {
  const breakerState = new client.Gauge({
    name: 'leadfactory_circuit_breaker_state',
    help: 'Circuit breaker state per provider: 0 closed, 1 open, 2 half_open.',
    labelNames: ['provider'] as const,
    registers,
    async collect() {
      if (!reader) return;
      const states = await reader.breakerStates().catch(() => ({}) as Record<string, number>);
      for (const [provider, v] of Object.entries(states)) this.set({ provider }, v);
    },
  });
  const quotaRemaining = new client.Gauge({
    name: 'leadfactory_provider_quota_remaining',
    help: 'Calls left in the provider daily quota (resets at midnight UTC).',
    labelNames: ['provider'] as const,
    registers,
    async collect() {
      if (!reader) return;
      const left = await reader.quotaRemaining().catch(() => ({}) as Record<string, number>);
      for (const [provider, v] of Object.entries(left)) this.set({ provider }, v);
    },
  });
  return {
    breakerState,
    quotaRemaining,
    providerRequests: new client.Counter({
      name: 'leadfactory_provider_requests_total',
      help: 'Logical provider calls through the gateway, by provider, operation and outcome status.',
      labelNames: ['provider', 'operation', 'status'] as const,
      registers,
    }),
    providerDuration: new client.Histogram({
      name: 'leadfactory_provider_request_duration_seconds',
      help: 'Duration of logical provider calls (all attempts), seconds.',
      labelNames: ['provider', 'operation'] as const,
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers,
    }),
    providerCost: new client.Counter({
      name: 'leadfactory_provider_cost_usd_total',
      help: 'Provider spend in US dollars (OpenAI from token usage).',
      labelNames: ['provider'] as const,
      registers,
    }),
    providerCache: new client.Counter({
      name: 'leadfactory_provider_cache_total',
      help: 'Gateway cache lookups by provider and result (hit, miss).',
      labelNames: ['provider', 'result'] as const,
      registers,
    }),
  };
}

/** The process-local counters incremented by the bot, the scheduler, the notifier and the webhook handlers. */
function registerAppCounters(registers: client.Registry[]) {
  const webhookSignatureFailures = new client.Counter({
    name: 'leadfactory_webhook_signature_failures_total',
    help: 'Webhook posts refused for a bad or missing signature, by provider.',
    labelNames: ['provider'] as const,
    registers,
  });
  for (const provider of WEBHOOK_PROVIDERS) webhookSignatureFailures.inc({ provider }, 0);
  return {
    webhookSignatureFailures,
    reportLinkClicks: new client.Counter({
      name: 'leadfactory_report_link_clicks_total',
      help: 'Clicks on the signed "Get the full report" links of outreach emails, by outcome (refused: altered or expired).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    jobRuns: new client.Counter({
      name: 'leadfactory_job_runs_total',
      // `job_name`, not `job`: Prometheus's target label `job` would rename ours to `exported_job` at scrape time
      help: 'Finished job runs, by job and final status.',
      labelNames: ['job_name', 'status'] as const,
      registers,
    }),
    slackCommands: new client.Counter({
      name: 'leadfactory_slack_commands_total',
      help: 'Slash commands received, by /lf subcommand.',
      labelNames: ['subcommand'] as const,
      registers,
    }),
    opsEventsPosted: new client.Counter({
      name: 'leadfactory_ops_events_posted_total',
      help: 'Ops events delivered by the notifier, by type and outcome (posted, failed).',
      labelNames: ['type', 'outcome'] as const,
      registers,
    }),
  };
}

/** Applies a gateway observation (from this thread or a worker thread's message) to the metrics. */
export function applyObservation(m: Metrics, o: GatewayObservation): void {
  if (o.kind === 'call') {
    m.providerRequests.inc({ provider: o.provider, operation: o.operation, status: o.status });
    m.providerDuration.observe({ provider: o.provider, operation: o.operation }, o.durationSeconds);
    if (o.costUsd > 0) m.providerCost.inc({ provider: o.provider }, o.costUsd);
  } else if (o.kind === 'cache') {
    m.providerCache.inc({ provider: o.provider, result: o.result });
  }
}

/** Wraps `fn` so calls made while one is in flight share its promise (one database read per scrape). */
function sharedInFlight<T>(fn: () => Promise<T>): () => Promise<T> {
  let inflight: Promise<T> | undefined;
  return () => {
    inflight ??= fn().finally(() => {
      inflight = undefined;
    });
    return inflight;
  };
}

type Sample<L extends string> = [labels: Partial<Record<L, string>>, value: number | undefined];

/**
 * A gauge whose samples are replaced at each scrape by `read()` (labels absent from the result disappear; a
 * sample with value undefined is left out). When `read` is missing, returns undefined or throws, the previous
 * samples stay.
 */
function stateGauge<L extends string>(
  registry: client.Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  read: (() => Promise<Sample<L>[] | undefined>) | undefined,
): client.Gauge<L> {
  const gauge = new client.Gauge<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    async collect() {
      if (!read) return;
      const samples = await read().catch(() => undefined);
      if (!samples) return;
      this.reset();
      if (labelNames.length === 0) this.remove({} as Partial<Record<L, string>>);
      for (const [labels, v] of samples) if (v !== undefined && Number.isFinite(v)) this.set(labels, v);
    },
  });
  // prom-client starts an unlabelled gauge at 0; a state gauge is absent until it has been read.
  if (labelNames.length === 0) gauge.remove({} as Partial<Record<L, string>>);
  return gauge;
}

const byStatus = <L extends string>(label: L, counts: Record<string, number>): Sample<L>[] =>
  Object.entries(counts).map(([k, v]) => [{ [label]: k } as Partial<Record<L, string>>, v]);

/** Registers the gauges read from shared state (see the catalog at the top of this file). */
function registerStateMetrics(registry: client.Registry, reader: MetricsStateReader | undefined): void {
  const opsReader = reader?.opsSnapshot?.bind(reader);
  const snapshot = opsReader ? sharedInFlight(opsReader) : undefined;
  const fromSnap = <L extends string>(pick: (s: OpsSnapshot) => Sample<L>[]) =>
    snapshot ? async () => pick(await snapshot()) : undefined;
  const scalar = (name: string, help: string, pick: (s: OpsSnapshot) => number | undefined) =>
    stateGauge(registry, name, help, [], fromSnap((s) => [[{}, pick(s)]]));

  scalar('leadfactory_pipeline_last_progress_timestamp_seconds', 'Unix time a business last completed a pipeline stage (0 = never).', (s) => s.lastProgressSeconds);
  scalar('leadfactory_pipeline_last_due_timestamp_seconds', 'Unix time a pipeline run was last due (PIPELINE_CRON, or the start-up run); absent while none is due.', (s) => s.lastDueSeconds);
  scalar('leadfactory_pipeline_last_failed_run_id', 'Id of the last finished daily-pipeline run when it failed or stalled, else 0.', (s) => s.lastFailedRunId);
  scalar('leadfactory_pipeline_last_run_failed_items', 'Items (sends, assessments) that failed in the last finished daily-pipeline run.', (s) => s.lastRunFailedItems);
  scalar('leadfactory_pipeline_last_run_failed_ratio', 'Failed / attempted items of the last finished daily-pipeline run.', (s) => s.lastRunFailedRatio);
  scalar('leadfactory_emails_sent_24h', 'Emails sent in the bounce window (24 h).', (s) => s.emailsSent24h);
  scalar('leadfactory_email_bounce_rate_24h', 'Bounced / sent over 24 h (0 without sends): the one bounce-rate definition.', (s) => s.emailBounceRate24h);
  scalar('leadfactory_emails_send_failed_1h', 'Emails that failed to send in the last hour.', (s) => s.emailsSendFailed1h);
  stateGauge(registry, 'leadfactory_job_not_running', '1 when a job has not started when its schedule said (every catalog job), else 0.', ['job_name'], fromSnap((s) => byStatus('job_name', s.jobNotRunning)));
  scalar('leadfactory_pipeline_last_success_timestamp_seconds', 'Unix time the last succeeded daily-pipeline run finished.', (s) => s.lastSuccessSeconds);
  scalar('leadfactory_pipeline_run_duration_seconds', 'Wall time of the last finished daily-pipeline run, seconds.', (s) => s.lastRunDurationSeconds);
  stateGauge(registry, 'leadfactory_job_running_heartbeat_age_seconds', 'Seconds since the heartbeat of the running run of each job (running jobs only).', ['job_name'], fromSnap((s) => byStatus('job_name', s.runningHeartbeatAgeSeconds)));
  stateGauge(registry, 'leadfactory_businesses', 'Businesses by pipeline status.', ['status'], fromSnap((s) => byStatus('status', s.businesses)));
  stateGauge(registry, 'leadfactory_emails', 'Emails by status.', ['status'], fromSnap((s) => byStatus('status', s.emails)));
  scalar('leadfactory_emails_sent_1h', 'Emails sent in the last hour.', (s) => s.emailsSent1h);
  scalar('leadfactory_emails_bounced_1h', 'Emails sent in the last hour that bounced.', (s) => s.emailsBounced1h);
  scalar('leadfactory_email_bounce_rate_1h', 'Bounced / sent over the last hour (0 without sends).', (s) => (s.emailsSent1h > 0 ? s.emailsBounced1h / s.emailsSent1h : 0));
  scalar('leadfactory_emails_stuck', 'Emails pending or sending for longer than STUCK_AFTER_MINUTES.', (s) => s.emailsStuck);
  scalar('leadfactory_assessments_1h', 'Assessment results recorded in the last hour.', (s) => s.assessments1h);
  scalar('leadfactory_assessments_failed_ratio_1h', 'Failed / all assessment results over the last hour (0 without results).', (s) => (s.assessments1h > 0 ? s.assessmentsFailed1h / s.assessments1h : 0));
  stateGauge(registry, 'leadfactory_purchases', 'Purchases by status.', ['status'], fromSnap((s) => byStatus('status', s.purchases)));
  stateGauge(
    registry,
    'leadfactory_provider_budget_used_ratio',
    'Provider spend / configured budget for the current UTC day or month (1 = budget used up).',
    ['provider', 'period'],
    fromSnap((s) => s.budgetUsedRatio.map((b): Sample<'provider' | 'period'> => [{ provider: b.provider, period: b.period }, b.ratio])),
  );
  new client.Counter({
    name: 'leadfactory_payment_failures_total',
    help: 'Payment failures recorded (Stripe payment failures applied, checkout sessions not created); read from the database.',
    registers: [registry],
    async collect() {
      if (!snapshot) return;
      const s = await snapshot().catch(() => undefined);
      if (!s) return;
      this.reset();
      this.inc(s.paymentFailures);
    },
  });
  const databaseUp = reader?.databaseUp?.bind(reader);
  stateGauge(registry, 'leadfactory_database_up', 'Whether the database answers select 1 (1 up, 0 down).', [], databaseUp ? async () => [[{}, (await databaseUp().catch(() => false)) ? 1 : 0]] : undefined);
  const pool = reader?.poolConnections?.bind(reader);
  stateGauge(
    registry,
    'leadfactory_db_pool_connections',
    'Database pool connections of this process by state (used, free, pending_acquire, pending_create).',
    ['state'],
    pool ? async () => { const p = pool(); return p ? byStatus('state', p) : undefined; } : undefined,
  );
}

/** Counts one report-link click (`leadfactory_report_link_clicks_total{outcome}`); never throws. */
export function countReportLinkClick(m: Metrics | undefined, outcome: string): void {
  try {
    m?.reportLinkClicks?.inc({ outcome });
  } catch {
    /* ignored: metrics never break a request */
  }
}

/**
 * Counts one webhook post refused for its signature (`leadfactory_webhook_signature_failures_total{provider}`).
 * Never throws: a metrics mistake (or a test's stub `metrics`) must not change the webhook's answer.
 */
export function countWebhookSignatureFailure(m: Metrics | undefined, provider: (typeof WEBHOOK_PROVIDERS)[number]): void {
  try {
    m?.webhookSignatureFailures?.inc({ provider });
  } catch {
    /* ignored: see above */
  }
}
