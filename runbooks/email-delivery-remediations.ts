/**
 * The email-delivery runbook's remediations (runbooks/email-delivery.ts): validate the queued addresses (suppress the
 * invalid ones), pause / resume sending (setting `delivery.paused`, honoured by domain/delivery/send.ts), requeue
 * emails stuck in `sending` when the event webhook proves SendGrid never accepted them (claim-before-send: never a
 * second send), and "Retry failed sends".
 */
import { suppressUnsendable } from '../domain/delivery/list-check.js';
import { deliveryPause, setDeliveryPaused } from '../domain/delivery/pause.js';
import { requeueStuck } from '../domain/delivery/send.js';
import { stalePendingCount } from '../domain/queries/email-figures.js';
import type { RunbookContext } from './context.js';
import type { Remediation } from './define.js';
import { minutes } from './email-delivery-checks.js';
import { retryFailedInput, retryFailedSendsRun } from './email-delivery-failed-sends.js';

/** The remediations, in the order they are offered. */
export const emailDeliveryRemediations: Remediation<RunbookContext>[] = [
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
      const reasons = Object.entries(r.byReason)
        .map(([k, n]) => `${n} ${k}`)
        .join('; ');
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
      return {
        summary: before.paused
          ? `Sending was already paused (by ${before.by}); now paused by ${actor}.`
          : `Sending paused by ${actor}: the delivery stage sends nothing until resumed.`,
      };
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
      return {
        summary: before.paused
          ? `Sending resumed by ${actor} (paused by ${before.by}); pending emails go out with the next batch.`
          : 'Sending was not paused; nothing changed.',
      };
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
      const [oldPending, pause] = await Promise.all([stalePendingCount(em, new Date(now.getTime() - thresholdMs)), deliveryPause(em)]);
      ctx.services.logger.info({ actor, requeued: r.requeued.length, keptSending: r.keptSending }, 'stuck emails requeued');
      const parts = [
        `Requeued ${r.requeued.length} email(s) stuck in sending${r.requeued.length ? ` (ids ${r.requeued.slice(0, 10).join(', ')})` : ''} for the next batch.`,
      ];
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
      [
        'retry-failed-sends',
        input.includePermanent === true ? 'permanent' : '',
        input.hours !== undefined && input.hours !== 24 ? `${String(input.hours)}h` : '',
      ]
        .filter(Boolean)
        .join(':'),
    recheck: 'failed-sends',
    run: retryFailedSendsRun,
  },
];
