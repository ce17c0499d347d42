/**
 * The email figures (issue #14: one definition per figure): bounce rate, stuck emails, send failures, status counts and
 * the draft/spam figures, as the alert rules (alerts/rules.ts), the gauges on /metrics (alerts/metrics.ts), `lf status`,
 * the email-delivery runbook, the pipeline's stuck-work check and the delivery code's bounce check read them.
 *
 * "Stuck" has one definition, {@link STUCK_SENDING} and {@link STUCK_PENDING}: a `sending` email claimed before the
 * cutoff (its worker died or SendGrid never answered), a `pending` email unchanged (`updated_at`) since before it.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { rowsOf, type SqlRunner } from './sql-runner.js';

/** SQL condition (one `?`: the cutoff instant) of a stuck `sending` email: claimed before the cutoff. */
export const STUCK_SENDING = `status = 'sending' and claimed_at < ?`;
/** SQL condition (one `?`: the cutoff instant) of a stuck `pending` email: unchanged since before the cutoff. */
export const STUCK_PENDING = `status = 'pending' and updated_at < ?`;

/** Bounce-rate window: the 24 h before `now` (ms). */
export const BOUNCE_WINDOW_MS = 24 * 3600 * 1000;
/** Send-failure window of {@link sendFailures}: the hour before `now` (ms). */
export const SEND_FAILURE_WINDOW_MS = 3600 * 1000;

/** Thresholds of {@link bounceRate}: `bounceRateThreshold` a fraction 0–1, `bounceRateMinSends` a count (config.delivery). */
export interface BounceRateSettings {
  bounceRateThreshold: number;
  bounceRateMinSends: number;
}
const DEFAULTS: BounceRateSettings = { bounceRateThreshold: 0.1, bounceRateMinSends: 20 };

/** The window's numbers. `rate` is a fraction 0–1 (0 when nothing was sent); `threshold` likewise. */
export interface BounceRate {
  sent: number;
  bounced: number;
  rate: number;
  threshold: number;
  minSends: number;
  /** `sent >= minSends && rate > threshold`. */
  aboveThreshold: boolean;
}

/**
 * Bounce rate over {@link BOUNCE_WINDOW_MS} before `now`: emails sent in the window (`sent_at` within it) that are
 * now `bounced` (hard bounces and blocks both end so), over all emails sent in the window; judged only with at
 * least `bounceRateMinSends` sends.
 */
export async function bounceRate(em: EntityManager, now: Date, settings: BounceRateSettings = DEFAULTS): Promise<BounceRate> {
  const { sent, bounced } = await sentAndBounced(em, new Date(now.getTime() - BOUNCE_WINDOW_MS), now);
  const rate = sent > 0 ? bounced / sent : 0;
  const { bounceRateThreshold: threshold, bounceRateMinSends: minSends } = settings;
  return { sent, bounced, rate, threshold, minSends, aboveThreshold: sent >= minSends && rate > threshold };
}

/**
 * Emails sent in (`from`, `to`] (`sent_at` within it) and how many of those are now `bounced`: the counts behind
 * {@link bounceRate} and the `leadfactory_emails_sent_1h` / `_bounced_1h` gauges. Counts (integers).
 */
export async function sentAndBounced(em: EntityManager, from: Date, to: Date): Promise<{ sent: number; bounced: number }> {
  const rows = await em.execute<{ sent: string | number; bounced: string | number }[]>(
    `select count(*) as sent, count(*) filter (where status = 'bounced') as bounced
     from emails where sent_at > ? and sent_at <= ?`,
    [from, to],
  );
  return { sent: Number(rows[0]?.sent ?? 0), bounced: Number(rows[0]?.bounced ?? 0) };
}

/** Emails per status, for the statuses that have any (callers needing every status fill the zeros). */
export async function emailsByStatus(em: SqlRunner): Promise<Record<string, number>> {
  const rows = await rowsOf<{ k: string; n: number }>(em, `select status as k, count(*)::int as n from emails group by status`);
  return Object.fromEntries(rows.map((r) => [r.k, Number(r.n)]));
}

/**
 * Emails stuck for longer than `stuckAfterMs` before `now` ({@link STUCK_SENDING} plus {@link STUCK_PENDING}): the
 * `leadfactory_emails_stuck` gauge and the EmailsStuckPending rule; the runbook reads the same figure split in two
 * ({@link stuckEmailBreakdown}). A count.
 */
