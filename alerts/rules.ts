/**
 * The alert rules: evaluated in-process every `ALERT_EVAL_INTERVAL_SECONDS` (30) by alerts/evaluate.ts against
 * the shared state in PostgreSQL, and exported with the same names, severities, `for` durations and runbooks as a
 * Prometheus rules file over the metrics catalog (alerts/export-rules.ts → alerts/prometheus/leadfactory.rules.yml).
 *
 * Each rule returns the instances whose condition holds now (one per label set, e.g. per provider); an instance
 * fires once its condition has held for `forMs`, and resolves when it no longer holds. Thresholds follow the
 * troubleshooting guide (leadfactory-v1 §12.2): no business processed for 2 h while a run was due, bounce rate
 * > 10 % over 1 h (with a minimum of sends), assessment failure rate > 10 %, payment failures > 5 in 1 h, RSS > 1 GiB.
 */
import { http429sAndBlocks } from '../domain/queries/api-calls.js';
import { assessmentResultsSince } from '../domain/queries/assessments.js';
import { forcedOpenText, openBreakers } from '../domain/queries/breakers.js';
import { budgetThresholdsSince, signatureFailuresByProvider } from '../domain/queries/ops-events.js';
import { quotaUsageOn } from '../domain/queries/provider-quotas.js';
import { paymentFailuresSince } from '../domain/queries/purchases.js';
import { staleRunningRuns } from '../domain/queries/runs.js';
import { prevCronRun } from '../domain/schedule.js';
import { PROVIDERS } from '../domain/config.js';
import { effectiveConfig } from '../domain/overrides.js';
import { assessmentBacklog, lastStageProgressAt } from '../domain/queries/businesses.js';
import { bounceRate, emailsStuck } from '../domain/queries/email-figures.js';
import type { AlertRule } from './rule-types.js';
import { pipelineDueAt, RUN_RULES } from './rules-runs.js';

export type { AlertRule, RuleContext, RuleInstance } from './rule-types.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

/** Most recent scheduled fire time of `cron` at or before `now` (UTC), or undefined (domain/schedule.ts). */
export const lastDue = prevCronRun;

/** Businesses waiting in assessment_pending before AssessmentBacklog fires. */
export const ASSESSMENT_BACKLOG_THRESHOLD = 500;
/** RSS (bytes) above which HighMemory fires: 1 GiB (LeadFactory v1 prometheus_rules.yml HighMemoryUsage). */
export const HIGH_MEMORY_BYTES = 1024 ** 3;

