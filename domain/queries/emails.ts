/** Email queries of delivery's lease protocol (domain/delivery/send.ts, domain/pipeline/reaper.ts). */
import type { EntityManager } from '@mikro-orm/postgresql';
import { rowsOf, type SqlRunner } from './sql-runner.js';

/** Holder mark of an email left `sending` that could not be settled (no Email Activity API): never resent. */
export const UNCONFIRMED_HOLDER = 'unconfirmed';

/**
 * Claims up to `batch` pending emails (oldest id first) in ONE statement, moving them to `sending` with
 * `claimed_at = now` and a lease for `holder` until `until`; concurrent claimers skip each other's rows
 * (`FOR UPDATE SKIP LOCKED`). Returns the ids, ascending.
 */
export async function claimPendingEmails(em: EntityManager, batch: number, now: Date, holder: string, until: Date): Promise<number[]> {
  const rows = await em.execute<{ id: number }[]>(
    `update emails set status = 'sending', claimed_at = ?, updated_at = ?, lease_holder = ?, lease_expires_at = ?
     where id in (select id from emails where status = 'pending' order by id limit ? for update skip locked)
     returning id`,
    [now, now, holder, until, batch],
  );
  return rows.map((r) => Number(r.id)).sort((a, b) => a - b);
}

/** Renews the lease of every `sending` email `holder` holds; returns how many. */
export async function renewItemLeases(em: EntityManager, holder: string, until: Date): Promise<number> {
  const rows = await em
    .execute<{ id: number }[]>(`update emails set lease_expires_at = ? where status = 'sending' and lease_holder = ? returning id`, [until, holder]);
  return rows.length;
}

/**
 * Renews one email's lease just before its send and counts the attempt (`send_attempts + 1`): true only while it is
 * still `sending` under `holder` (the reaper did not take it back).
 */
export async function confirmEmailLease(em: EntityManager, id: number, holder: string, until: Date): Promise<boolean> {
  const rows = await em.execute<{ id: number }[]>(
    `update emails set lease_expires_at = ?, send_attempts = send_attempts + 1 where id = ? and status = 'sending' and lease_holder = ? returning id`,
    [until, id, holder],
  );
  return rows.length > 0;
}

/**
 * Records an accepted send: `sent` with SendGrid's message id, the lease released, and the business `emailed`.
 * Idempotent (a retry after a lost connection repeats it harmlessly).
 */
export async function markEmailSent(em: EntityManager, id: number, messageId: string | null, now: Date): Promise<void> {
  const conn = em.getConnection();
  await conn.execute(
    `update emails set status = 'sent', provider_message_id = coalesce(?, provider_message_id), sent_at = coalesce(sent_at, ?), error_message = null,
       lease_holder = null, lease_expires_at = null, updated_at = ? where id = ? and status in ('sending', 'pending')`,
    [messageId, now, now, id],
  );
  await conn.execute(
    `update businesses set status = 'emailed', updated_at = ? where id = (select business_id from emails where id = ?) and status <> 'emailed'`,
    [now, id],
  );
}

/**
 * Records a refused send: `failed` with the error and its class (domain/delivery/send-failures.ts), lease released,
 * no retry scheduled yet ({@link scheduleEmailRetry}). Returns the email's send attempts so far (undefined when it
 * was no longer `sending`). Idempotent.
 */
export async function markEmailFailed(em: EntityManager, id: number, error: string, now: Date, errorClass: string | null = null): Promise<number | undefined> {
  const rows = await em.execute<{ send_attempts: number }[]>(
    `update emails set status = 'failed', error_message = ?, last_error_class = ?, next_attempt_at = null, lease_holder = null, lease_expires_at = null, updated_at = ?
      where id = ? and status = 'sending' returning send_attempts`,
    [error.slice(0, 4000), errorClass, now, id],
  );
  return rows[0] ? Number(rows[0].send_attempts) : undefined;
}

/** Sets when the email batch retries a `failed` email (domain/delivery/retry.ts). */
export async function scheduleEmailRetry(em: EntityManager, id: number, at: Date): Promise<void> {
  await em.execute(`update emails set next_attempt_at = ? where id = ? and status = 'failed'`, [at, id]);
}

/** A `sending` email with its lease, as the reaper sees it. */
export interface SendingLease {
  id: number;
  holder: string | null;
  expiresAt: Date | null;
  claimedAt: Date | null;
  /**
   * Proof that SendGrid accepted it, when we hold one: the `X-Message-Id` recorded at send time
   * (`emails.provider_message_id`), else the `sg_message_id` of an event SendGrid's Event Webhook delivered for it
   * (`email_events`, matched by our `custom_args.email_id`); `accepted` is true when either exists (an event
   * without a message id still proves acceptance).
   */
  proof: { accepted: boolean; messageId: string | null };
}

