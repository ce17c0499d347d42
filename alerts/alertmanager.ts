/**
 * Alertmanager webhook payloads (version "4", https://prometheus.io/docs/alerting/latest/configuration/#webhook_config)
 * and their mapping to {@link AlertObservation}s, the one shape every alert takes into alerts/store.ts.
 *
 * Semantics (prometheus/alertmanager#878, #1755): Alertmanager notifies per group and every payload repeats every alert of the group; the
 * top-level `status` is `firing` as soon as one alert in it fires. So each alert is mapped on its own status, never
 * on the payload's. `endsAt` "0001-01-01T00:00:00Z" (Go's zero time) means unset; a firing alert's `endsAt` is
 * Alertmanager's resolve-timeout guess and is not a resolution time, so it is only kept on resolved alerts.
 * `truncatedAlerts` > 0 means alerts were left out (`max_alerts`): the absent ones are simply not observed (never
 * treated as resolved).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { AlertSeverity } from '../db/entities/alerting.entity.js';
import { findRunbook } from '../runbooks/index.js';
import { findRule } from './rules.js';
import { alertGroupKey, alertIdentity } from './source.js';
import type { AlertObservation } from './store.js';

/** Go's zero `time.Time` as Alertmanager serialises it: an unset `endsAt`. */
export const GO_ZERO_TIME = '0001-01-01T00:00:00Z';

/** RFC 3339 date-time with any number of fractional digits (Go prints nanoseconds) and `Z` or an offset. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

const timestamp = z
  .string()
  .refine((s) => RFC3339.test(s) && !Number.isNaN(Date.parse(s)), { message: 'expected an RFC 3339 timestamp' });

/** Label and annotation maps: string to string. */
const stringMap = z.record(z.string(), z.string());

/**
 * One alert of a v4 payload. `status`, `fingerprint`, `generatorURL` and `endsAt` are optional because older
 * Alertmanager versions and some relays omit them (recorded payloads do); see {@link alertStatus} and
 * {@link alertFingerprint} for the fallbacks.
 */
export const AlertmanagerAlertSchema = z.object({
  status: z.enum(['firing', 'resolved']).optional(),
  labels: stringMap,
  annotations: stringMap.default({}),
  startsAt: timestamp,
  endsAt: timestamp.optional(),
  generatorURL: z.string().optional(),
  fingerprint: z.string().min(1).optional(),
});

/**
 * The Alertmanager webhook payload, version "4". Unknown keys (e.g. `notification_reason`) are accepted and
 * dropped. `truncatedAlerts` defaults to 0 (absent before Alertmanager 0.20 and in some relays).
 */
export const AlertmanagerPayloadSchema = z.object({
  version: z.literal('4'),
  groupKey: z.string().min(1),
  truncatedAlerts: z.number().int().min(0).default(0),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string().default(''),
  groupLabels: stringMap.default({}),
  commonLabels: stringMap.default({}),
  commonAnnotations: stringMap.default({}),
  externalURL: z.string().default(''),
  alerts: z.array(AlertmanagerAlertSchema),
});

/** A validated v4 payload. */
export type AlertmanagerPayload = z.infer<typeof AlertmanagerPayloadSchema>;
/** One validated alert of a payload. */
export type AlertmanagerAlert = z.infer<typeof AlertmanagerAlertSchema>;

/** Result of {@link parseAlertmanagerPayload}: the payload, or a one-line reason naming the first problems. */
export type ParseResult = { ok: true; payload: AlertmanagerPayload } | { ok: false; error: string };

/** Validates a parsed JSON value as a v4 payload; `error` lists up to five issues as `path: message`. */
export function parseAlertmanagerPayload(value: unknown): ParseResult {
  const r = AlertmanagerPayloadSchema.safeParse(value);
  if (r.success) return { ok: true, payload: r.data };
  const issues = r.error.issues.slice(0, 5).map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
  const more = r.error.issues.length > 5 ? ` (+${r.error.issues.length - 5} more)` : '';
  return { ok: false, error: `not an Alertmanager v4 payload: ${issues.join('; ')}${more}` };
}

/** A timestamp, or undefined for Go's zero time (and anything before year 2). */
export function parseAmTime(s: string | undefined): Date | undefined {
  if (!s || s === GO_ZERO_TIME) return undefined;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) || d.getUTCFullYear() < 2 ? undefined : d;
}

/**
 * Alertmanager's own fingerprint of a label set (prometheus/common `model.LabelSet.Fingerprint`): FNV-1a 64 over
 * the label names in byte order, each name and value followed by the separator byte 0xFF, as 16 hex digits. Used
 * when an alert carries no `fingerprint` (Alertmanager < 0.19, some relays), so it gets the id a newer
 * Alertmanager would give it.
 */
export function labelsFingerprint(labels: Record<string, string>): string {
  const PRIME = 0x100000001b3n;
  const MASK = 0xffffffffffffffffn;
  let h = 0xcbf29ce484222325n;
  const add = (bytes: Uint8Array) => {
    for (const b of bytes) h = ((h ^ BigInt(b)) * PRIME) & MASK;
  };
  const sep = Uint8Array.of(0xff);
  const enc = new TextEncoder();
  const names = Object.keys(labels).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const name of names) {
    add(enc.encode(name));
    add(sep);
    add(enc.encode(labels[name]!));
    add(sep);
  }
  return h.toString(16).padStart(16, '0');
}

