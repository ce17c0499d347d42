/**
 * The lease reaper (issue #13): run by the scheduler leader all the time (every quarter lease, and before a run is
 * started), it returns what dead holders left (domain/leases.ts says who is dead):
 *
 * 1. runs still `running` whose holder is dead → `interrupted` (the next run or batch resumes their items);
 * 2. businesses claimed for assessment by a dead holder → released (the next batch claims them again);
 * 3. emails left `sending` by a dead holder: one SendGrid has already acknowledged (its `X-Message-Id` stored, or an
 *    Event Webhook event received for it) → `sent` at once; the others, once {@link ReaperDeps.settleMs} have passed
 *    since their last renewal (the activity feed's indexing delay) → SendGrid's Email Activity API is asked for a message carrying our id
 *    (`unique_args['email_id']="<id>"`, the `custom_args` of every send): found → `sent` (with its message id, the
 *    business `emailed`); not found → `pending` (sent again by the next batch). So each email goes out exactly
 *    once across crashes. When the API is unavailable to the account (401/403/404: the Email Activity add-on is
 *    paid) the email is left `sending`, marked `unconfirmed`, never resent: at-most-once (README). Other errors (5xx,
 *    network, an open breaker) leave it for the next pass.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Clock } from '../clock.js';
import { ProviderError } from '../errors.js';
import { leaseIsDead, type ParsedHolder } from '../leases.js';
import type { Logger } from '../logger.js';
import { activityQueryByCustomArg, type SendGridPort } from '../providers/sendgrid/index.js';
import { businessClaims, releaseBusinessClaims } from '../queries/businesses.js';
import { markEmailSent, markSendingUnconfirmed, requeueSendingEmail, sendingLeases } from '../queries/emails.js';
import { interruptRun, runningRuns } from '../queries/runs.js';

/** Runs with no lease (written before leases existed) are dead after this long without a heartbeat: 10 min. */
export const LEGACY_STALE_MS = 10 * 60_000;

/** What the reaper needs. `sendgrid` absent = the activity feed cannot be asked (emails wait). */
export interface ReaperDeps {
  em: () => EntityManager;
  clock: Clock;
  logger: Logger;
  leaseMs: number;
  settleMs: number;
  sendgrid?: Pick<SendGridPort, 'searchMessages'>;
  /** Whether a run held by this process is still at work (the scheduler's workers); default: its lease says. */
  isLocalRunAlive?: (job: string, runId: number) => boolean;
  /** Only this job's runs (a run about to start); items are reaped either way. */
  job?: string;
}

/** What one pass did (ids). */
export interface ReapResult {
  runsInterrupted: number[];
  businessesReleased: number;
  emailsSent: number[];
  emailsRequeued: number[];
  emailsUnconfirmed: number[];
}

/** One reaper pass (module comment). Database errors propagate (the caller logs and tries again next pass). */
export async function reapExpiredLeases(deps: ReaperDeps): Promise<ReapResult> {
  const now = deps.clock.now();
  const em = deps.em();
  const out: ReapResult = { runsInterrupted: [], businessesReleased: 0, emailsSent: [], emailsRequeued: [], emailsUnconfirmed: [] };
  const runs = await runningRuns(em, deps.job);
  const jobOf = new Map(runs.map((r) => [r.id, r.job]));
  for (const r of runs) {
    const dead = r.leaseHolder === null
      ? r.heartbeatAt.getTime() < now.getTime() - LEGACY_STALE_MS
      : leaseIsDead({ holder: r.leaseHolder, expiresAt: r.leaseExpiresAt }, now, {
          selfAlive: deps.isLocalRunAlive ? () => deps.isLocalRunAlive!(r.job, r.id) : undefined,
        });
    if (!dead) continue;
    const reason = `lease lost: holder ${r.leaseHolder ?? '(none)'} stopped renewing (lease until ${r.leaseExpiresAt?.toISOString() ?? 'never set'})`;
    if (await interruptRun(em, r.id, now, reason)) {
      out.runsInterrupted.push(r.id);
      deps.logger.warn({ job: r.job, runId: r.id, holder: r.leaseHolder }, 'run interrupted by the reaper: its lease holder is gone');
    }
  }
  const ctx = await itemContext(deps, em, jobOf);
  const claims = (await businessClaims(em)).filter((c) => c.until.getTime() < now.getTime() || leaseIsDead({ holder: c.holder, expiresAt: c.until }, now, ctx));
  out.businessesReleased = await releaseBusinessClaims(em, claims.map((c) => c.id));
  await settleSending(deps, em, now, ctx, out);
  return out;
}