/** Every `sending` email not yet marked {@link UNCONFIRMED_HOLDER}, oldest id first, with its acceptance proof. */
export async function sendingLeases(em: EntityManager): Promise<SendingLease[]> {
  const rows = await em.execute<
    { id: number; lease_holder: string | null; lease_expires_at: Date | string | null; claimed_at: Date | string | null; message_id: string | null; has_event: boolean }[]
  >(
    `select e.id, e.lease_holder, e.lease_expires_at, e.claimed_at,
            coalesce(e.provider_message_id, (select split_part(ev.sg_message_id, '.', 1) from email_events ev
                                              where ev.email_id = e.id and ev.sg_message_id is not null order by ev.id limit 1)) as message_id,
            exists (select 1 from email_events ev where ev.email_id = e.id) as has_event
       from emails e
      where e.status = 'sending' and e.lease_holder is distinct from ? order by e.id`,
    [UNCONFIRMED_HOLDER],
  );
  const d = (v: Date | string | null) => (v === null ? null : new Date(v));
  return rows.map((r) => ({
    id: Number(r.id),
    holder: r.lease_holder,
    expiresAt: d(r.lease_expires_at),
    claimedAt: d(r.claimed_at),
    proof: { accepted: r.message_id !== null || r.has_event, messageId: r.message_id },
  }));
}

/** Puts a `sending` email still held by `holder` back to `pending` with `reason`; false when it changed meanwhile. */
export async function requeueSendingEmail(em: EntityManager, id: number, holder: string | null, reason: string, now: Date): Promise<boolean> {
  const rows = await em.execute<{ id: number }[]>(
    `update emails set status = 'pending', claimed_at = null, lease_holder = null, lease_expires_at = null, error_message = ?, updated_at = ?
      where id = ? and status = 'sending' and lease_holder is not distinct from ? returning id`,
    [reason, now, id, holder],
  );
  return rows.length > 0;
}

/** Leaves a `sending` email for good as {@link UNCONFIRMED_HOLDER} with `reason` (never resent automatically). */
export async function markSendingUnconfirmed(em: EntityManager, id: number, holder: string | null, reason: string, now: Date): Promise<boolean> {
  const rows = await em.execute<{ id: number }[]>(
    `update emails set lease_holder = ?, lease_expires_at = null, error_message = ?, updated_at = ?
      where id = ? and status = 'sending' and lease_holder is not distinct from ? returning id`,
    [UNCONFIRMED_HOLDER, reason, now, id, holder],
  );
  return rows.length > 0;
}

// --- issue #14: one definition per figure (alert rules, gauges, runbooks, status post) ---
/*
 * Named queries over `emails` (issue #14 point 4: one definition per figure). The bounce rate, stuck emails and
 * send failures used by the alert rules (alerts/rules.ts), the gauges on /metrics (alerts/metrics.ts), the
 * email-delivery runbook and the delivery code's bounce check all come from here.
 */
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

