/**
 * One alert path (issue #14): an alert's identity is its name and its sorted identity labels, whoever evaluated it
 * (the in-process rules or Prometheus → Alertmanager), so both sources land on the same `alerts` row, the same
 * notification group, the same Slack message and the same incident.
 *
 * - Identity labels of one of our rules (alerts/rules.ts) are the labels the rule declares (`AlertRule.labels`,
 *   e.g. `provider`); whatever Prometheus adds (`instance`, `job`, external labels, `severity`, `runbook`) is not
 *   part of the identity. Any other alert's identity is all its labels but `alertname`.
 * - The notification group of one of our rules is `rule:<name>` (Alertmanager's `group_by: [alertname]`), whoever
 *   reported it; other alerts keep Alertmanager's `groupKey`.
 * - `ALERT_SOURCE` (domain/alerting/config.ts) says who evaluates our rules: `internal` drops Alertmanager's copies
 *   of them (its other alerts still pass), `alertmanager` turns in-process evaluation off, `both` merges the two:
 *   an alert fires when the first source reports it and resolves when no source still reports it firing
 *   (alerts/store.ts `source_status`).
 * - `Watchdog` (the always-firing dead man's switch of the exported rules) is a heartbeat, never a post: its last
 *   delivery is kept in the setting {@link WATCHDOG_SETTING}.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AlertSource } from '../domain/alerting/config.js';
import { getSetting, setSetting } from '../domain/settings.js';
import { findRule } from './rules.js';
import { internalFingerprint, type AlertObservation } from './store.js';

/** Name of the always-firing dead man's switch alert in the exported rules. */
export const WATCHDOG_ALERT = 'Watchdog';
/** Setting holding `{ lastSeen: ISO string }` of the last Watchdog delivery from Alertmanager. */
export const WATCHDOG_SETTING = 'alertmanager.watchdog';

/** The identity labels of alert `name` (see the module comment): a new object, keys as given. */
export function identityLabels(name: string, labels: Record<string, string>): Record<string, string> {
  const rule = findRule(name);
  if (rule) return Object.fromEntries((rule.labels ?? []).filter((k) => labels[k] !== undefined).map((k) => [k, labels[k]!]));
  return Object.fromEntries(Object.entries(labels).filter(([k]) => k !== 'alertname'));
}

/** The alert's identity (16 hex): SHA-256 of its name and sorted identity labels, the same for every source. */
export function alertIdentity(name: string, labels: Record<string, string>): string {
  return internalFingerprint(name, identityLabels(name, labels));
}

/** The notification group of alert `name`: `rule:<name>` for our rules, else `fallback` (Alertmanager's groupKey). */
export function alertGroupKey(name: string, fallback: string): string {
  return findRule(name) ? `rule:${name}` : fallback;
}

/** True when the in-process evaluator runs the rules under `mode`. */
export function evaluatesInProcess(mode: AlertSource): boolean {
  return mode !== 'alertmanager';
}

/** One line for the start-up log naming the active alert source. */
export function alertSourceLine(mode: AlertSource, evalIntervalMs: number): string {
  const internal = `in-process rules every ${evalIntervalMs / 1000} s`;
  const am = 'Alertmanager deliveries on /alerts/alertmanager';
  if (mode === 'internal') return `alert source: internal (${internal}; Alertmanager copies of these rules are ignored)`;
  if (mode === 'alertmanager') return `alert source: alertmanager (${am}; no in-process evaluation)`;
  return `alert source: both (${internal} and ${am}; one post and one incident per alert group, whichever reports first)`;
}

/** What {@link filterAlertmanagerObservations} kept and why it left the others out. */
export interface SourceFilterResult {
  kept: AlertObservation[];
  /** Our rules' alerts ignored because ALERT_SOURCE=internal evaluates them in-process. */
  ignored: string[];
  /** Watchdog heartbeats seen (recorded, not posted). */
  heartbeats: number;
}

/**
 * Filters Alertmanager observations by `mode` and records Watchdog heartbeats (setting {@link WATCHDOG_SETTING},
 * only for a firing Watchdog). Never drops alerts that are not ours.
 */
export async function filterAlertmanagerObservations(em: EntityManager, mode: AlertSource, observations: AlertObservation[], now: Date): Promise<SourceFilterResult> {
  const out: SourceFilterResult = { kept: [], ignored: [], heartbeats: 0 };
  for (const obs of observations) {
    if (obs.name === WATCHDOG_ALERT) {
      if (obs.status === 'firing') {
        out.heartbeats++;
        await setSetting(em, WATCHDOG_SETTING, { lastSeen: now.toISOString() }, 'system:alertmanager', now);
      }
      continue;
    }
    if (mode === 'internal' && findRule(obs.name)) out.ignored.push(obs.name);
    else out.kept.push(obs);
  }
  return out;
}

/** When Alertmanager's Watchdog was last delivered, or undefined if never. */
export async function lastWatchdog(em: EntityManager): Promise<Date | undefined> {
  const v = await getSetting<{ lastSeen?: string }>(em, WATCHDOG_SETTING);
  return v?.lastSeen ? new Date(v.lastSeen) : undefined;
}
