/**
 * Turns stored ops events into Slack messages: the plain text (also the console line and the notification text)
 * and a structured `ops_event` body, which the composition root's renderer turns into Block Kit
 * (bot/render/slack-messages.ts). No Block Kit here: alerts/ hands over what happened, bot/ says how it looks.
 */
import { forcedOpenText } from '../domain/queries/breakers.js';
import type { IOpsEvent, OpsSeverity } from '../db/entities/index.js';
import type { SlackRoute } from './slack-routing.js';

/**
 * An ops event as handed to the outbox: `text` (severity emoji + {@link eventText}) and the structured body
 * `{ type: 'ops_event', event: { type, severity, createdAt (ISO 8601 UTC) } }` the renderer lays out.
 */
export interface OpsMessage {
  text: string;
  body: { type: 'ops_event'; event: { type: string; severity: OpsSeverity; createdAt: string } };
  /** Where it goes: `recoveries` for a recovery (a breaker closing, health better), else `status`. */
  route: SlackRoute;
}

const SEVERITY_EMOJI = { info: ':large_blue_circle:', warning: ':warning:', critical: ':red_circle:' } as const;

function countsLine(counts: unknown): string {
  if (!counts || typeof counts !== 'object') return '';
  const c = counts as Record<string, number>;
  const order = ['sourced', 'assessed', 'assessment_failed', 'scored', 'personalized', 'held', 'emailed', 'send_failed'];
  return order.filter((k) => k in c).map((k) => `${k} ${c[k]}`).join(' · ');
}

/** The first sentence of a provider's message (their texts run long), ending in a full stop. */
function firstSentence(text: string): string {
  const one = text.replace(/\s+/g, ' ').trim();
  const m = one.match(/^.{1,200}?[.!?](\s|$)/);
  return (m ? m[0] : `${one.slice(0, 200)}…`).trim().replace(/([^.!?…])$/, '$1.');
}

