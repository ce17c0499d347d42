/**
 * What a drill measured, as a report (pure): the times to detection and to diagnosis (from the moment the fault was
 * in force) and to recovery (from the moment it was cleared), what detected it (the breaker or an alert), the root
 * cause the diagnosis named, and the incident it opened. {@link drillReport} gives the outbox's plain text and the
 * structured `drill_report` body that bot/render/drill-report.ts lays out in Block Kit; the same lines go into the
 * incident's timeline and the CLI.
 */
import { parseFailureCause } from '../runbooks/provider-causes.js';
import type { DrillRow } from '../domain/queries/drills.js';

/** A root cause of a stored diagnosis that names `provider` (`<provider>-unavailable`, `-rate-limit`, …), or undefined. */
export function causeNaming(stored: Record<string, unknown> | null | undefined, provider: string): { id: string; title: string } | undefined {
  if (!stored) return undefined;
  // an alert stores `{ runbook, diagnosis: { rootCauses }, nonce, issuedAt }`; accept a bare diagnosis too
  const inner = (stored.diagnosis && typeof stored.diagnosis === 'object' ? stored.diagnosis : stored) as { rootCauses?: { id?: unknown; title?: unknown }[] };
  for (const c of inner.rootCauses ?? []) {
    const id = typeof c.id === 'string' ? c.id : '';
    if (parseFailureCause(id)?.provider === provider) return { id, title: typeof c.title === 'string' ? c.title : id };
  }
  return undefined;
}

/** Milliseconds for people: `850 ms`, `4.2 s`, `1 min 5 s`. */
export function elapsed(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
}

/** A duration as typed in the command: `90 s`, `2 min`, `1 h`. */
export function spanText(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${Math.round(ms / 1000)} s`;
}

/** The measured times of a drill, in ms (null: not reached). */
export interface DrillTimes {
  /** Fault in force → breaker opened or alert fired. */
  detectionMs: number | null;
  /** Fault in force → the alert post carrying a root cause that names the provider. */
  diagnosisMs: number | null;
  /** Fault cleared → a successful call (and the breaker closed, when it had opened). */
  recoveryMs: number | null;
}

/** {@link DrillTimes} of a drill row. */
export function drillTimes(d: DrillRow): DrillTimes {
  const since = (a: Date | null, b: Date | null) => (a && b ? a.getTime() - b.getTime() : null);
  return { detectionMs: since(d.detectedAt, d.startedAt), diagnosisMs: since(d.diagnosedAt, d.startedAt), recoveryMs: since(d.recoveredAt, d.faultClearedAt) };
}

/** The outbox body of a drill report (rendered by bot/render/drill-report.ts). Times ISO 8601 UTC. */
export interface DrillReportBody {
  type: 'drill_report';
  drill: number;
  provider: string;
  fault: string;
  durationMs: number;
  startedBy: string;
  status: string;
  startedAt: string;
  faultClearedAt: string | null;
  times: DrillTimes;
  detectedBy: string | null;
  rootCause: string | null;
  incidentId: number | null;
  lines: string[];
  [field: string]: unknown;
}

const OUTCOME: Record<string, string> = {
  done: 'completed',
  failed: 'failed',
  aborted: 'aborted',
  running: 'running',
  recovering: 'recovering',
};

/** The report's lines: detection, diagnosis, recovery, incident, and what went wrong (pure). */
export function drillLines(d: DrillRow): string[] {
  const t = drillTimes(d);
  const lines: string[] = [];
  lines.push(t.detectionMs !== null ? `Detection: ${elapsed(t.detectionMs)} after the fault was injected (${d.detectedBy === 'breaker' ? `the ${d.provider} breaker opened` : `alert ${d.detectedBy ?? '?'}`}${d.alertName && d.detectedBy !== d.alertName ? `; alert ${d.alertName}` : ''})` : 'Detection: not detected during the drill (no breaker trip, no alert about the provider)');
  lines.push(t.diagnosisMs !== null ? `Diagnosis: ${elapsed(t.diagnosisMs)} after injection — root cause ${d.rootCause ?? '?'}` : `Diagnosis: no diagnosis named ${d.provider} as the root cause`);
  if (d.faultClearedAt)
    lines.push(t.recoveryMs !== null ? `Recovery: ${elapsed(t.recoveryMs)} after the fault was cleared (a successful ${d.provider} call, breaker closed)` : `Recovery: ${d.provider} did not answer successfully after the fault was cleared`);
  else lines.push('Recovery: the fault was never cleared by the drill');
  if (d.incidentId !== null) lines.push(`Incident #${d.incidentId} was opened by the drill`);
  if (d.lastError) lines.push(`Note: ${d.lastError}`);
  return lines;
}

/** The one-line summary: `Drill #3 (yelp server_error, 2 min) completed: detected in 4.1 s, …`. */
export function drillSummary(d: DrillRow): string {
  const t = drillTimes(d);
  const part = (label: string, ms: number | null, none: string) => (ms === null ? none : `${label} ${elapsed(ms)}`);
  return `Drill #${d.id} (${d.provider} ${d.fault}, ${spanText(d.durationMs)}) ${OUTCOME[d.status] ?? d.status}: ${[part('detected in', t.detectionMs, 'not detected'), part('diagnosed in', t.diagnosisMs, 'not diagnosed'), part('recovered in', t.recoveryMs, 'not recovered')].join(', ')}`;
}

/** Plain text and the structured body of the report (pure). */
export function drillReport(d: DrillRow): { text: string; body: DrillReportBody } {
  const lines = drillLines(d);
  return {
    text: `${drillSummary(d)}\n${lines.join('\n')}`,
    body: {
      type: 'drill_report',
      drill: d.id,
      provider: d.provider,
      fault: d.fault,
      durationMs: d.durationMs,
      startedBy: d.startedBy,
      status: d.status,
      startedAt: d.startedAt.toISOString(),
      faultClearedAt: d.faultClearedAt?.toISOString() ?? null,
      times: drillTimes(d),
      detectedBy: d.detectedAt ? (d.detectedBy === 'breaker' ? 'breaker opened' : d.detectedBy) : null,
      rootCause: d.rootCause,
      incidentId: d.incidentId,
      lines,
    },
  };
}
