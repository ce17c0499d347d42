/**
 * The email-delivery runbook's diagnostics over the send queue and its signals (runbooks/email-delivery.ts): the
 * status histogram, the 24 h bounce rate (domain/delivery/bounce-rate.ts), stuck emails, recent bounces, spam scores,
 * the SendGrid key, the event webhook's lag, queued addresses failing the list rules, and the pause switch. Read-only.
 */
import { testAuthentication } from '../domain/gateway/diagnostics.js';
import { findUnsendable } from '../domain/delivery/list-check.js';
import { deliveryPause } from '../domain/delivery/pause.js';
import { recentBounceEvents, sentEmailsEventCoverage, webhookEventTotals } from '../domain/queries/email-events.js';
import {
  bounceRate,
  draftSpamReasons,
  draftSpamStats,
  emailStatusCounts,
  latestFailureMessage,
  recentBouncedEmails,
  spamReportsSince,
  stuckEmailBreakdown,
  stuckSendingIds,
} from '../domain/queries/email-figures.js';
import type { RunbookContext } from './context.js';
import type { Finding } from './define.js';

/** Window of "recent" in this runbook: 24 h in ms. */
export const RECENT_MS = 24 * 3600_000;

/** A sent email with no event at all after this long (ms) counts as "silent" for the webhook check (1 h). */
export const WEBHOOK_SILENT_AFTER_MS = 3600_000;

/** Silent sends at or above this count, and at least half of the window's sends, mean the webhook is not receiving. */
export const WEBHOOK_SILENT_MIN = 3;

/** Sending failures in 24 h at or above this count and share make the status histogram a problem. */
export const FAILED_MIN = 5;
export const FAILED_SHARE = 0.2;

/** Held drafts (over the spam threshold) at or above this share of 24 h drafts (with at least 5) mean spammy content. */
export const HELD_SHARE = 0.2;

/** Live provider checks give up after this long (ms), below the diagnostic's own timeout. */
export const PROBE_TIMEOUT_MS = 4000;

/** Whole minutes in `ms`. */
export const minutes = (ms: number): number => Math.round(ms / 60_000);
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
/** ISO string of an instant, or null. */
export const iso = (d: Date | string | null | undefined): string | null => (d ? new Date(d).toISOString() : null);