/** The rules, by name. */
export const ALERT_RULES: readonly AlertRule[] = [
  {
    name: 'PipelineDown',
    severity: 'critical',
    forMs: 0,
    runbook: 'pipeline-not-processing',
    summary: 'No business completed a stage for 2 h after a pipeline run was due',
    description:
      'A pipeline run was due (PIPELINE_CRON, or the start-up run) more than 2 h ago and no business has completed a stage (sourced, assessed, scored, personalised, emailed) since.',
    promql:
      'max without (instance) (time() - leadfactory_pipeline_last_due_timestamp_seconds > 7200) and on () max without (instance) (leadfactory_pipeline_last_due_timestamp_seconds > leadfactory_pipeline_last_progress_timestamp_seconds)',
    async evaluate({ em, now, config, startedAt }) {
      const due = pipelineDueAt(config, now, startedAt);
      if (!due || now.getTime() - due.getTime() < 2 * HOUR) return [];
      const last = await lastStageProgressAt(em(), now);
      if (last && last >= due) return [];
      return [{ labels: {}, value: last ? (now.getTime() - last.getTime()) / 1000 : -1, summary: `Run due at ${due.toISOString()}: no business has completed a stage since; last progress ${last ? last.toISOString() : 'never'}.` }];
    },
  },

  {
    name: 'PipelineStalled',
    severity: 'critical',
    forMs: 5 * MIN,
    runbook: 'pipeline-not-processing',
    summary: 'A pipeline run stopped making progress',
    description: 'A run is `running` but its heartbeat is older than STUCK_AFTER_MINUTES, or a run ended `stalled`.',
    promql: 'max without (instance) (leadfactory_job_running_heartbeat_age_seconds{job_name="daily-pipeline"}) > 1800',
    labels: ['job_name'],
    async evaluate({ em, now, config }) {
      // the newest running run whose heartbeat is older than the cut-off
      const [row] = await staleRunningRuns(em(), 'daily-pipeline', new Date(now.getTime() - config.stages.stuckAfterMs));
      if (!row) return [];
      const age = (now.getTime() - row.heartbeatAt.getTime()) / 1000;
      return [{ labels: { job_name: 'daily-pipeline' }, value: age, summary: `Run #${row.id} has not reported progress for ${Math.round(age / 60)} min.` }];
    },
  },
  {
    name: 'HighBounceRate',
    severity: 'critical',
    forMs: 0,
    runbook: 'email-delivery',
    summary: 'Bounce rate above BOUNCE_RATE_THRESHOLD over 24 h',
    description: 'Bounced / sent over 24 h above BOUNCE_RATE_THRESHOLD (10%) with at least BOUNCE_RATE_MIN_SENDS (20) sends: sender reputation at risk.',
    promql: 'max without (instance) (leadfactory_email_bounce_rate_24h) > 0.1 and on () max without (instance) (leadfactory_emails_sent_24h) >= 20',
    async evaluate({ em, now, config }) {
      const r = await bounceRate(em(), now, config.delivery);
      if (!r.aboveThreshold) return [];
      return [{ labels: {}, value: r.rate, summary: `${r.bounced} of ${r.sent} emails sent in the last 24 h bounced (${(r.rate * 100).toFixed(1)}%; threshold ${(r.threshold * 100).toFixed(0)}%).` }];
    },
  },

  {
    name: 'EmailsStuckPending',
    severity: 'warning',
    forMs: 15 * MIN,
    runbook: 'email-delivery',
    summary: 'Emails waiting to be sent for too long',
    description: 'Emails `pending` or `sending` for longer than STUCK_AFTER_MINUTES.',
    promql: 'max without (instance) (leadfactory_emails_stuck) > 0',
    async evaluate({ em, now, config }) {
      const n = await emailsStuck(em(), now, config.stages.stuckAfterMs);
      return n > 0 ? [{ labels: {}, value: n, summary: `${n} emails have waited more than ${config.stages.stuckAfterMs / MIN} min to be sent.` }] : [];
    },
  },

  {
    name: 'AssessmentBacklog',
    severity: 'warning',
    forMs: 30 * MIN,
    runbook: 'assessment-failures',
    summary: 'Assessment backlog growing',
    description: `More than ${ASSESSMENT_BACKLOG_THRESHOLD} businesses waiting in assessment_pending.`,
    promql: `max without (instance) (leadfactory_businesses{status="assessment_pending"}) > ${ASSESSMENT_BACKLOG_THRESHOLD}`,
    async evaluate({ em }) {
      const n = await assessmentBacklog(em());
      return n > ASSESSMENT_BACKLOG_THRESHOLD ? [{ labels: {}, value: n, summary: `${n} businesses are waiting for assessment.` }] : [];
    },
  },

  {
    name: 'AssessmentFailureRate',
    severity: 'warning',
    forMs: 15 * MIN,
    runbook: 'assessment-failures',
    summary: 'More than 10% of assessments failing',
    description: 'Failed / all assessment results over 1 h above 10% (at least 10 results).',
    promql: 'max without (instance) (leadfactory_assessments_failed_ratio_1h) > 0.1 and on () max without (instance) (leadfactory_assessments_1h) >= 10',
    async evaluate({ em, now }) {
      const { total, failed } = await assessmentResultsSince(em(), new Date(now.getTime() - HOUR));
      const ratio = total > 0 ? failed / total : 0;
      return total >= 10 && ratio > 0.1 ? [{ labels: {}, value: ratio, summary: `${failed} of ${total} assessments failed in the last hour.` }] : [];
    },
  },
  {
    name: 'CircuitBreakerOpen',
    severity: 'critical',
    forMs: 0,
    runbook: 'external-apis',
    summary: 'A provider circuit breaker is open',
    description: 'Calls to the provider are refused until the breaker half-opens and a probe succeeds.',
    promql: 'max without (instance) (leadfactory_circuit_breaker_state) == 1',
    labels: ['provider'],
    async evaluate({ em }) {
      // an operator's forced open says who forced it, not the last provider error
      return (await openBreakers(em())).map((r) => ({
        labels: { provider: r.provider },
        value: 1,
        summary: r.state === 'half_open'
          ? `${r.provider} breaker reset by ${r.resetBy ?? 'an operator'}; no call has succeeded since (the next call probes ${r.provider}): ${(r.lastError ?? 'no error recorded').slice(0, 200)}`
          : r.forcedReason
          ? `${r.provider} breaker ${forcedOpenText(r.forcedReason)} (since ${r.openedAt?.toISOString() ?? '?'}); not a provider failure.`
          : `${r.provider} breaker open since ${r.openedAt?.toISOString() ?? '?'}: ${(r.lastError ?? 'no error recorded').slice(0, 200)}`,
      }));
    },
  },
  {
    name: 'RateLimitExhausted',
    severity: 'warning',
    forMs: 2 * MIN,
    runbook: 'external-apis',
    summary: 'A provider keeps answering 429 Too Many Requests',
    description: 'More than 10 answers 429 from one provider in 5 minutes, or a Retry-After block in force.',
    promql: 'sum by (provider) (increase(leadfactory_provider_requests_total{status="http_429"}[5m])) > 10',
    labels: ['provider'],
    async evaluate({ em, now }) {
      const rows = await http429sAndBlocks(em(), PROVIDERS, new Date(now.getTime() - 5 * MIN), now);
      return rows
        .filter((r) => r.http429 > 10 || r.blocked)
        .map((r) => ({ labels: { provider: r.provider }, value: r.http429, summary: `${r.provider}: ${r.http429} answers 429 in 5 min${r.blocked ? '; Retry-After block in force' : ''}.` }));
    },
  },
  {
    name: 'QuotaExhausted',
    severity: 'warning',
    forMs: 0,
    runbook: 'external-apis',
    summary: 'A provider daily quota is used up',
    description: 'No calls left today (UTC) for the provider; work waits until midnight UTC or a quota increase.',
    promql: 'max without (instance) (leadfactory_provider_quota_remaining) == 0',
    labels: ['provider'],
    async evaluate({ em, now, config }) {
      const cfg = await effectiveConfig(em(), config);
      const day = now.toISOString().slice(0, 10);
      const rows = await quotaUsageOn(em(), day);
      return rows
        .filter((r) => r.exhausted || (cfg.gateway.limits[r.provider as keyof typeof cfg.gateway.limits]?.daily ?? Infinity) <= r.used)
        .map((r) => ({ labels: { provider: r.provider }, value: 0, summary: `${r.provider}: daily quota used up (${r.used} calls today${r.exhausted ? ', the provider said so' : ''}).` }));
    },
  },
  {
    name: 'PaymentFailures',
    severity: 'critical',
    forMs: 0,
    runbook: 'payment-issues',
    summary: 'More than 5 payment failures in an hour',
    description: 'Payment failures recorded in the last hour: Stripe payment_intent.payment_failed events applied, and checkouts not created.',
    promql: 'max(increase(leadfactory_payment_failures_total[1h])) > 5',
    async evaluate({ em, now }) {
      const n = await paymentFailuresSince(em(), new Date(now.getTime() - HOUR));
      return n > 5 ? [{ labels: {}, value: n, summary: `${n} payments failed in the last hour.` }] : [];
    },
  },
  {
    name: 'WebhookSignatureFailures',
    severity: 'warning',
    forMs: 0,
    runbook: 'payment-issues',
    summary: 'Webhook deliveries failing signature checks',
    description: 'More than 3 webhook deliveries with a bad signature in 15 minutes: a wrong secret, or someone forging posts.',
    promql: 'sum by (provider) (increase(leadfactory_webhook_signature_failures_total[15m])) > 3',
    labels: ['provider'],
    async evaluate({ em, now }) {
      const rows = await signatureFailuresByProvider(em(), new Date(now.getTime() - 15 * MIN));
      return rows
        .filter((r) => r.count > 3)
        .map((r) => ({ labels: { provider: r.provider }, value: r.count, summary: `${r.count} ${r.provider} webhook posts failed the signature check in 15 min.` }));
    },
  },
  {
    name: 'DatabaseUnavailable',
    severity: 'critical',
    forMs: 0,
    runbook: 'quick-diagnostics',
    summary: 'The database is not answering',
    description: 'select 1 failed: nothing can be read or written; jobs and webhooks fail until it is back.',
    promql: 'max without (instance) (leadfactory_database_up) == 0',
    // In-process the outage is reported by the database watch (alerts/db-watch.ts), straight to Slack from memory
    // while the database is away: an evaluation that could store a firing alert would run only once the database is
    // back, and would post (and open a SEV2 for) an outage that is over. This rule stays for the exported
    // Prometheus rules (`max without (instance) (leadfactory_database_up) == 0`).
    async evaluate() {
      return [];
    },
  },
  {
    name: 'HighMemory',
    severity: 'warning',
    forMs: 5 * MIN,
    runbook: 'memory-resources',
    summary: 'Process memory above 1 GiB',
    description: 'The service process RSS is above 1 GiB.',
    promql: `process_resident_memory_bytes > ${HIGH_MEMORY_BYTES}`,
    async evaluate({ probes }) {
      const rss = probes.memoryUsage().rss;
      return rss > HIGH_MEMORY_BYTES ? [{ labels: {}, value: rss, summary: `RSS ${(rss / 1024 ** 2).toFixed(0)} MiB.` }] : [];
    },
  },
  {
    name: 'BudgetThreshold',
    severity: 'warning',
    forMs: 0,
    runbook: 'external-apis',
    summary: 'Provider spend passed a budget threshold',
    description: 'Spend today or this month passed 80% (or 95%) of a configured budget (ops event budget.threshold).',
    promql: 'max without (instance) (leadfactory_provider_budget_used_ratio) >= 0.8',
    labels: ['provider'],
    async evaluate({ em, now }) {
      const rows = await budgetThresholdsSince(em(), new Date(now.toISOString().slice(0, 10)));
      return rows.map((r) => ({ labels: { provider: r.provider }, value: r.percent, summary: `${r.provider} spend passed ${Math.round(r.percent)}% of its budget today.` }));
    },
  },
  ...RUN_RULES,
];

/** The rule named `name`, or undefined. */
export function findRule(name: string): AlertRule | undefined {
  return ALERT_RULES.find((r) => r.name === name);
}
