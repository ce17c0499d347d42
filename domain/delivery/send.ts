/**
 * Delivery: sends `pending` outreach emails through SendGrid mail/send, carrying our email id in
 * `custom_args.email_id` so event-webhook events can be matched back. Sent emails move to `sent` with
 * SendGrid's `X-Message-Id`; failures move to `failed` with the error kept.
 */
import { Email } from '../../db/entities/index.js';
import type { PipelineDeps, ProgressFn } from '../pipeline/deps.js';

/** Emails sent per run. */
export const EMAIL_LIMIT = 500;

/** Sends pending emails, oldest first; returns sent and failed counts. */
export async function sendPending(
  deps: PipelineDeps,
  progress: ProgressFn = () => {},
): Promise<{ emailed: number; failed: number }> {
  const em = deps.em.fork();
  const emails = await em.find(Email, { status: 'pending' }, { populate: ['business'], orderBy: { id: 'asc' }, limit: EMAIL_LIMIT });
  let emailed = 0;
  let failed = 0;
  for (const email of emails) {
    try {
      const res = await deps.providers.sendgrid.send({
        to: email.toAddress,
        from: deps.config.sendgridFrom,
        subject: email.subject,
        text: email.body,
        customArgs: { email_id: String(email.id) },
      });
      email.status = 'sent';
      email.providerMessageId = res.messageId;
      email.sentAt = deps.clock.now();
      email.business.status = 'emailed';
      emailed++;
      progress('emailed', 1);
    } catch (err) {
      email.status = 'failed';
      email.errorMessage = (err as Error).message;
      failed++;
      progress('send_failed', 1);
    }
    await em.flush();
  }
  return { emailed, failed };
}