/** One line of text for an event (also the console line and the notification text). */
export function eventText(ev: Pick<IOpsEvent, 'type' | 'severity' | 'payload'>): string {
  const p = ev.payload as Record<string, unknown>;
  switch (ev.type) {
    case 'pipeline.run_started':
      return `Pipeline run #${p.runId} started (${p.trigger}).`;
    case 'pipeline.run_finished': {
      const failures = Object.entries((p.failures ?? {}) as Record<string, number>).map(([k, n]) => `${n} ${k === 'send_failed' ? 'send failures' : 'assessment failures'}`);
      const head = failures.length ? `finished WITH FAILURES (${failures.join(', ')})` : 'finished';
      const hint = failures.length ? ' `/lf diagnose email` shows them by error class; retryable sends go out with the next email batch.' : '';
      return `Pipeline run #${p.runId} ${head} in ${Math.round(Number(p.durationMs) / 1000)} s: ${countsLine(p.counts)}.${hint}`;
    }
    case 'pipeline.run_failed':
      return `Pipeline run #${p.runId} FAILED: ${String(p.error ?? 'unknown error')}. So far: ${countsLine(p.counts)}.`;
    case 'pipeline.stuck_items': {
      const b = (p.businesses as { status: string; count: number }[] | undefined) ?? [];
      const parts = b.map((x) => `${x.count} ${x.status}`);
      const sending = (p.sendingEmails as { count: number } | undefined)?.count ?? 0;
      if (sending > 0) parts.push(`${sending} emails stuck in sending (not re-sent; check SendGrid)`);
      return `Pipeline items waiting longer than ${p.thresholdMinutes} min: ${parts.join(', ')}. Run #${p.runId} picks the businesses up again.`;
    }
    case 'payment.failed':
      return `Payment failed for purchase #${p.purchaseId ?? '?'}${p.reason ? `: ${String(p.reason).slice(0, 300)}` : ''}.`;
    case 'webhook.signature_failed':
      return `${String(p.provider ?? 'Webhook')} deliveries are failing signature verification: ${firstSentence(String(p.reason ?? p.error ?? 'bad signature'))} Check the webhook secret.`;
    case 'report.failed':
      return `Audit report for purchase #${p.purchaseId ?? '?'} could not be emailed: ${String(p.error ?? '').slice(0, 300)}. Use the resend remediation.`;
    case 'delivery.bounce_rate_high':
      return `Email bounce rate ${(Number(p.rate) * 100).toFixed(1)}% over the last 24 h (${p.bounced} of ${p.sent} sent) is above ${(Number(p.threshold) * 100).toFixed(0)}%.`;
    case 'breaker.opened':
      if (String(p.reason ?? '').startsWith('forced:')) return `Circuit breaker for ${p.provider} ${forcedOpenText(String(p.reason))}: calls to ${p.provider} are refused until then (an operator's action, not a provider failure).`;
      return `Circuit breaker for ${p.provider} OPENED after repeated failures (${String(p.reason ?? '')}). Calls to ${p.provider} are refused until it recovers.${p.lastError ? ` Last error: ${String(p.lastError).slice(0, 300)}` : ''}`;
    case 'breaker.closed':
      return `Circuit breaker for ${p.provider} closed: ${p.provider} recovered (${String(p.reason ?? '')}).`;
    case 'breaker.reset':
      return `Circuit breaker for ${p.provider} reset${p.by ? ` by ${String(p.by)}` : ''} (was ${String(p.from ?? '?').replace('_', '-')}): the next call to ${p.provider} is a probe; ${p.provider} is reported recovered only when calls succeed.`;
    case 'breaker.held_open':
      return `Circuit breaker for ${p.provider} kept open${p.by ? ` by ${String(p.by)}` : ''} until ${String(p.until ?? '?')}: calls to ${p.provider} stay refused until then.`;
    case 'breaker.force_closed':
      return `Circuit breaker for ${p.provider} FORCE-CLOSED${p.by ? ` by ${String(p.by)}` : ''} (was ${String(p.from ?? '?').replace('_', '-')}): calls to ${p.provider} go through again without a probe; not a recovery — it re-opens if ${p.provider} keeps failing.`;
    case 'breaker.half_opened':
      return `Circuit breaker for ${p.provider} half_open: probing.`;
    case 'breaker.reopened':
      return `Circuit breaker for ${p.provider} re-opened: the probe failed.`;
    case 'budget.threshold':
      return `${p.provider} ${p.period} spend at ${p.threshold}% of budget: $${Number(p.spentUsd).toFixed(2)} of $${Number(p.limitUsd).toFixed(2)}${p.blocking && Number(p.threshold) >= 100 ? ' — calls are now blocked' : ''}.`;
    case 'health.changed': {
      const d = (p.diagnostics as Record<string, { status: string; summary: string }> | undefined) ?? {};
      const bad = Object.entries(d).filter(([, f]) => f.status !== 'ok' && f.status !== 'no_data');
      const detail = bad.map(([id, f]) => `${id} ${f.status}: ${String(f.summary).slice(0, 200)}`).join('; ');
      const head =
        p.direction === 'worse' ? `Health got worse: ${p.from} → ${p.to}` : p.direction === 'better' ? `Health recovered: ${p.from} → ${p.to}` : `Health check status: ${p.to}`;
      return `${head}.${detail ? ` ${detail}` : ''}`;
    }
    case 'job.missed':
      return `Job ${p.job} did not run: due at ${p.dueAt} (schedule \`${p.cron}\` UTC). \`/lf jobs\`, \`/lf run ${p.job}\`.`;
    case 'job.late':
      return `Job ${p.job} started late: due at ${p.dueAt}, started ${p.startedAt}.`;
    case 'job.stuck':
      return `Job ${p.job} run #${p.runId} looks stuck: no heartbeat since ${p.heartbeatAt}. \`/lf diagnose resources\` can restart its worker.`;
    case 'quota.reset':
      return `Daily targeting quotas reset (${p.targets} active targets, ${p.usedBefore} of ${p.totalQuota} used yesterday).`;
    case 'reconciliation.done': {
      const st = (p.stripe ?? {}) as Record<string, unknown>;
      const sg = (p.sendgrid ?? {}) as Record<string, unknown>;
      const parts: string[] = [];
      if (st.error) parts.push(`Stripe events could not be listed: ${String(st.error).slice(0, 200)}`);
      else if (Number(st.missing) > 0) parts.push(`Stripe: ${st.missing} missed webhook events replayed (${st.applied} applied, ${st.failed} failed)`);
      if (Number(sg.silent) > 0) parts.push(`SendGrid: ${sg.silent} emails sent over ${p.silentHours ?? 24} h ago have no event yet (not re-sent; check the event webhook)`);
      return `Reconciliation: ${parts.join('; ') || 'nothing to repair'}.`;
    }
    case 'maintenance.weekly': {
      const unused = (p.unusedIndexes as { index: string }[] | undefined) ?? [];
      const heavy = (p.seqScanHeavy as { table: string }[] | undefined) ?? [];
      const failed = (p.failed as { table: string }[] | undefined) ?? [];
      const pruned = (p.pruned as Record<string, number> | undefined) ?? {};
      const prunedText = Object.values(pruned).some((n) => n > 0) ? ` Old rows removed: ${Object.entries(pruned).map(([k, n]) => `${k} ${n}`).join(', ')}.` : '';
      return `Weekly maintenance: VACUUM ANALYZE of ${p.vacuumed} tables in ${Math.round(Number(p.durationMs) / 1000)} s${failed.length ? ` (${failed.length} failed: ${failed.map((f) => f.table).join(', ')})` : ''}.${prunedText} Unused indexes: ${Number(p.unusedCount ?? unused.length) ? unused.map((i) => i.index).join(', ') : 'none'}. Seq-scan-heavy tables: ${heavy.length ? heavy.map((t) => t.table).join(', ') : 'none'}.`;
    }
    case 'maintenance.monthly': {
      const mb = (b: unknown) => `${(Number(b) / 1_048_576).toFixed(1)} MB`;
      const largest = ((p.largest as { table: string; bytes: number }[] | undefined) ?? []).slice(0, 5);
      const growing = ((p.fastestGrowing as { table: string; bytesDelta: number }[] | undefined) ?? []).slice(0, 3);
      const growth = p.totalBytesDelta === null || p.totalBytesDelta === undefined ? 'first report, no growth yet' : `${Number(p.totalBytesDelta) >= 0 ? '+' : ''}${mb(p.totalBytesDelta)} since ${String(p.since).slice(0, 10)}`;
      return `Monthly table report: ${mb(p.totalBytes)} in ${p.tableCount} tables (${growth}). Largest: ${largest.map((t) => `${t.table} ${mb(t.bytes)}`).join(', ')}.${growing.length ? ` Fastest growing: ${growing.map((t) => `${t.table} +${mb(t.bytesDelta)}`).join(', ')}.` : ''}`;
    }
    case 'review.quarterly': {
      const inc = (p.incidents ?? {}) as { total?: number; bySeverity?: Record<string, number>; mttaMinutes?: number | null };
      const list = (o: unknown) => Object.entries((o ?? {}) as Record<string, number>).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
      return `Quarterly review ${p.quarter}: ${inc.total ?? 0} incidents (${list(inc.bySeverity)}), mean time to acknowledge ${inc.mttaMinutes ?? '–'} min. Alerts fired: ${list(p.alertsFired)}. Job runs: ${list(p.jobRuns)}. Provider spend $${Number(p.totalSpendUsd ?? 0).toFixed(2)} (${Object.entries((p.spendUsd ?? {}) as Record<string, number>).map(([k, v]) => `${k} $${Number(v).toFixed(2)}`).join(', ') || 'none'}).`;
    }
    default:
      return `${ev.type}: ${JSON.stringify(p).slice(0, 500)}`;
  }
}

