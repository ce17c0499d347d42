/**
 * Runbook "Email delivery failures" (troubleshooting guide playbook 2: bounce rate over 10 %, emails stuck
 * "pending", webhooks idle).
 *
 * Diagnostics (read-only): the status histogram (last 24 h and all time), the 24 h bounce rate against its threshold
 * (domain/delivery/bounce-rate.ts), emails stuck `pending` / `sending`, recent bounces with their reasons, spam
 * scores of recent drafts against `SPAM_THRESHOLD`, the SendGrid configuration and a live key check (`GET
 * /v3/scopes`, the `mail.send` scope), the event webhook's lag, queued addresses that fail the list rules, the
 * pause switch, and the failed sends of the last 24 h by error class and provider status (retryable or permanent,
 * due, scheduled or waiting for an operator; domain/delivery/send-failures.ts).
 *
 * Remediations: validate the queued addresses (suppress the invalid ones), pause / resume sending (setting
 * `delivery.paused`, honoured by domain/delivery/send.ts), requeue emails stuck in `sending` when the event
 * webhook proves SendGrid never accepted them (claim-before-send: never a second send), and "Retry failed sends":
 * the retryable failed sends (or, with `includePermanent=true`, the permanent ones too, never an invalid or
 * suppressed address) are made due now for the next email batch, which sends each once.
 */
import { testAuthentication } from '../domain/gateway/diagnostics.js';
import { bounceRate } from '../domain/delivery/bounce-rate.js';
import { findUnsendable, suppressUnsendable } from '../domain/delivery/list-check.js';
import { z } from 'zod';
import { deliveryPause, setDeliveryPaused } from '../domain/delivery/pause.js';
import { requeueStuck } from '../domain/delivery/send.js';
import { NEVER_RESEND_CLASSES, RETRYABLE_CLASSES, RETRYABLE_CLASS_LIST, SEND_ERROR_TEXT, type SendErrorClass } from '../domain/delivery/send-failures.js';
import { emailHash } from '../domain/delivery/suppression.js';
import { failedSendsSummary, retryFailedSends, type FailedSendGroup, type RetrySkipReason } from '../domain/queries/email-retries.js';
import type { RunbookContext } from './context.js';
import { defineRunbook, type Finding } from './define.js';

/** Window of "recent" in this runbook: 24 h in ms. */
export const RECENT_MS = 24 * 3600_000;

/** A sent email with no event at all after this long (ms) counts as "silent" for the webhook check (1 h). */
export const WEBHOOK_SILENT_AFTER_MS = 3600_000;

/** Silent sends at or above this count, and at least half of the window's sends, mean the webhook is not receiving. */
export const WEBHOOK_SILENT_MIN = 3;

/** Sending failures in 24 h at or above this count and share make the status histogram a problem. */
export const FAILED_MIN = 5;
export const FAILED_SHARE = 0.2;

/** Retryable failed sends waiting for a retry at or above this count (or any with attempts spent) make `failed-sends` a problem. */
export const FAILED_WAITING_MIN = 5;

/** The email batch job that retries due sends (jobs/pipeline-batches.ts), named in the remediation's summary. */
const EMAIL_BATCH_JOB_NAME = 'email-batch';

/** Held drafts (over the spam threshold) at or above this share of 24 h drafts (with at least 5) mean spammy content. */
export const HELD_SHARE = 0.2;

/** Live provider checks give up after this long (ms), below the diagnostic's own timeout. */
export const PROBE_TIMEOUT_MS = 4000;

