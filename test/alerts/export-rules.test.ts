import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { DEFAULT_RUNBOOK_BASE_URL, RULES_FILE, buildRulesFile, promDuration, renderRulesFile, type PromRulesFile, SERVICE_RULES } from '../../alerts/export-rules.js';
import { createMetrics } from '../../alerts/metrics.js';
import { ALERT_RULES } from '../../alerts/rules.js';
import { findRunbook } from '../../runbooks/index.js';
import { testIf } from '../helpers/preconditions.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DASHBOARD = path.join(ROOT, 'alerts/grafana/leadfactory-ops.json');
const PROM_DIR = path.join(ROOT, 'alerts/prometheus');

/** Every metric name the registry exposes (histograms also as _bucket, _sum, _count). */
async function exposedNames(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const m of await createMetrics().registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(m.name + suffix);
  }
  return names;
}

/** Metric names used in a PromQL expression (identifiers that look like ours or prom-client's defaults). */
function metricNames(expr: string): string[] {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return [...new Set(withoutStrings.match(/\b(?:leadfactory|process|nodejs)_[a-zA-Z0-9_:]*/g) ?? [])];
}

const promtool = spawnSync('promtool', ['--version']).status === 0;

test('promDuration picks the largest whole unit', () => {
  assert.is(promDuration(5 * 60_000), '5m');
  assert.is(promDuration(2 * 3_600_000), '2h');
  assert.is(promDuration(90_000), '90s');
  assert.is(promDuration(1500), '1500ms');
  assert.throws(() => promDuration(-1), /not a duration/);
});

test('the committed rules file equals a fresh export (run npm run alerts:export after changing alerts/rules.ts)', () => {
  assert.fixture(readFileSync(RULES_FILE, 'utf8'), renderRulesFile());
});

test('every rule is exported once with its severity, runbook, for and annotations', () => {
  const file = parse(readFileSync(RULES_FILE, 'utf8')) as PromRulesFile;
  const exported = file.groups.flatMap((g) => g.rules.map((r) => ({ ...r, group: g.name, interval: g.interval })));
  // plus the Prometheus-only service rules (ServiceDown: up == 0 / absent; Watchdog: the dead man's switch)
  assert.equal(exported.map((r) => r.alert).sort(), [...ALERT_RULES.map((r) => r.name), ...SERVICE_RULES.map((r) => r.alert)].sort());
  assert.ok(SERVICE_RULES.some((r) => r.alert === 'Watchdog' && r.expr === 'vector(1)'));
  assert.match(SERVICE_RULES.find((r) => r.alert === 'ServiceDown')!.expr, /up\{job="leadfactory"\}\) == 0 or absent\(up/);
  // shared-state figures are read by every replica: the rules take max without (instance)
  for (const rule of ALERT_RULES.filter((r) => r.promql.startsWith('leadfactory_') || r.promql.includes('max without'))) assert.match(rule.promql, /max without \(instance\)/, rule.name);
  for (const rule of ALERT_RULES) {
    const r = exported.find((e) => e.alert === rule.name)!;
    assert.is.not(r.group, 'leadfactory-other', `${rule.name} belongs to a named group`);
    assert.is(r.interval, '30s');
    assert.is(r.expr, rule.promql);
    assert.is(r.for, rule.forMs > 0 ? promDuration(rule.forMs) : undefined, rule.name);
    assert.equal(r.labels, { severity: rule.severity, runbook: rule.runbook });
    assert.ok(findRunbook(rule.runbook), `${rule.name}: runbook ${rule.runbook} exists`);
    assert.is(r.annotations.summary, rule.summary);
    assert.ok(r.annotations.description.startsWith(rule.description));
    assert.is(r.annotations.runbook_url, `${DEFAULT_RUNBOOK_BASE_URL}${rule.runbook}`);
  }
  assert.equal(buildRulesFile().groups.map((g) => g.name), file.groups.map((g) => g.name));
});

test('every rule expression uses only metrics the registry exports', async () => {
  const names = await exposedNames();
  for (const rule of ALERT_RULES) {
    const used = metricNames(rule.promql);
    assert.ok(used.length > 0, `${rule.name}: no metric in ${rule.promql}`);
    for (const n of used) assert.ok(names.has(n), `${rule.name}: ${n} is not in the metrics catalog`);
  }
});

testIf(test, Boolean(promtool), 'promtool not installed (.ci/run installs it)')('promtool accepts a fresh export and its unit tests pass', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lf-rules-'));
  try {
    const file = path.join(dir, 'leadfactory.rules.yml');
    writeFileSync(file, renderRulesFile());
    const out = execFileSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    assert.match(out, `SUCCESS: ${ALERT_RULES.length + SERVICE_RULES.length} rules found`);
    const tests = spawnSync('promtool', ['test', 'rules', 'leadfactory.rules.test.yml'], { cwd: PROM_DIR, encoding: 'utf8' });
    assert.is(tests.status, 0, tests.stdout + tests.stderr);
    const config = spawnSync('promtool', ['check', 'config', 'prometheus.yml'], { cwd: PROM_DIR, encoding: 'utf8' });
    assert.is(config.status, 0, config.stdout + config.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the Grafana dashboard parses and every panel queries metrics that exist', async () => {
  const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
    uid: string;
    panels: { id: number; type: string; title: string; targets?: { expr: string; refId: string }[] }[];
  };
  assert.is(dash.uid, 'leadfactory-ops');
  const names = await exposedNames();
  const graphs = dash.panels.filter((p) => p.type !== 'row');
  assert.ok(graphs.length >= 20, `${graphs.length} panels`);
  assert.is(new Set(dash.panels.map((p) => p.id)).size, dash.panels.length, 'panel ids are unique');
  const used = new Set<string>();
  for (const p of graphs) {
    assert.ok(p.targets && p.targets.length > 0, `${p.title}: no query`);
    for (const t of p.targets!) {
      const ms = metricNames(t.expr);
      assert.ok(ms.length > 0, `${p.title}: no metric in ${t.expr}`);
      for (const n of ms) {
        assert.ok(names.has(n), `${p.title}: ${n} is not in the metrics catalog`);
        used.add(n);
      }
    }
  }
  // The panels the issue asks for, by the metric they show.
  for (const n of [
    'leadfactory_pipeline_businesses_processed_total',
    'leadfactory_pipeline_last_success_timestamp_seconds',
    'leadfactory_emails',
    'leadfactory_email_bounce_rate_1h',
    'leadfactory_assessments_failed_ratio_1h',
    'leadfactory_circuit_breaker_state',
    'leadfactory_provider_quota_remaining',
    'leadfactory_provider_requests_total',
    'leadfactory_provider_cost_usd_total',
    'leadfactory_purchases',
    'leadfactory_payment_failures_total',
    'leadfactory_webhook_signature_failures_total',
    'leadfactory_job_runs_total',
    'process_resident_memory_bytes',
  ])
    assert.ok(used.has(n), `no panel shows ${n}`);
});

test.run();
