/**
 * The one-line text of each ops event type (alerts/format.ts `eventText`): a table from the event `type` to a
 * renderer of its payload. Types without an entry are shown as `type: payload JSON` by the caller.
 */
import { forcedOpenText } from '../domain/queries/breakers.js';

/** Renders an event's payload as one line of plain Slack text. */
type EventTextRenderer = (p: Record<string, unknown>) => string;

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

/** The renderers, by event type (look up with {@link eventTextRenderer}: a plain object has inherited keys). */
const EVENT_TEXTS: Readonly<Record<string, EventTextRenderer>> = {
  'pipeline.run_started': (p) => `Pipeline run #${p.runId} started (${p.trigger}).`,
  'pipeline.run_finished': (p) => {
    const failures = Object.entries((p.failures ?? {}) as Record<string, number>).map(([k, n]) => `${n} ${k === 'send_failed' ? 'send failures' : 'assessment failures'}`);
    const head = failures.length ? `finished WITH FAILURES (${failures.join(', ')})` : 'finished';
    const hint = failures.length ? ' `/lf diagnose email` shows them by error class; retryable sends go out with the next email batch.' : '';
    return `Pipeline run #${p.runId} ${head} in ${Math.round(Number(p.durationMs) / 1000)} s: ${countsLine(p.counts)}.${hint}`;
  },
  'pipeline.run_failed': (p) => `Pipeline run #${p.runId} FAILED: ${String(p.error ?? 'unknown error')}. So far: ${countsLine(p.counts)}.`,
  'pipeline.stuck_items': (p) => {
    const b = (p.businesses as { status: string; count: number }[] | undefined) ?? [];
    const parts = b.map((x) => `${x.count} ${x.status}`);
    const sending = (p.sendingEmails as { count: number } | undefined)?.count ?? 0;
    if (sending > 0) parts.push(`${sending} emails stuck in sending (not re-sent; check SendGrid)`);
    return `Pipeline items waiting longer than ${p.thresholdMinutes} min: ${parts.join(', ')}. Run #${p.runId} picks the businesses up again.`;
  },
  'payment.failed': (p) => `Payment failed for purchase #${p.purchaseId ?? '?'}${p.reason ? `: ${String(p.reason).slice(0, 300)}` : ''}.`,
  'webhook.signature_failed': (p) => `${String(p.provider ?? 'Webhook')} deliveries are failing signature verification: ${firstSentence(String(p.reason ?? p.error ?? 'bad signature'))} Check the webhook secret.`,
  'report.failed': (p) => `Audit report for purchase #${p.purchaseId ?? '?'} could not be emailed: ${String(p.error ?? '').slice(0, 300)}. Use the resend remediation.`,
  'delivery.bounce_rate_high': (p) => `Email bounce rate ${(Number(p.rate) * 100).toFixed(1)}% over the last 24 h (${p.bounced} of ${p.sent} sent) is above ${(Number(p.threshold) * 100).toFixed(0)}%.`,
  'breaker.opened': (p) => {
    if (String(p.reason ?? '').startsWith('forced:')) return `Circuit breaker for ${p.provider} ${forcedOpenText(String(p.reason))}: calls to ${p.provider} are refused until then (an operator's action, not a provider failure).`;
    return `Circuit breaker for ${p.provider} OPENED after repeated failures (${String(p.reason ?? '')}). Calls to ${p.provider} are refused until it recovers.${p.lastError ? ` Last error: ${String(p.lastError).slice(0, 300)}` : ''}`;
  },
  'breaker.closed': (p) => `Circuit breaker for ${p.provider} closed: ${p.provider} recovered (${String(p.reason ?? '')}).`,
  'breaker.reset': (p) => `Circuit breaker for ${p.provider} reset${p.by ? ` by ${String(p.by)}` : ''} (was ${String(p.from ?? '?').replace('_', '-')}): the next call to ${p.provider} is a probe; ${p.provider} is reported recovered only when calls succeed.`,
  'breaker.held_open': (p) => `Circuit breaker for ${p.provider} kept open${p.by ? ` by ${String(p.by)}` : ''} until ${String(p.until ?? '?')}: calls to ${p.provider} stay refused until then.`,
  'breaker.force_closed': (p) => `Circuit breaker for ${p.provider} FORCE-CLOSED${p.by ? ` by ${String(p.by)}` : ''} (was ${String(p.from ?? '?').replace('_', '-')}): calls to ${p.provider} go through again without a probe; not a recovery — it re-opens if ${p.provider} keeps failing.`,
  'breaker.half_opened': (p) => `Circuit breaker for ${p.provider} half_open: probing.`,
  'breaker.reopened': (p) => `Circuit breaker for ${p.provider} re-opened: the probe failed.`,
  'budget.threshold': (p) => `${p.provider} ${p.period} spend at ${p.threshold}% of budget: $${Number(p.spentUsd).toFixed(2)} of $${Number(p.limitUsd).toFixed(2)}${p.blocking && Number(p.threshold) >= 100 ? ' — calls are now blocked' : ''}.`,
  'health.changed': (p) => {
    const d = (p.diagnostics as Record<string, { status: string; summary: string }> | undefined) ?? {};
    const bad = Object.entries(d).filter(([, f]) => f.status !== 'ok' && f.status !== 'no_data');
    const detail = bad.map(([id, f]) => `${id} ${f.status}: ${String(f.summary).slice(0, 200)}`).join('; ');
    const head =
      p.direction === 'worse' ? `Health got worse: ${p.from} → ${p.to}` : p.direction === 'better' ? `Health recovered: ${p.from} → ${p.to}` : `Health check status: ${p.to}`;
    return `${head}.${detail ? ` ${detail}` : ''}`;
  },
  'job.missed': (p) => `Job ${p.job} did not run: due at ${p.dueAt} (schedule \`${p.cron}\` UTC). \`/lf jobs\`, \`/lf run ${p.job}\`.`,
  'job.late': (p) => `Job ${p.job} started late: due at ${p.dueAt}, started ${p.startedAt}.`,
  'job.stuck': (p) => `Job ${p.job} run #${p.runId} looks stuck: no heartbeat since ${p.heartbeatAt}. \`/lf diagnose resources\` can restart its worker.`,
  'quota.reset': (p) => `Daily targeting quotas reset (${p.targets} active targets, ${p.usedBefore} of ${p.totalQuota} used yesterday).`,
  'reconciliation.done': (p) => {
    const st = (p.stripe ?? {}) as Record<string, unknown>;
    const sg = (p.sendgrid ?? {}) as Record<string, unknown>;
    const parts: string[] = [];
    if (st.error) parts.push(`Stripe events could not be listed: ${String(st.error).slice(0, 200)}`);
    else if (Number(st.missing) > 0) parts.push(`Stripe: ${st.missing} missed webhook events replayed (${st.applied} applied, ${st.failed} failed)`);
    if (Number(sg.silent) > 0) parts.push(`SendGrid: ${sg.silent} emails sent over ${p.silentHours ?? 24} h ago have no event yet (not re-sent; check the event webhook)`);
    return `Reconciliation: ${parts.join('; ') || 'nothing to repair'}.`;
  },
  'maintenance.weekly': (p) => {
    const unused = (p.unusedIndexes as { index: string }[] | undefined) ?? [];
    const heavy = (p.seqScanHeavy as { table: string }[] | undefined) ?? [];
    const failed = (p.failed as { table: string }[] | undefined) ?? [];
    const pruned = (p.pruned as Record<string, number> | undefined) ?? {};
    const prunedText = Object.values(pruned).some((n) => n > 0) ? ` Old rows removed: ${Object.entries(pruned).map(([k, n]) => `${k} ${n}`).join(', ')}.` : '';
    return `Weekly maintenance: VACUUM ANALYZE of ${p.vacuumed} tables in ${Math.round(Number(p.durationMs) / 1000)} s${failed.length ? ` (${failed.length} failed: ${failed.map((f) => f.table).join(', ')})` : ''}.${prunedText} Unused indexes: ${Number(p.unusedCount ?? unused.length) ? unused.map((i) => i.index).join(', ') : 'none'}. Seq-scan-heavy tables: ${heavy.length ? heavy.map((t) => t.table).join(', ') : 'none'}.`;
  },
  'maintenance.monthly': (p) => {
    const mb = (b: unknown) => `${(Number(b) / 1_048_576).toFixed(1)} MB`;
    const largest = ((p.largest as { table: string; bytes: number }[] | undefined) ?? []).slice(0, 5);
    const growing = ((p.fastestGrowing as { table: string; bytesDelta: number }[] | undefined) ?? []).slice(0, 3);
    const growth = p.totalBytesDelta === null || p.totalBytesDelta === undefined ? 'first report, no growth yet' : `${Number(p.totalBytesDelta) >= 0 ? '+' : ''}${mb(p.totalBytesDelta)} since ${String(p.since).slice(0, 10)}`;
    return `Monthly table report: ${mb(p.totalBytes)} in ${p.tableCount} tables (${growth}). Largest: ${largest.map((t) => `${t.table} ${mb(t.bytes)}`).join(', ')}.${growing.length ? ` Fastest growing: ${growing.map((t) => `${t.table} +${mb(t.bytesDelta)}`).join(', ')}.` : ''}`;
  },
  'review.quarterly': (p) => {
    const inc = (p.incidents ?? {}) as { total?: number; bySeverity?: Record<string, number>; mttaMinutes?: number | null };
    const list = (o: unknown) => Object.entries((o ?? {}) as Record<string, number>).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
    return `Quarterly review ${p.quarter}: ${inc.total ?? 0} incidents (${list(inc.bySeverity)}), mean time to acknowledge ${inc.mttaMinutes ?? '–'} min. Alerts fired: ${list(p.alertsFired)}. Job runs: ${list(p.jobRuns)}. Provider spend $${Number(p.totalSpendUsd ?? 0).toFixed(2)} (${Object.entries((p.spendUsd ?? {}) as Record<string, number>).map(([k, v]) => `${k} $${Number(v).toFixed(2)}`).join(', ') || 'none'}).`;
  },
};

/** The renderer of event `type`, or undefined when it has none. */
export function eventTextRenderer(type: string): EventTextRenderer | undefined {
  return Object.hasOwn(EVENT_TEXTS, type) ? EVENT_TEXTS[type] : undefined;
}