/**
 * An alert's status: its own `status`; when absent (old senders), Alertmanager's rule `Resolved()`: `endsAt` set
 * and not after `now`. Never the payload's top-level status.
 */
export function alertStatus(alert: AlertmanagerAlert, now: Date): 'firing' | 'resolved' {
  if (alert.status) return alert.status;
  const ends = parseAmTime(alert.endsAt);
  return ends && ends.getTime() <= now.getTime() ? 'resolved' : 'firing';
}

/**
 * The fingerprint each alert of `payload` is stored under, in order: its `fingerprint`, or
 * {@link labelsFingerprint} when it has none. When one fingerprint is shared by alerts with different labels in
 * the same payload (a relay sending a constant; recorded in the bougou adapter payload), it cannot identify them,
 * so those alerts use {@link labelsFingerprint} too.
 */
export function alertFingerprints(payload: AlertmanagerPayload): string[] {
  const labelSets = new Map<string, Set<string>>();
  for (const a of payload.alerts) {
    if (!a.fingerprint) continue;
    const set = labelSets.get(a.fingerprint) ?? new Set<string>();
    set.add(labelsFingerprint(a.labels));
    labelSets.set(a.fingerprint, set);
  }
  return payload.alerts.map((a) => (a.fingerprint && labelSets.get(a.fingerprint)!.size === 1 ? a.fingerprint : labelsFingerprint(a.labels)));
}

/** Prometheus-style severity words mapped to ours; anything else (or none) is `warning`. */
const SEVERITY_WORDS: Readonly<Record<string, AlertSeverity>> = {
  critical: 'critical',
  crit: 'critical',
  fatal: 'critical',
  emergency: 'critical',
  emerg: 'critical',
  alert: 'critical',
  page: 'critical',
  disaster: 'critical',
  major: 'critical',
  high: 'critical',
  p1: 'critical',
  sev1: 'critical',
  sev2: 'critical',
  warning: 'warning',
  warn: 'warning',
  minor: 'warning',
  medium: 'warning',
  error: 'warning',
  info: 'info',
  informational: 'info',
  information: 'info',
  notice: 'info',
  low: 'info',
  none: 'info',
  debug: 'info',
};

/** Our severity for a `severity` label value (case-insensitive): critical, warning or info; default warning. */
export function mapSeverity(value: string | undefined): AlertSeverity {
  return (value && SEVERITY_WORDS[value.trim().toLowerCase()]) || 'warning';
}

/**
 * The runbook id of an alert: the first of `labels.runbook`, `annotations.runbook_id`, `annotations.runbook`,
 * `annotations.runbook_url` that names a runbook ({@link findRunbook}: id or alias; a URL is tried by its last
 * path segment), else the runbook of the internal rule named `labels.alertname` ({@link findRule}), else undefined.
 */
export function alertRunbook(labels: Record<string, string>, annotations: Record<string, string>): string | undefined {
  for (const candidate of [labels.runbook, annotations.runbook_id, annotations.runbook, annotations.runbook_url]) {
    if (!candidate?.trim()) continue;
    const direct = findRunbook(candidate);
    if (direct) return direct.id;
    const segment = /^[a-z]+:\/\//i.test(candidate) ? candidate.replace(/[?#].*$/, '').replace(/\/+$/, '').split('/').pop() : undefined;
    const viaUrl = segment ? findRunbook(segment.replace(/\.(md|html?)$/i, '')) : undefined;
    if (viaUrl) return viaUrl.id;
  }
  const name = labels.alertname;
  return name ? findRule(name)?.runbook : undefined;
}

/**
 * Maps a validated payload to one observation per alert, in payload order: fingerprint = the alert's identity
 * (alerts/source.ts alertIdentity: name + sorted identity labels, the same an in-process evaluation gives it; the
 * payload's `fingerprint` is not used, see {@link alertFingerprints} for Alertmanager's own), `groupKey` =
 * `rule:<name>` for our rules, else the payload's, source `alertmanager`, name = `labels.alertname`
 * (`unnamed` when absent), severity per {@link mapSeverity}, runbook per {@link alertRunbook}, status per
 * {@link alertStatus} (`now` is only used for alerts without a status), `startsAt` parsed, `endsAt` only on resolved
 * alerts and only when set. Labels and annotations are copied as they are.
 */
export function toObservations(payload: AlertmanagerPayload, now: Date = new Date()): AlertObservation[] {
  return payload.alerts.map((a) => {
    const status = alertStatus(a, now);
    const endsAt = status === 'resolved' ? parseAmTime(a.endsAt) : undefined;
    const runbook = alertRunbook(a.labels, a.annotations);
    const name = a.labels.alertname?.trim() || 'unnamed';
    return {
      fingerprint: alertIdentity(name, a.labels),
      groupKey: alertGroupKey(name, payload.groupKey),
      source: 'alertmanager' as const,
      name,
      severity: mapSeverity(a.labels.severity),
      labels: { ...a.labels },
      annotations: { ...a.annotations },
      ...(runbook ? { runbook } : {}),
      status,
      startsAt: parseAmTime(a.startsAt) ?? now,
      ...(endsAt ? { endsAt } : {}),
    };
  });
}

/** SHA-256 (hex) of a delivery's exact bytes: its `webhook_inbox.event_id`, so an identical resend is one row. */
export function deliveryId(raw: Buffer): string {
  return createHash('sha256').update(raw).digest('hex');
}