/** Replaces e-mail addresses inside provider text (bounce reasons quote the recipient) and trims it. */
export function maskAddresses(text: string, max = 160): string {
  const masked = text.replace(/[^\s<>()"',;:]+@[^\s<>()"',;:]+/g, '<address>');
  return masked.length > max ? `${masked.slice(0, max - 1)}…` : masked;
}

/** Resolves with `p`'s value, or `undefined` after `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)))]).finally(() => clearTimeout(timer));
}

/** status-distribution: emails by status, created in the last 24 h and all time; sending failures. */
export async function statusDistribution(ctx: RunbookContext): Promise<Finding> {
  const em = ctx.em();
  const since = new Date(ctx.services.clock.now().getTime() - RECENT_MS);
  const rows = await emailStatusCounts(em, since);
  const all: Record<string, number> = {};
  const last24h: Record<string, number> = {};
  for (const r of rows) {
    all[r.status] = r.total;
    if (r.recent > 0) last24h[r.status] = r.recent;
  }
  const total = Object.values(all).reduce((s, n) => s + n, 0);
  if (total === 0) return { status: 'no_data', summary: 'No outreach emails exist yet.', evidence: { all, last24h } };
  const recentTotal = Object.values(last24h).reduce((s, n) => s + n, 0);
  const failed = last24h.failed ?? 0;
  const lastMessage = await latestFailureMessage(em, since);
  const lastFailure = lastMessage ? maskAddresses(lastMessage) : null;
  const evidence = { all, last24h, total, recentTotal, failed24h: failed, lastFailure };
  const counts =
    Object.entries(last24h)
      .map(([s, n]) => `${n} ${s}`)
      .join(', ') || 'none';
  const summary = `${total} emails in all; of the ${recentTotal} drafted in the last 24 h: ${counts}.`;
  if (failed >= FAILED_MIN && failed / recentTotal >= FAILED_SHARE)
    return { status: 'problem', summary: `${summary} ${failed} failed to send (last error: ${lastFailure ?? 'none'}).`, evidence };
  return { status: failed > 0 ? 'warn' : 'ok', summary, evidence };
}

/** bounce-rate: 24 h bounce rate vs the threshold (judged from `BOUNCE_RATE_MIN_SENDS` sends). */
export async function bounceRateCheck(ctx: RunbookContext): Promise<Finding> {
  const r = await bounceRate(ctx.em(), ctx.services.clock.now(), ctx.services.config.delivery);
  const evidence = { sent: r.sent, bounced: r.bounced, rate: Number(r.rate.toFixed(4)), threshold: r.threshold, minSends: r.minSends };
  if (r.sent === 0) return { status: 'no_data', summary: 'No emails were sent in the last 24 h.', evidence };
  const line = `${r.bounced} of ${r.sent} emails sent in the last 24 h bounced (${pct(r.rate)}; threshold ${pct(r.threshold)})`;
  if (r.aboveThreshold) return { status: 'problem', summary: `${line}.`, evidence };
  if (r.rate > r.threshold) return { status: 'warn', summary: `${line}, but fewer than ${r.minSends} sends: too few to judge.`, evidence };
  return { status: 'ok', summary: `${line}.`, evidence };
}

/**
 * stuck-emails: `sending` with a claim older than the claim timeout (`STUCK_AFTER_MINUTES`), and `pending` unchanged
 * (`updated_at`) for longer than that.
 */
export async function stuckEmails(ctx: RunbookContext): Promise<Finding> {
  const em = ctx.em();
  const now = ctx.services.clock.now();
  const thresholdMs = ctx.services.config.stages.stuckAfterMs;
  const cutoff = new Date(now.getTime() - thresholdMs);
  const [row, sendingIds, pause] = await Promise.all([stuckEmailBreakdown(em, cutoff), stuckSendingIds(em, cutoff, 10), deliveryPause(em)]);
  const sending = row.sending;
  const pending = row.pending;
  const age = (d: Date | null) => (d ? minutes(now.getTime() - d.getTime()) : null);
  const evidence = {
    thresholdMinutes: minutes(thresholdMs),
    stuckSending: sending,
    stuckPending: pending,
    oldestSendingMinutes: age(row.oldestSending),
    oldestPendingMinutes: age(row.oldestPending),
    sendingIds,
    deliveryPaused: pause.paused,
  };
  if (sending === 0 && pending === 0)
    return { status: 'ok', summary: `No email has waited in pending or sending for more than ${minutes(thresholdMs)} min.`, evidence };
  const summary = `${sending} email(s) stuck in sending (claim older than ${minutes(thresholdMs)} min) and ${pending} pending for more than ${minutes(thresholdMs)} min`;
  if (sending === 0 && pause.paused) return { status: 'warn', summary: `${summary}: delivery is paused (by ${pause.by}).`, evidence };
  return { status: 'problem', summary: `${summary}.`, evidence };
}

/** recent-bounces: bounce and drop events of the last 24 h (email_events; else emails.bounce_reason) with reasons. */
export async function recentBounces(ctx: RunbookContext): Promise<Finding> {
  const em = ctx.em();
  const since = new Date(ctx.services.clock.now().getTime() - RECENT_MS);
  let rows = await recentBounceEvents(em, since);
  const source = rows.length > 0 ? 'email_events' : 'emails';
  if (rows.length === 0) rows = await recentBouncedEmails(em, since);
  const byReason = new Map<string, number>();
  let hard = 0;
  let blocked = 0;
  let dropped = 0;
  for (const r of rows) {
    if (r.event === 'dropped') dropped++;
    else if (r.type === 'blocked') blocked++;
    else hard++;
    const reason = maskAddresses(r.reason ?? '(no reason given)', 120);
    byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
  }
  const topReasons = [...byReason]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([reason, n]) => ({ reason, n }));
  const recent = rows.slice(0, 5).map((r) => ({ emailId: r.emailId, event: r.event, type: r.type, reason: maskAddresses(r.reason ?? '', 120), at: iso(r.at) }));
  const evidence = { count: rows.length, hard, blocked, dropped, topReasons, recent, source };
  if (rows.length === 0) return { status: 'ok', summary: 'No bounces or drops in the last 24 h.', evidence };
  const top = topReasons[0]!;
  return {
    status: 'warn',
    summary: `${rows.length} bounce(s)/drop(s) in the last 24 h (${hard} bounce, ${blocked} blocked, ${dropped} dropped); most common reason (${top.n}×): ${top.reason}`,
    evidence,
  };
}

/** spam-scores: spam scores of drafts of the last 24 h against `SPAM_THRESHOLD`, held drafts and spam reports. */
export async function spamScores(ctx: RunbookContext): Promise<Finding> {
  const em = ctx.em();
  const since = new Date(ctx.services.clock.now().getTime() - RECENT_MS);
  const threshold = ctx.services.config.stages.spamThreshold;
  const [row, reasons, spamReports] = await Promise.all([
    draftSpamStats(em, since, Math.ceil(threshold * 0.8)),
    draftSpamReasons(em, since),
    spamReportsSince(em, since),
  ]);
  const n = row.drafts;
  const held = row.held;
  const near = row.near;
  const counts = new Map<string, number>();
  for (const list of reasons) {
    if (Array.isArray(list)) for (const x of list) if (typeof x === 'string') counts.set(x, (counts.get(x) ?? 0) + 1);
  }
  const topRules = [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([rule, k]) => ({ rule: rule.slice(0, 80), n: k }));
  const avg = row.avgScore === null ? null : Math.round(row.avgScore * 10) / 10;
  const evidence = { drafts24h: n, threshold, avgScore: avg, maxScore: row.maxScore, held, nearThreshold: near, spamReports24h: spamReports, topRules };
  if (n === 0 && spamReports === 0) return { status: 'no_data', summary: 'No emails were drafted in the last 24 h.', evidence };
  const line = `${n} draft(s) in 24 h: average spam score ${avg ?? '-'} (threshold ${threshold}), ${held} held over the threshold, ${near} sent near it; ${spamReports} spam report(s)`;
  if (spamReports > 0 || (n >= 5 && held / n >= HELD_SHARE))
    return { status: 'problem', summary: `${line}${topRules[0] ? `; top rule: ${topRules[0].rule}` : ''}.`, evidence };
  return { status: held > 0 || near > 0 ? 'warn' : 'ok', summary: `${line}.`, evidence };
}

/**
 * sendgrid-config: key SET/MISSING (never its value), sandbox or real, the from address, and a live key check
 * (`testAuthentication` = `GET /v3/scopes`, which needs `mail.send`) plus the scopes listed.
 */
export async function sendgridConfig(ctx: RunbookContext): Promise<Finding> {
  const s = ctx.services;
  const p = s.config.providers.sendgrid;
  const [auth, scopes] = await Promise.all([
    within(testAuthentication(s, 'sendgrid'), PROBE_TIMEOUT_MS),
    within(
      s.rawProviders.sendgrid.scopes().catch(() => undefined),
      PROBE_TIMEOUT_MS,
    ),
  ]);
  const base = {
    apiKey: p.apiKey ? 'SET' : 'MISSING',
    mode: p.sandbox ? 'sandbox' : 'real',
    from: s.config.sendgridFrom,
    scopeCount: scopes?.length ?? null,
    mailSend: scopes ? scopes.includes('mail.send') : null,
    scopes: scopes && scopes.length <= 30 ? scopes : undefined,
  };
  const where = p.sandbox ? 'the sandbox' : 'SendGrid';
  if (!auth) {
    return {
      status: 'warn',
      summary: `${where} did not answer the key check within ${PROBE_TIMEOUT_MS / 1000} s.`,
      evidence: { ...base, reachable: false, keyProblem: false },
    };
  }
  const probe = { status: auth.status ?? null, providerCode: auth.providerCode ?? null, detail: maskAddresses(auth.detail, 200), latencyMs: auth.latencyMs };
  if (auth.ok) {
    return {
      status: 'ok',
      summary: `The SendGrid key (${base.apiKey}, ${base.mode}) is accepted and holds mail.send (${base.scopeCount ?? '?'} scopes); from ${base.from}.`,
      evidence: { ...base, reachable: true, keyProblem: false, auth: probe },
    };
  }
  const keyProblem = auth.status === 401 || auth.status === 403 || /mail\.send/.test(auth.detail);
  if (keyProblem) {
    const why = auth.status ? `HTTP ${auth.status}${auth.providerCode ? ` ${auth.providerCode}` : ''}` : 'the key lacks the mail.send scope';
    return {
      status: 'problem',
      summary: `${where} refused the key (${why}): every send will fail. Key ${base.apiKey}, ${base.mode}, from ${base.from}.`,
      evidence: { ...base, reachable: true, keyProblem: true, auth: probe },
    };
  }
  return {
    status: 'warn',
    summary: `The SendGrid key check failed without a verdict on the key: ${probe.detail}.`,
    evidence: { ...base, reachable: auth.status !== undefined, keyProblem: false, auth: probe },
  };
}

/**
 * webhook-lag: the newest email_events `received_at`, and emails sent 1–24 h ago that have no event at all (SendGrid
 * posts `processed` within seconds of accepting a message).
 */
export async function webhookLag(ctx: RunbookContext): Promise<Finding> {
  const em = ctx.em();
  const now = ctx.services.clock.now();
  const from = new Date(now.getTime() - RECENT_MS);
  const to = new Date(now.getTime() - WEBHOOK_SILENT_AFTER_MS);
  const [last, row] = await Promise.all([webhookEventTotals(em), sentEmailsEventCoverage(em, from, to)]);
  const sent = row.sent;
  const silent = row.silent;
  const lastAt = last.lastReceivedAt;
  const evidence = {
    lastEventReceivedAt: lastAt?.toISOString() ?? null,
    lastEventAgeMinutes: lastAt ? minutes(now.getTime() - lastAt.getTime()) : null,
    eventsStored: last.stored,
    sentWindow: sent,
    silent,
    oldestSilentSentAt: iso(row.oldestSilentSentAt),
    publicKey: ctx.services.config.delivery.sendgridWebhookPublicKey ? 'SET' : 'MISSING',
  };
  const lastLine = lastAt ? `last event received ${evidence.lastEventAgeMinutes} min ago` : 'no event ever received';
  if (sent === 0 && !lastAt) return { status: 'no_data', summary: 'No emails sent 1–24 h ago and no webhook event ever received.', evidence };
  const line = `${silent} of ${sent} emails sent 1–24 h ago have no webhook event; ${lastLine}`;
  if (silent >= WEBHOOK_SILENT_MIN && silent / sent >= 0.5) return { status: 'problem', summary: `${line}.`, evidence };
  return { status: silent > 0 ? 'warn' : 'ok', summary: `${line}.`, evidence };
}

/** invalid-addresses: queued (`pending`/`held`) emails whose address fails the list rules and is not suppressed yet. */
export async function invalidAddresses(ctx: RunbookContext): Promise<Finding> {
  const check = await findUnsendable(ctx.em(), { allowExampleDomains: ctx.services.config.providers.sendgrid.sandbox });
  const open = check.invalid.filter((i) => !i.suppressed);
  const byReason: Record<string, number> = {};
  for (const i of open) byReason[i.reason] = (byReason[i.reason] ?? 0) + 1;
  const evidence = { checked: check.checked, invalid: check.invalid.length, unsuppressed: open.length, byReason, ids: open.slice(0, 10).map((i) => i.id) };
  if (open.length === 0) return { status: 'ok', summary: `All ${check.checked} queued address(es) pass the list rules or are already suppressed.`, evidence };
  return { status: 'warn', summary: `${open.length} of ${check.checked} queued address(es) fail the list rules and are not suppressed yet.`, evidence };
}

/** delivery-pause: the `delivery.paused` switch and who set it. */
export async function pauseState(ctx: RunbookContext): Promise<Finding> {
  const p = await deliveryPause(ctx.em());
  const evidence = { paused: p.paused, by: p.by ?? null, since: p.since?.toISOString() ?? null };
  if (p.paused) return { status: 'warn', summary: `Sending is paused (by ${p.by}, since ${evidence.since}).`, evidence };
  return { status: 'ok', summary: 'Sending is not paused.', evidence };
}