type ItemContext = NonNullable<Parameters<typeof leaseIsDead>[2]>;

/** Which item holders are alive: items of a run of this process live as long as its worker; others by their lease. */
async function itemContext(deps: ReaperDeps, em: EntityManager, jobOf?: Map<number, string>): Promise<ItemContext> {
  const runs = await runningRuns(em);
  const running = new Set(runs.map((r) => r.id));
  const jobs = jobOf ?? new Map(runs.map((r) => [r.id, r.job]));
  const selfAlive = (h: ParsedHolder) =>
    h.runId === undefined ? undefined : running.has(h.runId) && (deps.isLocalRunAlive?.(jobs.get(h.runId) ?? '', h.runId) ?? true);
  return { runningRunIds: running, selfAlive };
}

/**
 * Settles the emails left `sending` by dead holders (step 3 of the module comment) — what the email stage does
 * before it finishes, so a crashed run's emails go out in the next run rather than the next batch. Returns what it
 * did, and `waitMs`: how long until the next dead email may be looked up (undefined when none waits).
 */
export async function settleDeadEmails(deps: ReaperDeps): Promise<ReapResult & { waitMs: number | undefined }> {
  const em = deps.em();
  const out: ReapResult = { runsInterrupted: [], businessesReleased: 0, emailsSent: [], emailsRequeued: [], emailsUnconfirmed: [] };
  const waitMs = await settleSending(deps, em, deps.clock.now(), await itemContext(deps, em), out);
  return { ...out, waitMs };
}

/** Step 3 of the module comment; returns the ms until the soonest dead email not yet settled may be (or undefined). */
async function settleSending(deps: ReaperDeps, em: EntityManager, now: Date, ctx: ItemContext, out: ReapResult): Promise<number | undefined> {
  let waitMs: number | undefined;
  for (const e of await sendingLeases(em)) {
    const expiresAt = e.expiresAt ?? (e.claimedAt ? new Date(e.claimedAt.getTime() + deps.leaseMs) : null);
    if (!leaseIsDead({ holder: e.holder, expiresAt }, now, ctx)) continue;
    if (e.proof.accepted) {
      // SendGrid already told us it took it (its X-Message-Id, or an event webhook for it): sent, no lookup, never
      // resent — the activity feed may have aged it out or not list it, which must not cause a duplicate
      await markEmailSent(em, e.id, e.proof.messageId, now);
      out.emailsSent.push(e.id);
      deps.logger.info({ emailId: e.id, msgId: e.proof.messageId }, 'email left sending has proof SendGrid accepted it: marked sent');
      continue;
    }
    const lastRenewal = (expiresAt?.getTime() ?? 0) - deps.leaseMs;
    if (now.getTime() < lastRenewal + deps.settleMs) {
      // the activity feed may not show it yet
      waitMs = Math.min(waitMs ?? Infinity, lastRenewal + deps.settleMs - now.getTime());
      continue;
    }
    if (!deps.sendgrid) continue;
    let found: { msgId: string } | undefined;
    try {
      found = (await deps.sendgrid.searchMessages(activityQueryByCustomArg('email_id', String(e.id)), 10))[0];
    } catch (err) {
      const status = err instanceof ProviderError ? err.status : undefined;
      if (status === 401 || status === 403 || status === 404) {
        const reason = `left sending: SendGrid's Email Activity API answered ${status} (add-on or messages.read missing), so whether SendGrid accepted it is unknown; not resent (at-most-once)`;
        if (await markSendingUnconfirmed(em, e.id, e.holder, reason, now)) out.emailsUnconfirmed.push(e.id);
        deps.logger.warn({ emailId: e.id, status }, 'email left sending: the Email Activity API is unavailable; not resent');
      } else deps.logger.warn({ emailId: e.id, err: (err as Error).message }, 'Email Activity lookup failed; retried on the next pass');
      continue;
    }
    if (found) {
      await markEmailSent(em, e.id, found.msgId.split('.')[0] || null, now);
      out.emailsSent.push(e.id);
      deps.logger.info({ emailId: e.id, msgId: found.msgId }, 'email left sending was accepted by SendGrid: marked sent');
    } else if (await requeueSendingEmail(em, e.id, e.holder, "requeued: its holder died and SendGrid's activity feed has no message for it", now)) {
      out.emailsRequeued.push(e.id);
      deps.logger.info({ emailId: e.id }, 'email left sending never reached SendGrid: back to pending');
    }
  }
  return waitMs;
}
