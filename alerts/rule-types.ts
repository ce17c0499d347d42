/**
 * The shape of an alert rule (alerts/rules.ts, alerts/rules-runs.ts): what it reads, what it returns, and how it
 * is exported to Prometheus (alerts/export-rules.ts).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AlertSeverity } from '../db/entities/alerting.entity.js';
import type { AppConfig } from '../domain/config.js';
import type { ExpectedJob } from '../domain/queries/jobs.js';
import type { ProcessProbes } from '../runbooks/context.js';

/** What a rule reads. */
export interface RuleContext {
  em(): EntityManager;
  now: Date;
  config: AppConfig;
  probes: ProcessProbes;
  /**
   * When this service (the evaluating process) started: PipelineDown gives the first due run since then its
   * chance. Absent: no start-up grace.
   */
  startedAt?: Date;
  /** The jobs expected to run (jobs/catalog.ts, paused ones flagged), for JobNotRunning; absent: not evaluated. */
  expectedJobs?: () => Promise<ExpectedJob[]>;
}

/** One instance whose condition holds now. `summary` is a sentence with the numbers. */
export interface RuleInstance {
  labels: Record<string, string>;
  value: number;
  summary: string;
}

/** An alert rule. `promql` is the same condition over the exported metrics (for the Prometheus rules file). */
export interface AlertRule {
  name: string;
  severity: AlertSeverity;
  /** How long the condition must hold before the alert fires (ms). */
  forMs: number;
  /** The runbook it opens (runbooks/index.ts id). */
  runbook: string;
  summary: string;
  description: string;
  promql: string;
  /**
   * The label keys that identify an instance (e.g. `provider`): with the name, the alert's identity whoever
   * evaluated it (alerts/source.ts). Absent: none (one instance).
   */
  labels?: readonly string[];
  evaluate(ctx: RuleContext): Promise<RuleInstance[]>;
}

