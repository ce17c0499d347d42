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
import type { RunbookContext } from './context.js';
import { defineRunbook, evidenceOf } from './define.js';
import {
  bounceRateCheck,
  invalidAddresses,
  pauseState,
  PROBE_TIMEOUT_MS,
  recentBounces,
  sendgridConfig,
  spamScores,
  statusDistribution,
  stuckEmails,
  webhookLag,
} from './email-delivery-checks.js';
import { describeFailedSends, failedSends } from './email-delivery-failed-sends.js';
import { emailDeliveryRemediations } from './email-delivery-remediations.js';

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
      indicatedBy: (f) => evidenceOf(f, 'sendgrid-config').keyProblem === true,
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
      indicatedBy: (f) => Number((evidenceOf(f, 'failed-sends').retryable as { waiting?: number } | undefined)?.waiting ?? 0) > 0,
      describe: describeFailedSends,
      remediations: ['retry-failed-sends'],
    },
  ],
  remediations: emailDeliveryRemediations,
});
