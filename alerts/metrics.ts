/**
 * The Prometheus metrics catalog (prom-client). One registry per app instance, so tests can build several
 * without "already registered" errors; default process metrics are collected once per registry.
 * Worker threads never touch it: they report counts to the main thread, which increments these.
 */
import client from 'prom-client';
import type { GatewayObservation } from '../domain/gateway/observer.js';

/** Pipeline stages counted by `leadfactory_pipeline_businesses_processed_total{stage}`. */
export const PIPELINE_STAGES = ['sourced', 'assessed', 'scored', 'personalized', 'emailed'] as const;
export type PipelineStage = (typeof PIPELINE_STAGES)[number];

/** The registry and the metrics the app updates. */
export interface Metrics {
  registry: client.Registry;
  businessesProcessed: client.Counter<'stage'>;
  jobRuns: client.Counter<'job' | 'status'>;
  slackCommands: client.Counter<'subcommand'>;
  opsEventsPosted: client.Counter<'type' | 'outcome'>;
  providerRequests: client.Counter<'provider' | 'operation' | 'status'>;
  providerDuration: client.Histogram<'provider' | 'operation'>;
  providerCost: client.Counter<'provider'>;
  providerCache: client.Counter<'provider' | 'result'>;
  breakerState: client.Gauge<'provider'>;
  quotaRemaining: client.Gauge<'provider'>;
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
 * `reader`, the breaker-state and quota-remaining gauges are read from the shared state at each scrape.
 */
export function createMetrics(reader?: ProviderStateReader): Metrics {
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
    registry,
    businessesProcessed,
    jobRuns: new client.Counter({
      name: 'leadfactory_job_runs_total',
      help: 'Finished job runs, by job and final status.',
      labelNames: ['job', 'status'] as const,
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