const minutes = (ms: number) => Math.round(ms / 60_000);
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const ev = (f: Record<string, Finding>, id: string): Record<string, unknown> => f[id]?.evidence ?? {};
const iso = (d: Date | string | null | undefined) => (d ? new Date(d).toISOString() : null);

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
async function statusDistribution(ctx: RunbookContext): Promise<Finding> {
  const em = ctx.em();
  const since = new Date(ctx.services.clock.now().getTime() - RECENT_MS);
  const rows = await em.execute<{ status: string; n: string | number; recent: string | number }[]>(
    'select status, count(*) as n, count(*) filter (where created_at > ?) as recent from emails group by status order by status',
    [since],
  );
  const all: Record<string, number> = {};
  const last24h: Record<string, number> = {};
  for (const r of rows) {
    all[r.status] = Number(r.n);
    if (Number(r.recent) > 0) last24h[r.status] = Number(r.recent);
  }
  const total = Object.values(all).reduce((s, n) => s + n, 0);
  if (total === 0) return { status: 'no_data', summary: 'No outreach emails exist yet.', evidence: { all, last24h } };
  const recentTotal = Object.values(last24h).reduce((s, n) => s + n, 0);
  const failed = last24h.failed ?? 0;
  const [last] = await em.execute<{ error_message: string | null }[]>(
    "select error_message from emails where status = 'failed' and created_at > ? order by updated_at desc limit 1",
    [since],
  );
  const lastFailure = last?.error_message ? maskAddresses(last.error_message) : null;
  const evidence = { all, last24h, total, recentTotal, failed24h: failed, lastFailure };
  const counts = Object.entries(last24h).map(([s, n]) => `${n} ${s}`).join(', ') || 'none';
  const summary = `${total} emails in all; of the ${recentTotal} drafted in the last 24 h: ${counts}.`;
  if (failed >= FAILED_MIN && failed / recentTotal >= FAILED_SHARE)
    return { status: 'problem', summary: `${summary} ${failed} failed to send (last error: ${lastFailure ?? 'none'}).`, evidence };
  return { status: failed > 0 ? 'warn' : 'ok', summary, evidence };
}

