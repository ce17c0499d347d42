/**
 * Exports the alert rules (alerts/rules.ts ALERT_RULES) as a Prometheus rules file:
 * `npm run alerts:export` writes alerts/prometheus/leadfactory.rules.yml (committed; test/alerts/export-rules.test.ts
 * fails when it differs from a fresh export). `promtool check rules` checks it in CI (.ci/run).
 *
 * Each rule becomes one alerting rule with the same name, its `promql` as `expr`, `for` from `forMs` (left out
 * when 0), labels `severity` and `runbook` (the intake at /alerts/alertmanager maps both back), and annotations
 * `summary`, `description` and `runbook_url`. Rules are grouped by area ({@link RULE_GROUPS}), each group evaluated
 * every 30 s like the in-process evaluator.
 *
 * Usage: `tsx alerts/export-rules.ts [--out <file>] [--check]` — `--check` writes nothing and exits 1 when the
 * file differs from a fresh export. `RUNBOOK_BASE_URL` overrides the runbook link prefix.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { ALERT_RULES, type AlertRule } from './rules.js';

/** Where the committed rules file lives (absolute). */
export const RULES_FILE = fileURLToPath(new URL('./prometheus/leadfactory.rules.yml', import.meta.url));

/** Evaluation interval of every exported group (same as the in-process evaluator). */
export const GROUP_INTERVAL = '30s';

/**
 * Prefix of `runbook_url` (followed by the runbook id). A placeholder host: set RUNBOOK_BASE_URL when exporting
 * for a real wiki. The intake resolves the runbook from the `runbook` label first, so links never decide routing.
 */
export const DEFAULT_RUNBOOK_BASE_URL = 'https://ops.leadfactory.example/runbooks/';

/** Rule groups by area: group name → rule names. A rule not listed lands in `leadfactory-other`. */
export const RULE_GROUPS: ReadonlyArray<{ name: string; rules: readonly string[] }> = [
  { name: 'leadfactory-pipeline', rules: ['PipelineDown', 'PipelineStalled', 'PipelineRunFailed', 'PipelineRunFailures'] },
  { name: 'leadfactory-email', rules: ['HighBounceRate', 'EmailsStuckPending', 'EmailSendFailures'] },
  { name: 'leadfactory-assessment', rules: ['AssessmentBacklog', 'AssessmentFailureRate'] },
  { name: 'leadfactory-providers', rules: ['CircuitBreakerOpen', 'RateLimitExhausted', 'QuotaExhausted', 'BudgetThreshold'] },
  { name: 'leadfactory-payments', rules: ['PaymentFailures', 'WebhookSignatureFailures'] },
  { name: 'leadfactory-platform', rules: ['DatabaseUnavailable', 'HighMemory', 'JobNotRunning'] },
];

/** Scrape job name of the service in prometheus.yml (`job_name`), used by {@link SERVICE_RULES}. */
export const SCRAPE_JOB = 'leadfactory';

/**
 * Rules only Prometheus can evaluate (the service cannot report its own absence), in group `leadfactory-service`:
 * `ServiceDown` when no replica is up or the service's metrics are absent, and `Watchdog`, always firing: the dead
 * man's switch. Route Watchdog to the service too (it is kept as a heartbeat, never posted) and/or to an external
 * dead man's switch that pages when it stops arriving.
 */
export const SERVICE_RULES: readonly PromAlertingRule[] = [
  {
    alert: 'ServiceDown',
    expr: `max without (instance) (up{job="${SCRAPE_JOB}"}) == 0 or absent(up{job="${SCRAPE_JOB}"}) or absent(leadfactory_database_up{job="${SCRAPE_JOB}"})`,
    for: '2m',
    labels: { severity: 'critical', runbook: 'quick-diagnostics' },
    annotations: {
      summary: 'LeadFactory Ops is down',
      description: 'No replica of the service answers the /metrics scrape (or its metrics are absent): nothing runs and no in-process alert can be posted. Value: {{ $value }}.',
      runbook_url: `${DEFAULT_RUNBOOK_BASE_URL}quick-diagnostics`,
    },
  },
  {
    alert: 'Watchdog',
    expr: 'vector(1)',
    labels: { severity: 'none', runbook: 'quick-diagnostics' },
    annotations: {
      summary: 'Alerting pipeline heartbeat (always firing)',
      description: "Always firing: proves Prometheus evaluates rules and Alertmanager delivers. Its absence is the alert (dead man's switch). Value: {{ $value }}.",
      runbook_url: `${DEFAULT_RUNBOOK_BASE_URL}quick-diagnostics`,
    },
  },
];
const OTHER_GROUP = 'leadfactory-other';