/**
 * Whether an event reports a recovery (a provider answering again, health getting better). `breaker.closed` is
 * only recorded when probe calls succeed; an operator's reset is `breaker.reset`, not a recovery.
 */
export function isRecovery(ev: Pick<IOpsEvent, 'type' | 'payload'>): boolean {
  return ev.type === 'breaker.closed' || (ev.type === 'health.changed' && (ev.payload as Record<string, unknown>).direction === 'better');
}

/** Builds the outbox message for an event (see {@link OpsMessage}). */
export function formatOpsEvent(ev: Pick<IOpsEvent, 'type' | 'severity' | 'payload' | 'createdAt'>): OpsMessage {
  const text = `${SEVERITY_EMOJI[ev.severity as OpsSeverity]} ${eventText(ev)}`;
  return {
    text,
    body: { type: 'ops_event', event: { type: ev.type, severity: ev.severity as OpsSeverity, createdAt: ev.createdAt.toISOString() } },
    route: isRecovery(ev) ? 'recoveries' : 'status',
  };
}

/**
 * Event types recorded for the timeline but not posted: a breaker's half_open probing and re-opens would
 * otherwise post on every cool-down cycle of one outage; a trip (`breaker.opened`) is posted once, by the
 * CircuitBreakerOpen alert in the alerts channel with its diagnosis (issue #14: not a second time here). The
 * recovery (`breaker.closed`, from successful provider calls) is posted. An operator keeping an open breaker open
 * (`breaker.held_open`) shows on the breaker cards (`/lf breakers`) and in the audit log, not as a post.
 */
export const QUIET_EVENT_TYPES: ReadonlySet<string> = new Set(['breaker.opened', 'breaker.half_opened', 'breaker.reopened', 'breaker.held_open']);
