/**
 * In-process evaluation of the alert rules (alerts/rules.ts), every `ALERT_EVAL_INTERVAL_SECONDS`, driven by the
 * Bree job `alert-evaluation`. For each rule: the instances whose condition holds become `pending` (the `for`
 * clock starts; state in the `alerts` table, so it survives restarts and is shared by replicas) and fire once the
 * condition has held for `forMs`; instances no longer holding resolve. Firing and resolution then take the same
 * path as Alertmanager's alerts (alerts/dispatch.ts). A rule whose evaluation throws changes nothing (its alerts
 * neither fire nor resolve on a failed read) and is reported in the result.
 */
import { flushLedgers } from '../domain/gateway/ledger.js';
import { activeRuleAlerts } from '../domain/queries/alerts.js';
import type { RunbookContext } from '../runbooks/context.js';
import { processAlertObservations, type AlertDeps, type ProcessResult } from './dispatch.js';
import type { RuleContext } from './rule-types.js';
import { ALERT_RULES, type AlertRule } from './rules.js';
import { alertGroupKey } from './source.js';
import { internalFingerprint, markPending, type AlertObservation } from './store.js';

/** What one evaluation did. */
export interface EvaluationResult extends ProcessResult {
  /** Rules whose evaluation failed, with the reason. */
  failed: { rule: string; error: string }[];
  /** Instances whose condition holds but whose `for` has not elapsed. */
  pending: string[];
}

/** What evaluation reads beyond {@link AlertDeps}: see RuleContext (alerts/rule-types.ts) for `startedAt`, `expectedJobs`. */
export type EvaluationDeps = AlertDeps & { runbooks: RunbookContext } & Pick<RuleContext, 'startedAt' | 'expectedJobs'>;

/** Runs every rule once at `deps.clock.now()`. `rules` defaults to {@link ALERT_RULES}. */
export async function evaluateAlerts(deps: EvaluationDeps, rules: readonly AlertRule[] = ALERT_RULES): Promise<EvaluationResult> {
  await flushLedgers(); // rules read the api_calls ledger
  const now = deps.clock.now();
  const em = deps.em();
  const observations: AlertObservation[] = [];
  const failed: EvaluationResult['failed'] = [];
  const pending: string[] = [];
  for (const rule of rules) {
    let instances: Awaited<ReturnType<typeof rule.evaluate>>;
    try {
      instances = await rule.evaluate({
        em: deps.em,
        now,
        config: deps.config,
        probes: deps.runbooks.probes,
        ...(deps.startedAt ? { startedAt: deps.startedAt } : {}),
        ...(deps.expectedJobs ? { expectedJobs: deps.expectedJobs } : {}),
      });
    } catch (err) {
      failed.push({ rule: rule.name, error: (err as Error)?.message ?? String(err) });
      deps.logger.error({ rule: rule.name, err: (err as Error)?.message }, 'alert rule evaluation failed');
      continue;
    }
    const holding = new Set<string>();
    for (const inst of instances) {
      const labels = { ...inst.labels, alertname: rule.name, severity: rule.severity, runbook: rule.runbook };
      const fingerprint = internalFingerprint(rule.name, inst.labels);
      holding.add(fingerprint);
      const base = {
        fingerprint,
        groupKey: alertGroupKey(rule.name, fingerprint),
        source: 'internal' as const,
        name: rule.name,
        severity: rule.severity,
        labels,
        annotations: { summary: inst.summary, description: rule.description, value: String(inst.value) },
        runbook: rule.runbook,
      };
      const row = await markPending(em, base, now);
      if (row.status === 'firing') {
        observations.push({ ...base, status: 'firing', startsAt: row.startsAt ?? now });
        continue;
      }
      const since = row.pendingSince ?? now;
      if (now.getTime() - since.getTime() >= rule.forMs) observations.push({ ...base, status: 'firing', startsAt: since });
      else pending.push(`${rule.name}${Object.keys(inst.labels).length ? JSON.stringify(inst.labels) : ''}`);
    }
    // instances of this rule that were pending or firing (whoever reported them) and no longer hold: resolved as
    // far as the in-process evaluation sees (with ALERT_SOURCE=both, Alertmanager may still hold them firing)
    const active = await activeRuleAlerts(em, rule.name);
    for (const a of active) {
      if (holding.has(a.fingerprint)) continue;
      observations.push({
        fingerprint: a.fingerprint,
        groupKey: alertGroupKey(rule.name, a.fingerprint),
        source: 'internal',
        name: rule.name,
        severity: a.severity,
        labels: a.labels,
        annotations: a.annotations,
        runbook: rule.runbook,
        status: 'resolved',
        startsAt: a.startsAt ?? now,
        endsAt: now,
      });
    }
  }
  const processed = await processAlertObservations(deps, observations);
  return { ...processed, failed, pending };
}