export async function emailsStuck(em: EntityManager, now: Date, stuckAfterMs: number): Promise<number> {
  const b = await stuckEmailBreakdown(em, new Date(now.getTime() - stuckAfterMs));
  return b.sending + b.pending;
}

/** Send failures: emails now `failed` whose last change is within `windowMs` before `now`, and all `failed`. */
export interface SendFailures {
  recent: number;
  total: number;
  /** The most frequent error message among the recent ones (SendGrid's answer as stored), if any. */
  topError?: string;
}

/** Counts send failures (see {@link SendFailures}). */
export async function sendFailures(em: EntityManager, now: Date, windowMs = SEND_FAILURE_WINDOW_MS): Promise<SendFailures> {
  const conn = em.getConnection();
  const since = new Date(now.getTime() - windowMs);
  const [counts] = await conn.execute<{ recent: number; total: number }[]>(
    `select count(*) filter (where updated_at > ?)::int as recent, count(*)::int as total from emails where status = 'failed'`,
    [since],
  );
  const [top] = await conn.execute<{ error_message: string | null }[]>(
    `select error_message from emails where status = 'failed' and updated_at > ? group by error_message order by count(*) desc limit 1`,
    [since],
  );
  return { recent: Number(counts?.recent ?? 0), total: Number(counts?.total ?? 0), ...(top?.error_message ? { topError: top.error_message } : {}) };
}

/**
 * Emails stuck `sending` ({@link STUCK_SENDING}, cutoff `before`): how many and the oldest claim (null when none). The
 * "stuck sending" figure of domain/pipeline/stuck.ts and of the emails kept by delivery's requeueStuck.
 */
export async function stuckSendingEmails(em: EntityManager, before: Date): Promise<{ count: number; oldest: Date | null }> {
  const [row] = await em.execute<{ n: string; oldest: Date | string | null }[]>(`select count(*) as n, min(claimed_at) as oldest from emails where ${STUCK_SENDING}`, [before]);
  return { count: Number(row?.n ?? 0), oldest: row?.oldest ? new Date(row.oldest) : null };
}

/** Emails of one status: all time, and those created after the window start. Counts. */
export interface EmailStatusCount {
  status: string;
  total: number;
  recent: number;
}

/** Emails per status (all time, and created after `since`), ordered by status; statuses with none absent. */
export async function emailStatusCounts(em: EntityManager, since: Date): Promise<EmailStatusCount[]> {
  const rows = await em.execute<{ status: string; n: string | number; recent: string | number }[]>(
    'select status, count(*) as n, count(*) filter (where created_at > ?) as recent from emails group by status order by status',
    [since],
  );
  return rows.map((r) => ({ status: r.status, total: Number(r.n), recent: Number(r.recent) }));
}

/** The error message of the most recently updated `failed` email created after `since` (raw provider text), or null. */
export async function latestFailureMessage(em: EntityManager, since: Date): Promise<string | null> {
  const [row] = await em.execute<{ error_message: string | null }[]>(
    "select error_message from emails where status = 'failed' and created_at > ? order by updated_at desc limit 1",
    [since],
  );
  return row?.error_message ?? null;
}

/**
 * Emails waiting since before `cutoff`, as the email-delivery runbook judges them: `sending` with `claimed_at` before
 * it, `pending` unchanged (`updated_at`) since before it — counts and the oldest instant of each. (The
 * `emails_stuck` gauge, {@link emailsStuck}, is their sum.)
 */
export interface StuckEmailBreakdown {
  sending: number;
  oldestSending: Date | null;
  pending: number;
  oldestPending: Date | null;
}

/** Reads {@link StuckEmailBreakdown} for `cutoff` (one statement). */
export async function stuckEmailBreakdown(em: EntityManager, cutoff: Date): Promise<StuckEmailBreakdown> {
  const [row] = await em.execute<{ sending: string | number; oldest_sending: Date | string | null; pending: string | number; oldest_pending: Date | string | null }[]>(
    `select count(*) filter (where ${STUCK_SENDING}) as sending,
            min(claimed_at) filter (where ${STUCK_SENDING}) as oldest_sending,
            count(*) filter (where ${STUCK_PENDING}) as pending,
            min(updated_at) filter (where ${STUCK_PENDING}) as oldest_pending
     from emails`,
    [cutoff, cutoff, cutoff, cutoff],
  );
  return {
    sending: Number(row?.sending ?? 0),
    oldestSending: row?.oldest_sending ? new Date(row.oldest_sending) : null,
    pending: Number(row?.pending ?? 0),
    oldestPending: row?.oldest_pending ? new Date(row.oldest_pending) : null,
  };
}