/** A Prometheus duration for `ms` in its largest whole unit (`2h`, `15m`, `90s`, `500ms`). */
export function promDuration(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0) throw new RangeError(`not a duration: ${ms} ms`);
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) if (ms > 0 && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/** One exported alerting rule (the YAML shape). */
export interface PromAlertingRule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: string; runbook: string };
  annotations: { summary: string; description: string; runbook_url: string };
}

/** The YAML shape of the whole file. */
export interface PromRulesFile {
  groups: { name: string; interval: string; rules: PromAlertingRule[] }[];
}

/** The exported form of one rule. */
export function toPromRule(rule: AlertRule, runbookBaseUrl = DEFAULT_RUNBOOK_BASE_URL): PromAlertingRule {
  return {
    alert: rule.name,
    expr: rule.promql,
    ...(rule.forMs > 0 ? { for: promDuration(rule.forMs) } : {}),
    labels: { severity: rule.severity, runbook: rule.runbook },
    annotations: {
      summary: rule.summary,
      description: `${rule.description} Value: {{ $value }}.`,
      runbook_url: `${runbookBaseUrl}${rule.runbook}`,
    },
  };
}

/** Groups `rules` per {@link RULE_GROUPS} (group order, then rule order within a group; empty groups left out). */
export function buildRulesFile(rules: readonly AlertRule[] = ALERT_RULES, runbookBaseUrl = DEFAULT_RUNBOOK_BASE_URL): PromRulesFile {
  const groupOf = (name: string) => RULE_GROUPS.find((g) => g.rules.includes(name))?.name ?? OTHER_GROUP;
  const names = [...RULE_GROUPS.map((g) => g.name), OTHER_GROUP];
  const service = SERVICE_RULES.map((r) => ({ ...r, annotations: { ...r.annotations, runbook_url: r.annotations.runbook_url.replace(DEFAULT_RUNBOOK_BASE_URL, runbookBaseUrl) } }));
  return {
    groups: [
      ...names
        .map((name) => ({ name, interval: GROUP_INTERVAL, rules: rules.filter((r) => groupOf(r.name) === name).map((r) => toPromRule(r, runbookBaseUrl)) }))
        .filter((g) => g.rules.length > 0),
      { name: 'leadfactory-service', interval: GROUP_INTERVAL, rules: service },
    ],
  };
}

const HEADER = '# Generated by `npm run alerts:export` from alerts/rules.ts (ALERT_RULES). Do not edit by hand.\n# Checked in CI with `promtool check rules` (.ci/run).\n';

/** The rules file text (stable: same input, same bytes). */
export function renderRulesFile(rules: readonly AlertRule[] = ALERT_RULES, runbookBaseUrl = DEFAULT_RUNBOOK_BASE_URL): string {
  return HEADER + stringify(buildRulesFile(rules, runbookBaseUrl), { lineWidth: 0 });
}

async function cli(argv: string[]): Promise<number> {
  const outIdx = argv.indexOf('--out');
  const out = outIdx >= 0 && argv[outIdx + 1] ? path.resolve(argv[outIdx + 1]!) : RULES_FILE;
  const text = renderRulesFile(ALERT_RULES, process.env.RUNBOOK_BASE_URL || DEFAULT_RUNBOOK_BASE_URL);
  if (argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(out, 'utf8');
    } catch {
      /* missing file: differs */
    }
    if (current === text) {
      process.stdout.write(`${path.relative(process.cwd(), out)} is up to date (${ALERT_RULES.length} rules)\n`);
      return 0;
    }
    process.stderr.write(`${path.relative(process.cwd(), out)} is stale: run npm run alerts:export\n`);
    return 1;
  }
  writeFileSync(out, text);
  process.stdout.write(`wrote ${path.relative(process.cwd(), out)} (${ALERT_RULES.length} rules)\n`);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  cli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`alerts:export failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
