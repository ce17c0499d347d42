/**
 * Retries of failed sends (issue #14 point 5), run by the email stage before it claims (domain/delivery/send.ts
 * `sendPending`: the email batch every 15 min and the daily run). A `failed` email whose `next_attempt_at` is due
 * (send-failures.ts set it, or the "Retry failed sends" remediation):
 *
 * - with proof SendGrid accepted it after all (an Event Webhook event carrying its `custom_args.email_id`) → `sent`;
 * - after an unknown outcome (`timeout`, `connection_lost`, or a failure stored before classes existed: SendGrid may
 *   have taken it) → SendGrid's Email Activity API is asked for a message with our id, as the reaper does
 *   (domain/pipeline/reaper.ts): found → `sent`; not found → `pending`; the API unavailable to the account
 *   (401/403/404) → retries stop (at-most-once, the reason stored); another error → asked again next batch;
 * - else (SendGrid answered and refused, or the call never left: 401, 429, 5xx, an open breaker…) → `pending`.
 *
 * `pending` emails go through the normal claim → lease → send path, so a retry is sent once, like any email.
 */
import { ProviderError } from '../errors.js';
import type { PipelineDeps } from '../pipeline/deps.js';
import { activityQueryByCustomArg } from '../providers/sendgrid/index.js';
import { dueRetries, holdFailedEmail, markFailedEmailSent, requeueFailedEmail, type DueRetry } from '../queries/email-retries.js';
import { UNKNOWN_OUTCOME_CLASSES, type SendErrorClass } from './send-failures.js';

/** What one pass did (email ids). */
export interface RetryPass {
  /** Back to `pending`: the stage's next claim sends them. */
  requeued: number[];
  /** SendGrid had accepted them after all: `sent`, not resent. */
  confirmedSent: number[];
  /** Retries stopped: the outcome is unknown and the Email Activity API is unavailable. */
  held: number[];
}

/** Whether a due email needs SendGrid's word before a resend (its last send may have reached SendGrid). */
function outcomeUnknown(r: DueRetry): boolean {
  return r.errorClass === null || UNKNOWN_OUTCOME_CLASSES.has(r.errorClass as SendErrorClass);
}

/** Asks the activity feed about one email: its message id when found, null when not, 'held' / 'later' on errors. */
async function lookUp(deps: PipelineDeps, id: number): Promise<{ msgId: string } | null | 'held' | 'later'> {
  try {
    return (await deps.providers.sendgrid.searchMessages(activityQueryByCustomArg('email_id', String(id)), 10))[0] ?? null;
  } catch (err) {
    const status = err instanceof ProviderError ? err.status : undefined;
    deps.logger.warn({ emailId: id, status, err: (err as Error).message }, 'Email Activity lookup before a retry failed');
    return status === 401 || status === 403 || status === 404 ? 'held' : 'later';
  }
}

/** One pass over the due retries (module comment). Database errors propagate. */
export async function retryDueSends(deps: PipelineDeps): Promise<RetryPass> {
  const out: RetryPass = { requeued: [], confirmedSent: [], held: [] };
  const max = deps.config.delivery.sendRetry.maxAttempts;
  for (const r of await dueRetries(deps.em.fork(), deps.clock.now())) {
    const em = deps.em.fork();
    const now = deps.clock.now();
    if (r.proof.accepted) {
      if (await markFailedEmailSent(em, r.id, r.proof.messageId, now)) out.confirmedSent.push(r.id);
      continue;
    }
    if (outcomeUnknown(r)) {
      const found = await lookUp(deps, r.id);
      if (found === 'later') continue;
      if (found === 'held') {
        await holdFailedEmail(em, r.id, "not retried: SendGrid's Email Activity API is unavailable, so whether it took the last send is unknown (at-most-once)", now);
        out.held.push(r.id);
        continue;
      }
      if (found) {
        if (await markFailedEmailSent(em, r.id, found.msgId.split('.')[0] || null, now)) out.confirmedSent.push(r.id);
        continue;
      }
    }
    const reason = `retry ${r.attempts + 1} of ${Math.max(max, r.attempts + 1)} after ${r.errorClass ?? 'an unclassified failure'}`;
    if (await requeueFailedEmail(em, r.id, reason, now)) out.requeued.push(r.id);
  }
  if (out.requeued.length + out.confirmedSent.length + out.held.length > 0)
    deps.logger.info({ requeued: out.requeued.length, confirmedSent: out.confirmedSent.length, held: out.held.length }, 'failed sends due for a retry');
  return out;
}