/** bounce-rate: 24 h bounce rate vs the threshold (judged from `BOUNCE_RATE_MIN_SENDS` sends). */
async function bounceRateCheck(ctx: RunbookContext): Promise<Finding> {
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
async function stuckEmails(ctx: RunbookContext): Promise<Finding> {
  const em = ctx.em();
  const now = ctx.services.clock.now();
  const thresholdMs = ctx.services.config.stages.stuckAfterMs;
  const cutoff = new Date(now.getTime() - thresholdMs);
  const [[row], ids, pause] = await Promise.all([
    em.execute<{ sending: string | number; oldest_sending: Date | string | null; pending: string | number; oldest_pending: Date | string | null }[]>(
      `select count(*) filter (where status = 'sending' and claimed_at < ?) as sending,
              min(claimed_at) filter (where status = 'sending' and claimed_at < ?) as oldest_sending,
              count(*) filter (where status = 'pending' and updated_at < ?) as pending,
              min(updated_at) filter (where status = 'pending' and updated_at < ?) as oldest_pending
       from emails`,
      [cutoff, cutoff, cutoff, cutoff],
    ),
    em.execute<{ id: number }[]>("select id from emails where status = 'sending' and claimed_at < ? order by id limit 10", [cutoff]),
    deliveryPause(em),
  ]);
  const sending = Number(row?.sending ?? 0);
  const pending = Number(row?.pending ?? 0);
  const age = (d: Date | string | null | undefined) => (d ? minutes(now.getTime() - new Date(d).getTime()) : null);
  const evidence = {
    thresholdMinutes: minutes(thresholdMs),
    stuckSending: sending,
    stuckPending: pending,
    oldestSendingMinutes: age(row?.oldest_sending),
    oldestPendingMinutes: age(row?.oldest_pending),
    sendingIds: ids.map((r) => Number(r.id)),
    deliveryPaused: pause.paused,
  };
  if (sending === 0 && pending === 0)
    return { status: 'ok', summary: `No email has waited in pending or sending for more than ${minutes(thresholdMs)} min.`, evidence };
  const summary = `${sending} email(s) stuck in sending (claim older than ${minutes(thresholdMs)} min) and ${pending} pending for more than ${minutes(thresholdMs)} min`;
  if (sending === 0 && pause.paused) return { status: 'warn', summary: `${summary}: delivery is paused (by ${pause.by}).`, evidence };
  return { status: 'problem', summary: `${summary}.`, evidence };
}

/** recent-bounces: bounce and drop events of the last 24 h (email_events; else emails.bounce_reason) with reasons. */
async function recentBounces(ctx: RunbookContext): Promise<Finding> {
  const em = ctx.em();
  const since = new Date(ctx.services.clock.now().getTime() - RECENT_MS);
  let rows = await em.execute<{ email_id: number | null; event: string; type: string | null; reason: string | null; at: Date | string }[]>(
    `select email_id, event, payload->>'type' as type, reason, occurred_at as at from email_events
     where event in ('bounce', 'dropped') and occurred_at > ? order by occurred_at desc limit 500`,
    [since],
  );
  const source = rows.length > 0 ? 'email_events' : 'emails';
  if (rows.length === 0) {
    rows = await em.execute(
      `select id as email_id, case when status = 'dropped' then 'dropped' else 'bounce' end as event, null as type, bounce_reason as reason,
              coalesce(bounced_at, last_event_at, updated_at) as at
       from emails where status in ('bounced', 'dropped') and coalesce(bounced_at, last_event_at, updated_at) > ?
       order by at desc limit 500`,
      [since],
    );
  }
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
  const topReasons = [...byReason].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([reason, n]) => ({ reason, n }));
  const recent = rows.slice(0, 5).map((r) => ({ emailId: r.email_id === null ? null : Number(r.email_id), event: r.event, type: r.type, reason: maskAddresses(r.reason ?? '', 120), at: iso(r.at) }));
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
async function spamScores(ctx: RunbookContext): Promise<Finding> {
  const em = ctx.em();
  const since = new Date(ctx.services.clock.now().getTime() - RECENT_MS);
  const threshold = ctx.services.config.stages.spamThreshold;
  const [[row], reasons, [reports]] = await Promise.all([
    em.execute<{ n: string | number; avg: string | number | null; max: number | null; held: string | number; near: string | number }[]>(
      `select count(*) as n, avg(spam_score) as avg, max(spam_score) as max, count(*) filter (where status = 'held') as held,
              count(*) filter (where status <> 'held' and spam_score >= ?) as near
       from emails where created_at > ?`,
      [Math.ceil(threshold * 0.8), since],
    ),
    em.execute<{ spam_reasons: unknown }[]>(
      'select spam_reasons from emails where created_at > ? and spam_score > 0 order by spam_score desc limit 200',
      [since],
    ),
    em.execute<{ n: string | number }[]>(
      "select count(*) as n from emails where status = 'spam_reported' and coalesce(last_event_at, updated_at) > ?",
      [since],
    ),
  ]);
  const n = Number(row?.n ?? 0);
  const held = Number(row?.held ?? 0);
  const near = Number(row?.near ?? 0);
  const spamReports = Number(reports?.n ?? 0);
  const counts = new Map<string, number>();
  for (const r of reasons) {
    const list = typeof r.spam_reasons === 'string' ? (JSON.parse(r.spam_reasons) as unknown) : r.spam_reasons;
    if (Array.isArray(list)) for (const x of list) if (typeof x === 'string') counts.set(x, (counts.get(x) ?? 0) + 1);
  }
  const topRules = [...counts].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([rule, k]) => ({ rule: rule.slice(0, 80), n: k }));
  const avg = row?.avg === null || row?.avg === undefined ? null : Math.round(Number(row.avg) * 10) / 10;
  const evidence = { drafts24h: n, threshold, avgScore: avg, maxScore: row?.max ?? null, held, nearThreshold: near, spamReports24h: spamReports, topRules };
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
async function sendgridConfig(ctx: RunbookContext): Promise<Finding> {
  const s = ctx.services;
  const p = s.config.providers.sendgrid;
  const [auth, scopes] = await Promise.all([
    within(testAuthentication(s, 'sendgrid'), PROBE_TIMEOUT_MS),
    within(s.rawProviders.sendgrid.scopes().catch(() => undefined), PROBE_TIMEOUT_MS),
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
    return { status: 'warn', summary: `${where} did not answer the key check within ${PROBE_TIMEOUT_MS / 1000} s.`, evidence: { ...base, reachable: false, keyProblem: false } };
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
async function webhookLag(ctx: RunbookContext): Promise<Finding> {
  const em = ctx.em();
  const now = ctx.services.clock.now();
  const from = new Date(now.getTime() - RECENT_MS);
  const to = new Date(now.getTime() - WEBHOOK_SILENT_AFTER_MS);
  const [[last], [row]] = await Promise.all([
    em.execute<{ at: Date | string | null; n: string | number }[]>('select max(received_at) as at, count(*) as n from email_events'),
    em.execute<{ sent: string | number; silent: string | number; oldest: Date | string | null }[]>(
      `select count(*) as sent,
              count(*) filter (where e.last_event_at is null and not exists (select 1 from email_events ev where ev.email_id = e.id)) as silent,
              min(e.sent_at) filter (where e.last_event_at is null and not exists (select 1 from email_events ev where ev.email_id = e.id)) as oldest
       from emails e where e.sent_at > ? and e.sent_at <= ?`,
      [from, to],
    ),
  ]);
  const sent = Number(row?.sent ?? 0);
  const silent = Number(row?.silent ?? 0);
  const lastAt = last?.at ? new Date(last.at) : null;
  const evidence = {
    lastEventReceivedAt: lastAt?.toISOString() ?? null,
    lastEventAgeMinutes: lastAt ? minutes(now.getTime() - lastAt.getTime()) : null,
    eventsStored: Number(last?.n ?? 0),
    sentWindow: sent,
    silent,
    oldestSilentSentAt: iso(row?.oldest),
    publicKey: ctx.services.config.delivery.sendgridWebhookPublicKey ? 'SET' : 'MISSING',
  };
  const lastLine = lastAt ? `last event received ${evidence.lastEventAgeMinutes} min ago` : 'no event ever received';
  if (sent === 0 && !lastAt) return { status: 'no_data', summary: 'No emails sent 1–24 h ago and no webhook event ever received.', evidence };
  const line = `${silent} of ${sent} emails sent 1–24 h ago have no webhook event; ${lastLine}`;
  if (silent >= WEBHOOK_SILENT_MIN && silent / sent >= 0.5) return { status: 'problem', summary: `${line}.`, evidence };
  return { status: silent > 0 ? 'warn' : 'ok', summary: `${line}.`, evidence };
}

/** invalid-addresses: queued (`pending`/`held`) emails whose address fails the list rules and is not suppressed yet. */
async function invalidAddresses(ctx: RunbookContext): Promise<Finding> {
  const check = await findUnsendable(ctx.em(), { allowExampleDomains: ctx.services.config.providers.sendgrid.sandbox });
  const open = check.invalid.filter((i) => !i.suppressed);
  const byReason: Record<string, number> = {};
  for (const i of open) byReason[i.reason] = (byReason[i.reason] ?? 0) + 1;
  const evidence = { checked: check.checked, invalid: check.invalid.length, unsuppressed: open.length, byReason, ids: open.slice(0, 10).map((i) => i.id) };
  if (open.length === 0)
    return { status: 'ok', summary: `All ${check.checked} queued address(es) pass the list rules or are already suppressed.`, evidence };
  return { status: 'warn', summary: `${open.length} of ${check.checked} queued address(es) fail the list rules and are not suppressed yet.`, evidence };
}

/** delivery-pause: the `delivery.paused` switch and who set it. */
async function pauseState(ctx: RunbookContext): Promise<Finding> {
  const p = await deliveryPause(ctx.em());
  const evidence = { paused: p.paused, by: p.by ?? null, since: p.since?.toISOString() ?? null };
  if (p.paused) return { status: 'warn', summary: `Sending is paused (by ${p.by}, since ${evidence.since}).`, evidence };
  return { status: 'ok', summary: 'Sending is not paused.', evidence };
}

/** True for a class the email batch retries on its own (send-failures.ts); `unclassified` is not. */
const isRetryable = (cls: string): boolean => RETRYABLE_CLASSES.has(cls as SendErrorClass);
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** How a group of failures reads: `SendGrid 401 (auth)`, or the class and its sentence when no HTTP status was quoted. */
export function failureLabel(g: { errorClass: string; httpStatus: number | null }): string {
  if (g.httpStatus !== null) return `SendGrid ${g.httpStatus} (${g.errorClass})`;
  const text = SEND_ERROR_TEXT[g.errorClass as SendErrorClass];
  return text ? `${g.errorClass} (${text})` : g.errorClass;
}

/** When a class's failed sends can go again, for the root cause's sentence. */
const RETRY_WHEN: Partial<Record<SendErrorClass, string>> = {
  auth: 'retryable once the key is fixed',
  permission: 'retryable once the account or sender identity is fixed',
  rate_limited: 'retryable once the rate limit clears',
  provider_error: 'retryable once SendGrid answers again',
  network: 'retryable once SendGrid is reachable',
  timeout: "retryable: the batch asks SendGrid's activity feed first, so none goes twice",
  connection_lost: "retryable: the batch asks SendGrid's activity feed first, so none goes twice",
  breaker_open: "retryable once SendGrid's breaker closes",
  quota: 'retryable once the daily quota resets',
  budget: 'retryable once the spend budget allows',
};

/** A group as evidence (small: the last error masked and cut). */
const groupEvidence = (g: FailedSendGroup) => ({
  errorClass: g.errorClass,
  httpStatus: g.httpStatus,
  retryable: isRetryable(g.errorClass),
  n: g.total,
  due: g.due,
  scheduled: g.scheduled,
  stopped: g.stopped,
  waiting: g.waiting,
  maxAttempts: g.maxAttempts,
  oldest: g.oldest.toISOString(),
  lastError: g.lastError ? maskAddresses(g.lastError, 120) : null,
});

/**
 * failed-sends: `failed` emails whose last failure is in the last 24 h, by error class and provider status
 * (domain/queries/email-retries.ts `failedSendsSummary`): retryable or permanent, due now (the next email batch takes
 * them), scheduled (retried automatically later) or stopped (attempts spent or held: only an operator retries them),
 * and the oldest. Problem when at least {@link FAILED_WAITING_MIN} retryable ones wait (or any whose attempts are
 * spent); warn for fewer, or for permanent failures an operator may resend; ok when none waits.
 */
async function failedSends(ctx: RunbookContext): Promise<Finding> {
  const now = ctx.services.clock.now();
  const s = await failedSendsSummary(ctx.em(), now, new Date(now.getTime() - RECENT_MS));
  const sum = (gs: FailedSendGroup[], k: 'total' | 'due' | 'scheduled' | 'stopped' | 'waiting') => gs.reduce((n, g) => n + g[k], 0);
  const retry = s.groups.filter((g) => isRetryable(g.errorClass));
  const perm = s.groups.filter((g) => !isRetryable(g.errorClass));
  const invalid = perm.filter((g) => (NEVER_RESEND_CLASSES as readonly string[]).includes(g.errorClass));
  const failed = sum(s.groups, 'total');
  const waiting = sum(retry, 'waiting');
  const stoppedRetryable = retry.reduce((n, g) => n + Math.min(g.stopped, g.waiting), 0);
  const top = [...retry].sort((a, b) => b.waiting - a.waiting)[0];
  const oldest = s.groups.reduce<Date | null>((o, g) => (o === null || g.oldest < o ? g.oldest : o), null);
  const evidence = {
    windowHours: RECENT_MS / 3600_000,
    failed,
    retryable: { total: sum(retry, 'total'), due: sum(retry, 'due'), scheduled: sum(retry, 'scheduled'), stopped: sum(retry, 'stopped'), waiting },
    permanent: { total: sum(perm, 'total'), invalidAddress: sum(invalid, 'total') },
    topWaiting: top && top.waiting > 0 ? { errorClass: top.errorClass, httpStatus: top.httpStatus, n: top.waiting } : null,
    byClass: s.groups.slice(0, 10).map(groupEvidence),
    oldestFailedAt: iso(oldest),
    olderFailed: s.older,
    oldestOlderAt: iso(s.oldestOlder),
  };
  const older = s.older > 0 ? ` ${plural(s.older, 'older failed send')} (before the window; hours=N on the retry reaches them).` : '';
  if (failed === 0) return { status: 'ok', summary: `No send failed in the last 24 h.${older}`, evidence };
  const groups = s.groups.slice(0, 5).map((g) => `${g.total} on ${failureLabel(g)}`).join(', ');
  const line = `${plural(failed, 'send')} failed in the last 24 h (${groups}${s.groups.length > 5 ? ', …' : ''}); oldest ${evidence.oldestFailedAt}.`;
  if (waiting > 0) {
    const detail = `${plural(waiting, 'retryable send')} wait${waiting === 1 ? 's' : ''} for a retry (${evidence.retryable.scheduled} scheduled by the backoff, ${stoppedRetryable} with no retry left): "Retry failed sends" queues them for the next email batch.`;
    return { status: waiting >= FAILED_WAITING_MIN || stoppedRetryable > 0 ? 'problem' : 'warn', summary: `${line} ${detail}${older}`, evidence };
  }
  const resendable = evidence.permanent.total - evidence.permanent.invalidAddress;
  const due = evidence.retryable.due > 0 ? ` ${plural(evidence.retryable.due, 'retryable send')} ${evidence.retryable.due === 1 ? 'is' : 'are'} due: the next email batch retries them.` : '';
  if (resendable > 0)
    return {
      status: 'warn',
      summary: `${line}${due} ${plural(resendable, 'permanent failure')} (not retried automatically; retry-failed-sends includePermanent=true resends them, never an invalid or suppressed address).${older}`,
      evidence,
    };
  return { status: 'ok', summary: `${line}${due}${evidence.permanent.invalidAddress ? ` ${evidence.permanent.invalidAddress} invalid address(es): never resent.` : ''}${older}`, evidence };
}

/** The root cause's sentence: how many retryable sends wait, on which provider status, and when they can go again. */
function describeFailedSends(f: Record<string, Finding>): string | undefined {
  const e = ev(f, 'failed-sends');
  const top = e.topWaiting as { errorClass: string; httpStatus: number | null; n: number } | null | undefined;
  const waiting = Number((e.retryable as { waiting?: number } | undefined)?.waiting ?? 0);
  if (!top || waiting === 0) return undefined;
  const hours = Number(e.windowHours ?? 24);
  const head = waiting === top.n ? `${plural(waiting, 'send')} failed on ${failureLabel(top)}` : `${plural(waiting, 'send')} failed, ${top.n} on ${failureLabel(top)}`;
  let when = RETRY_WHEN[top.errorClass as SendErrorClass] ?? 'retryable';
  if (top.errorClass === 'auth' || top.errorClass === 'permission') {
    const cfg = f['sendgrid-config'];
    if (cfg?.status === 'ok') when = 'SendGrid accepts the key again: retry them now';
  }
  return `${head} in the last ${hours} h; ${when}`;
}

/** What the retry left alone, as words. */
const SKIP_TEXT: Record<RetrySkipReason, (n: number) => string> = {
  invalid_address: (n) => `${plural(n, 'invalid address', 'invalid addresses')} (never resent)`,
  suppressed: (n) => `${n} suppressed (unsubscribed, bounced or reported)`,
  permanent: (n) => `${plural(n, 'permanent failure')} (includePermanent=true resends them)`,
  accepted: (n) => `${n} SendGrid already accepted (never resent)`,
  already_due: (n) => `${n} already due for the next batch`,
};

/** retry-failed-sends input: permanent failures too (never bad or suppressed addresses), and the window in hours. */
const retryFailedInput = z
  .object({
    includePermanent: z.boolean().default(false),
    hours: z.number().int().min(1).max(720).default(24),
  })
  .strict();

/** The runbook. */
export const runbook = defineRunbook<RunbookContext>({
  id: 'email-delivery',
  title: 'Email delivery failures',
  symptoms: [
    'emails are not being delivered',
    'no emails sent today',
    'emails bouncing',
    'bounce rate too high',
    'bounces',
    'emails stuck in pending',
    'emails stuck sending',
    'sendgrid errors',
    'sendgrid 401 unauthorized',
    'sendgrid api key',
    'emails marked as spam',
    'spam score',
    'webhook not receiving events',
    'no delivery events',
    'pause sending',
    'failed sends',
    'emails failed to send',
    'retry failed sends',
  ],
  diagnostics: [
    { id: 'status-distribution', title: 'Emails by status', run: statusDistribution },
    { id: 'bounce-rate', title: 'Bounce rate (24 h)', run: bounceRateCheck },
    { id: 'stuck-emails', title: 'Emails stuck pending or sending', run: stuckEmails },
    { id: 'recent-bounces', title: 'Recent bounces', run: recentBounces },
    { id: 'spam-scores', title: 'Spam scores of recent emails', run: spamScores },
    { id: 'sendgrid-config', title: 'SendGrid configuration and key', timeoutMs: PROBE_TIMEOUT_MS + 2000, run: sendgridConfig },
    { id: 'webhook-lag', title: 'SendGrid event webhook', run: webhookLag },
    { id: 'invalid-addresses', title: 'Queued addresses', run: invalidAddresses },
    { id: 'delivery-pause', title: 'Sending paused', run: pauseState },
    { id: 'failed-sends', title: 'Failed sends (24 h)', run: failedSends },
  ],
  rootCauses: [
    {
      id: 'sendgrid-api-key',
      title: 'SendGrid API key invalid or missing scopes',
      indicatedBy: (f) => ev(f, 'sendgrid-config').keyProblem === true,
      remediations: ['pause-sending'],
    },
    {
      id: 'high-bounce-rate',
      title: 'Bounce rate above 10%',
      indicatedBy: (f) => f['bounce-rate']?.status === 'problem',
      remediations: ['validate-email-list', 'pause-sending'],
    },
    {
      id: 'emails-stuck-pending',
      title: 'Emails stuck in pending or sending',
      indicatedBy: (f) => f['stuck-emails']?.status === 'problem',
      remediations: ['resend-stuck'],
    },
    {
      id: 'spam-content',
      title: 'Email content scores as spam (drafts held or recipients reporting spam)',
      indicatedBy: (f) => f['spam-scores']?.status === 'problem',
      remediations: ['pause-sending'],
    },
    {
      id: 'webhook-not-receiving',
      title: 'SendGrid event webhook not receiving events (check the Event Webhook URL and signing key in SendGrid)',
      indicatedBy: (f) => f['webhook-lag']?.status === 'problem',
      remediations: [],
    },
    {
      id: 'invalid-addresses',
      title: 'Invalid addresses waiting in the send queue',
      indicatedBy: (f) => f['invalid-addresses']?.status === 'warn',
      remediations: ['validate-email-list'],
    },
    {
      id: 'delivery-paused',
      title: 'Sending is paused by an operator',
      indicatedBy: (f) => f['delivery-pause']?.status === 'warn',
      remediations: ['resume-sending'],
    },
    {
      id: 'failed-sends',
      title: 'Sends failed on a retryable error and wait for a retry',
      indicatedBy: (f) => Number((ev(f, 'failed-sends').retryable as { waiting?: number } | undefined)?.waiting ?? 0) > 0,
      describe: describeFailedSends,
      remediations: ['retry-failed-sends'],
    },
  ],
  remediations: [
    {
      id: 'validate-email-list',
      title: 'Validate queued addresses and suppress the invalid ones',
      risk: 'write',
      requiredRole: 'operator',
      confirmation: 'Check every queued address (syntax, reserved and misspelled domains) and add the invalid ones to the suppression list?',
      idempotencyKey: () => 'validate-email-list',
      recheck: 'invalid-addresses',
      async run(ctx, _input, actor) {
        const r = await suppressUnsendable(ctx.em(), ctx.services.clock.now(), {
          allowExampleDomains: ctx.services.config.providers.sendgrid.sandbox,
          source: 'operator',
        });
        ctx.services.logger.info({ actor, checked: r.checked, invalid: r.invalid, suppressed: r.newlySuppressed }, 'email list validated');
        const reasons = Object.entries(r.byReason).map(([k, n]) => `${n} ${k}`).join('; ');
        return {
          summary: `Checked ${r.checked} queued address(es): ${r.invalid} invalid, ${r.newlySuppressed} newly suppressed, ${r.alreadySuppressed} already suppressed${reasons ? ` (${reasons})` : ''}.`,
        };
      },
    },
    {
      id: 'pause-sending',
      title: 'Pause sending',
      risk: 'write',
      requiredRole: 'operator',
      confirmation: 'Pause all outreach sending? The delivery stage will send nothing until someone resumes it.',
      idempotencyKey: () => 'pause-sending',
      recheck: 'delivery-pause',
      async run(ctx, _input, actor) {
        const before = await setDeliveryPaused(ctx.em(), true, actor, ctx.services.clock.now());
        ctx.services.logger.info({ actor }, 'delivery paused');
        return { summary: before.paused ? `Sending was already paused (by ${before.by}); now paused by ${actor}.` : `Sending paused by ${actor}: the delivery stage sends nothing until resumed.` };
      },
    },
    {
      id: 'resume-sending',
      title: 'Resume sending',
      risk: 'write',
      requiredRole: 'operator',
      confirmation: 'Resume outreach sending? Pending emails go out with the next delivery batch.',
      idempotencyKey: () => 'resume-sending',
      recheck: 'delivery-pause',
      async run(ctx, _input, actor) {
        const before = await setDeliveryPaused(ctx.em(), false, actor, ctx.services.clock.now());
        ctx.services.logger.info({ actor }, 'delivery resumed');
        return { summary: before.paused ? `Sending resumed by ${actor} (paused by ${before.by}); pending emails go out with the next batch.` : 'Sending was not paused; nothing changed.' };
      },
    },
    {
      id: 'resend-stuck',
      title: 'Requeue stuck emails for the next batch',
      risk: 'write',
      requiredRole: 'operator',
      confirmation:
        'Put emails stuck in sending back to pending for the next batch? Only those the event webhook proves SendGrid never accepted are requeued, so none is sent twice.',
      idempotencyKey: () => 'resend-stuck',
      recheck: 'stuck-emails',
      async run(ctx, _input, actor) {
        const em = ctx.em();
        const now = ctx.services.clock.now();
        const thresholdMs = ctx.services.config.stages.stuckAfterMs;
        const r = await requeueStuck(em, now, { claimTimeoutMs: thresholdMs });
        const [[pending], pause] = await Promise.all([
          em.execute<{ n: string | number }[]>("select count(*) as n from emails where status = 'pending' and updated_at < ?", [new Date(now.getTime() - thresholdMs)]),
          deliveryPause(em),
        ]);
        const oldPending = Number(pending?.n ?? 0);
        ctx.services.logger.info({ actor, requeued: r.requeued.length, keptSending: r.keptSending }, 'stuck emails requeued');
        const parts = [`Requeued ${r.requeued.length} email(s) stuck in sending${r.requeued.length ? ` (ids ${r.requeued.slice(0, 10).join(', ')})` : ''} for the next batch.`];
        if (r.keptSending > 0)
          parts.push(`${r.keptSending} left in sending: SendGrid may have accepted them (no webhook proof either way); check the SendGrid activity feed.`);
        if (oldPending > 0) parts.push(`${oldPending} pending for more than ${minutes(thresholdMs)} min are already queued for the next batch.`);
        if (pause.paused) parts.push(`Sending is paused (by ${pause.by}): resume it for them to go out.`);
        return { summary: parts.join(' ') };
      },
    },
    {
      id: 'retry-failed-sends',
      title: 'Retry failed sends',
      risk: 'write',
      requiredRole: 'operator',
      confirmation:
        "Queue the last 24 h's failed sends with a retryable error (401, 403, 429, 5xx, network, timeout) for the next email batch, attempts kept? Each goes once; sent, sending, invalid or suppressed ones are never touched.",
      inputSchema: retryFailedInput,
      idempotencyKey: (input) =>
        ['retry-failed-sends', input.includePermanent === true ? 'permanent' : '', input.hours !== undefined && input.hours !== 24 ? `${String(input.hours)}h` : '']
          .filter(Boolean)
          .join(':'),
      recheck: 'failed-sends',
      async run(ctx, input, actor) {
        const { includePermanent, hours } = retryFailedInput.parse(input);
        const now = ctx.services.clock.now();
        const r = await retryFailedSends(ctx.em(), now, new Date(now.getTime() - hours * 3600_000), {
          retryable: RETRYABLE_CLASS_LIST,
          neverResend: NEVER_RESEND_CLASSES,
          includePermanent,
          hash: emailHash,
        });
        const pause = await deliveryPause(ctx.em());
        ctx.services.logger.info({ actor, queued: r.queued.length, skipped: r.skipped, includePermanent, hours }, 'failed sends queued for a retry');
        const byClass = new Map<string, number>();
        for (const q of r.queued) byClass.set(q.errorClass, (byClass.get(q.errorClass) ?? 0) + 1);
        const classes = [...byClass].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${n} ${c}`).join(', ');
        const ids = r.queued.slice(0, 10).map((q) => q.id).join(', ');
        const parts = [
          r.queued.length > 0
            ? `Queued ${plural(r.queued.length, 'failed send')} of the last ${hours} h (${classes}; ids ${ids}${r.queued.length > 10 ? ', …' : ''}) for the next ${EMAIL_BATCH_JOB_NAME} run (every 15 min; \`lf run ${EMAIL_BATCH_JOB_NAME}\` starts it now), attempt history kept: each is sent once.`
            : `No failed send of the last ${hours} h to queue.`,
        ];
        const skipped = (Object.entries(r.skipped) as [RetrySkipReason, number][]).filter(([, n]) => n > 0).map(([k, n]) => SKIP_TEXT[k](n));
        if (skipped.length > 0) parts.push(`Left alone: ${skipped.join('; ')}.`);
        if (pause.paused) parts.push(`Sending is paused (by ${pause.by}): resume it for them to go out.`);
        return { summary: parts.join(' ') };
      },
    },
  ],
});