/** Ids of emails `sending` with a claim older than `cutoff`, lowest first, at most `limit`. */
export async function stuckSendingIds(em: EntityManager, cutoff: Date, limit = 10): Promise<number[]> {
  const rows = await em.execute<{ id: number }[]>(`select id from emails where ${STUCK_SENDING} order by id limit ?`, [cutoff, limit]);
  return rows.map((r) => Number(r.id));
}

/** `pending` emails unchanged (`updated_at`) since before `cutoff`: the `pending` of {@link stuckEmailBreakdown}, alone. */
export async function stalePendingCount(em: EntityManager, cutoff: Date): Promise<number> {
  const [row] = await em.execute<{ n: string | number }[]>(`select count(*) as n from emails where ${STUCK_PENDING}`, [cutoff]);
  return Number(row?.n ?? 0);
}

/** A bounce or drop: the email, `bounce`/`dropped`, SendGrid's bounce type (`blocked`…, null when unknown), reason, when. */
export interface BounceRecord {
  emailId: number | null;
  event: string;
  type: string | null;
  reason: string | null;
  at: Date;
}

/** Emails `bounced`/`dropped` since `since` (by `bounced_at`, else the last event or update), newest first, at most 500. */
export async function recentBouncedEmails(em: EntityManager, since: Date): Promise<BounceRecord[]> {
  const rows = await em.execute<{ email_id: number | null; event: string; type: string | null; reason: string | null; at: Date | string }[]>(
    `select id as email_id, case when status = 'dropped' then 'dropped' else 'bounce' end as event, null as type, bounce_reason as reason,
            coalesce(bounced_at, last_event_at, updated_at) as at
     from emails where status in ('bounced', 'dropped') and coalesce(bounced_at, last_event_at, updated_at) > ?
     order by at desc limit 500`,
    [since],
  );
  return rows.map((r) => ({ emailId: r.email_id === null ? null : Number(r.email_id), event: r.event, type: r.type, reason: r.reason, at: new Date(r.at) }));
}

/** Spam scores of the drafts created after `since`: count, mean and max score, held ones, and non-held ones scoring ≥ `nearScore`. */
export interface DraftSpamStats {
  drafts: number;
  avgScore: number | null;
  maxScore: number | null;
  held: number;
  near: number;
}

/** Reads {@link DraftSpamStats} (one statement). */
export async function draftSpamStats(em: EntityManager, since: Date, nearScore: number): Promise<DraftSpamStats> {
  const [row] = await em.execute<{ n: string | number; avg: string | number | null; max: number | null; held: string | number; near: string | number }[]>(
    `select count(*) as n, avg(spam_score) as avg, max(spam_score) as max, count(*) filter (where status = 'held') as held,
            count(*) filter (where status <> 'held' and spam_score >= ?) as near
     from emails where created_at > ?`,
    [nearScore, since],
  );
  return {
    drafts: Number(row?.n ?? 0),
    avgScore: row?.avg === null || row?.avg === undefined ? null : Number(row.avg),
    maxScore: row?.max ?? null,
    held: Number(row?.held ?? 0),
    near: Number(row?.near ?? 0),
  };
}

/** The spam rule lists (`spam_reasons`, parsed JSON) of the highest-scoring drafts created after `since`, at most 200. */
export async function draftSpamReasons(em: EntityManager, since: Date): Promise<unknown[]> {
  const rows = await em.execute<{ spam_reasons: unknown }[]>('select spam_reasons from emails where created_at > ? and spam_score > 0 order by spam_score desc limit 200', [since]);
  return rows.map((r) => (typeof r.spam_reasons === 'string' ? (JSON.parse(r.spam_reasons) as unknown) : r.spam_reasons));
}

/** Emails recipients reported as spam since `since` (by the last event, else the last update). */
export async function spamReportsSince(em: EntityManager, since: Date): Promise<number> {
  const [row] = await em.execute<{ n: string | number }[]>("select count(*) as n from emails where status = 'spam_reported' and coalesce(last_event_at, updated_at) > ?", [since]);
  return Number(row?.n ?? 0);
}
