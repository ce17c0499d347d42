/**
 * The email-delivery runbook's failed sends (runbooks/email-delivery.ts): the `failed-sends` diagnostic (failed sends
 * of the last 24 h by error class and provider status, domain/queries/email-retries.ts), the root cause's sentence,
 * and the "Retry failed sends" remediation's run (due now for the next email batch, each sent once).
 */
import { z } from 'zod';
import { deliveryPause } from '../domain/delivery/pause.js';
import { NEVER_RESEND_CLASSES, RETRYABLE_CLASSES, RETRYABLE_CLASS_LIST, SEND_ERROR_TEXT, type SendErrorClass } from '../domain/delivery/send-failures.js';
import { emailHash } from '../domain/delivery/suppression.js';
import { failedSendsSummary, retryFailedSends, type FailedSendGroup, type RetrySkipReason } from '../domain/queries/email-retries.js';
import type { RunbookContext } from './context.js';
import { evidenceOf, type Finding } from './define.js';
import { RECENT_MS, iso, maskAddresses } from './email-delivery-checks.js';

/** Retryable failed sends waiting for a retry at or above this count (or any with attempts spent) make `failed-sends` a problem. */
export const FAILED_WAITING_MIN = 5;

/** The email batch job that retries due sends (jobs/pipeline-batches.ts), named in the remediation's summary. */
const EMAIL_BATCH_JOB_NAME = 'email-batch';

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
export async function failedSends(ctx: RunbookContext): Promise<Finding> {
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
  const groups = s.groups
    .slice(0, 5)
    .map((g) => `${g.total} on ${failureLabel(g)}`)
    .join(', ');
  const line = `${plural(failed, 'send')} failed in the last 24 h (${groups}${s.groups.length > 5 ? ', …' : ''}); oldest ${evidence.oldestFailedAt}.`;
  if (waiting > 0) {
    const detail = `${plural(waiting, 'retryable send')} wait${waiting === 1 ? 's' : ''} for a retry (${evidence.retryable.scheduled} scheduled by the backoff, ${stoppedRetryable} with no retry left): "Retry failed sends" queues them for the next email batch.`;
    return { status: waiting >= FAILED_WAITING_MIN || stoppedRetryable > 0 ? 'problem' : 'warn', summary: `${line} ${detail}${older}`, evidence };
  }
  const resendable = evidence.permanent.total - evidence.permanent.invalidAddress;
  const due =
    evidence.retryable.due > 0
      ? ` ${plural(evidence.retryable.due, 'retryable send')} ${evidence.retryable.due === 1 ? 'is' : 'are'} due: the next email batch retries them.`
      : '';
  if (resendable > 0)
    return {
      status: 'warn',
      summary: `${line}${due} ${plural(resendable, 'permanent failure')} (not retried automatically; retry-failed-sends includePermanent=true resends them, never an invalid or suppressed address).${older}`,
      evidence,
    };
  return {
    status: 'ok',
    summary: `${line}${due}${evidence.permanent.invalidAddress ? ` ${evidence.permanent.invalidAddress} invalid address(es): never resent.` : ''}${older}`,
    evidence,
  };
}

/** The root cause's sentence: how many retryable sends wait, on which provider status, and when they can go again. */
export function describeFailedSends(f: Record<string, Finding>): string | undefined {
  const e = evidenceOf(f, 'failed-sends');
  const top = e.topWaiting as { errorClass: string; httpStatus: number | null; n: number } | null | undefined;
  const waiting = Number((e.retryable as { waiting?: number } | undefined)?.waiting ?? 0);
  if (!top || waiting === 0) return undefined;
  const hours = Number(e.windowHours ?? 24);
  const head =
    waiting === top.n ? `${plural(waiting, 'send')} failed on ${failureLabel(top)}` : `${plural(waiting, 'send')} failed, ${top.n} on ${failureLabel(top)}`;
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
export const retryFailedInput = z
  .object({
    includePermanent: z.boolean().default(false),
    hours: z.number().int().min(1).max(720).default(24),
  })
  .strict();

/** Runs "Retry failed sends" (input: {@link retryFailedInput}); the summary names what was queued and what left alone. */
export async function retryFailedSendsRun(ctx: RunbookContext, input: Record<string, unknown>, actor: string): Promise<{ summary: string }> {
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
  const classes = [...byClass]
    .sort((a, b) => b[1] - a[1])
    .map(([c, n]) => `${n} ${c}`)
    .join(', ');
  const ids = r.queued
    .slice(0, 10)
    .map((q) => q.id)
    .join(', ');
  const parts = [
    r.queued.length > 0
      ? `Queued ${plural(r.queued.length, 'failed send')} of the last ${hours} h (${classes}; ids ${ids}${r.queued.length > 10 ? ', …' : ''}) for the next ${EMAIL_BATCH_JOB_NAME} run (every 15 min; \`lf run ${EMAIL_BATCH_JOB_NAME}\` starts it now), attempt history kept: each is sent once.`
      : `No failed send of the last ${hours} h to queue.`,
  ];
  const skipped = (Object.entries(r.skipped) as [RetrySkipReason, number][]).filter(([, n]) => n > 0).map(([k, n]) => SKIP_TEXT[k](n));
  if (skipped.length > 0) parts.push(`Left alone: ${skipped.join('; ')}.`);
  if (pause.paused) parts.push(`Sending is paused (by ${pause.by}): resume it for them to go out.`);
  return { summary: parts.join(' ') };
}