/** Emails `pending` (created) or `sending` (claimed) for longer than `stuckAfterMs` before `now`. */
export async function emailsStuck(em: EntityManager, now: Date, stuckAfterMs: number): Promise<number> {
  const before = new Date(now.getTime() - stuckAfterMs);
  const rows = await em.execute<{ n: number }[]>(
    `select count(*)::int as n from emails where (status = 'pending' and created_at < ?) or (status = 'sending' and claimed_at < ?)`,
    [before, before],
  );
  return Number(rows[0]?.n ?? 0);
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

// --- issue #15: delivery's queue checks, stale claims and drafts (domain/delivery/*, domain/pipeline/stuck.ts, personalization) ---

/** Every email not yet handed to SendGrid (`pending` or `held`), by id: its id and address. */
export async function queuedEmailAddresses(em: EntityManager): Promise<{ id: number; toAddress: string }[]> {
  const rows = await em.execute<{ id: number; to_address: string }[]>("select id, to_address from emails where status in ('pending', 'held') order by id");
  return rows.map((r) => ({ id: Number(r.id), toAddress: r.to_address }));
}

/** A `sending` email claimed before some time (see {@link sendingClaimedBefore}). */
export interface StaleSendingRow {
  id: number;
  businessId: number;
  campaign: string;
  claimedAt: Date;
}

/** Emails `sending` with `claimed_at` before `claimedBefore`, by id. */
export async function sendingClaimedBefore(em: EntityManager, claimedBefore: Date): Promise<StaleSendingRow[]> {
  const rows = await em.execute<{ id: number; business_id: number; campaign: string; claimed_at: Date | string }[]>(
    `select id, business_id, campaign, claimed_at from emails
     where status = 'sending' and claimed_at < ? order by id`,
    [claimedBefore],
  );
  return rows.map((r) => ({ id: Number(r.id), businessId: Number(r.business_id), campaign: r.campaign, claimedAt: new Date(r.claimed_at) }));
}

/** How many emails are `sending` with `claimed_at` before `claimedBefore`. A count. */
export async function countSendingClaimedBefore(em: EntityManager, claimedBefore: Date): Promise<number> {
  const rows = await em.execute<{ n: string | number }[]>("select count(*) as n from emails where status = 'sending' and claimed_at < ?", [claimedBefore]);
  return Number(rows[0]?.n ?? 0);
}

/**
 * Puts back to `pending` (ONE statement) the `sending` emails claimed before `cutoff` that SendGrid demonstrably
 * never accepted: no message id, no `sent_at`, no event of their own, while some event was received more than
 * `graceSeconds` after their claim. `claimed_at` is cleared and `error_message` says why. Returns their ids, unsorted.
 */
export async function requeueUnacceptedSending(em: EntityManager, now: Date, cutoff: Date, graceSeconds: number): Promise<number[]> {
  const rows = await em.execute<{ id: number }[]>(
    `update emails e set status = 'pending', claimed_at = null, updated_at = ?,
       error_message = 'requeued: claim expired and the event webhook shows SendGrid never accepted it'
     where e.status = 'sending' and e.claimed_at < ? and e.provider_message_id is null and e.sent_at is null
       and not exists (select 1 from email_events ev where ev.email_id = e.id)
       and exists (select 1 from email_events w where w.received_at > e.claimed_at + ? * interval '1 second')
     returning e.id`,
    [now, cutoff, graceSeconds],
  );
  return rows.map((r) => Number(r.id));
}

/**
 * Emails `sending` whose `coalesce(claimed_at, updated_at)` is before `before`: how many and the oldest such time
 * (null when none). The "stuck sending" figure of domain/pipeline/stuck.ts.
 */
export async function stuckSendingEmails(em: EntityManager, before: Date): Promise<{ count: number; oldest: Date | null }> {
  const [row] = await em
    .getConnection()
    .execute<{ n: string; oldest: Date | string | null }[]>(
      "select count(*) as n, min(coalesce(claimed_at, updated_at)) as oldest from emails where status = 'sending' and coalesce(claimed_at, updated_at) < ?",
      [before],
    );
  return { count: Number(row?.n ?? 0), oldest: row?.oldest ? new Date(row.oldest) : null };
}

/** A drafted outreach email to insert (personalization). `spamReasons` stored as JSON text. */
export interface DraftEmailInput {
  businessId: number;
  campaign: string;
  toAddress: string;
  subject: string;
  body: string;
  spamScore: number;
  spamReasons: unknown;
  status: 'pending' | 'held';
  now: Date;
}

/**
 * Inserts a draft unless the business already has an email of that campaign (`on conflict do nothing`), on the
 * connection (outside any transaction of `em`). Returns the new id, or undefined when one existed.
 */
export async function insertDraftEmail(em: EntityManager, d: DraftEmailInput): Promise<number | undefined> {
  const rows = await em.getConnection().execute<{ id: number }[]>(
    `insert into emails (business_id, campaign, to_address, subject, body, spam_score, spam_reasons, status, created_at, updated_at)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict (business_id, campaign) do nothing returning id`,
    [d.businessId, d.campaign, d.toAddress, d.subject, d.body, d.spamScore, JSON.stringify(d.spamReasons), d.status, d.now, d.now],
  );
  return rows[0] ? Number(rows[0].id) : undefined;
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
 * `emails_stuck` metric, {@link emailsStuck}, dates `pending` by `created_at` instead.)
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
    `select count(*) filter (where status = 'sending' and claimed_at < ?) as sending,
            min(claimed_at) filter (where status = 'sending' and claimed_at < ?) as oldest_sending,
            count(*) filter (where status = 'pending' and updated_at < ?) as pending,
            min(updated_at) filter (where status = 'pending' and updated_at < ?) as oldest_pending
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
  const rows = await em.execute<{ id: number }[]>("select id from emails where status = 'sending' and claimed_at < ? order by id limit ?", [cutoff, limit]);
  return rows.map((r) => Number(r.id));
}

/** `pending` emails unchanged (`updated_at`) since before `cutoff`: the `pending` of {@link stuckEmailBreakdown}, alone. */
export async function stalePendingCount(em: EntityManager, cutoff: Date): Promise<number> {
  const [row] = await em.execute<{ n: string | number }[]>("select count(*) as n from emails where status = 'pending' and updated_at < ?", [cutoff]);
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
