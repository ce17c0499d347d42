/**
 * The Prometheus metrics catalog (prom-client). One registry per app instance, so tests can build several
 * without "already registered" errors; default process metrics are collected once per registry.
 * Worker threads never touch it: they report counts to the main thread, which increments these.
 */
import client from 'prom-client';

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
}

/** Creates a registry with the catalog and the default process metrics (`process_*`, `nodejs_*`). */
export function createMetrics(): Metrics {
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
  return {
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
