/**
 * Job: hourly SendGrid/Stripe reconciliation.
 * - Stripe: {@link replayEvents} for the last {@link STRIPE_REPLAY_HOURS} h — events missing from the webhook inbox
 *   (missed webhooks) are stored and applied; purchases that became paid get their report.
 * - SendGrid (read-only): emails still `sent` more than {@link SENDGRID_SILENT_HOURS} h after sending with no
 *   event at all (no delivered/bounce/…: the event webhook may be missing) are counted and listed. Nothing is
 *   re-sent.
 * Records `reconciliation.done` only when something was repaired or found (warning when emails were found or an
 * event failed, else info), once per hour (dedup key). A Stripe failure does not stop the SendGrid check; the run
 * then ends `partial` and the event names the error.
 *
 * Runs in a worker with its own small services (it calls Stripe through the gateway), or on the service's own
 * when in-process.
 */
import { recordOpsEvent } from '../domain/events.js';
import { replayEvents } from '../domain/storefront/replay.js';
import { sentEmailsWithoutEvents } from '../domain/queries/email-events.js';
import { requireServices } from './job-context.js';
import type { JobContext, JobNeeds } from './job-types.js';

/** The catalog entry the lead adds to jobs/catalog.ts (cron in UTC). */
export const RECONCILIATION_JOB = {
  name: 'reconciliation',
  file: 'reconciliation',
  cron: '15 * * * *',
  timeoutMs: 10 * 60 * 1000,
  why: 'Hourly: replays missed Stripe webhooks from the events API (last 2 h) and reports emails sent over 24 h ago with no SendGrid event (read-only).',
} as const;

/** Stripe events created in this many past hours are replayed (two runs overlap by an hour). */
export const STRIPE_REPLAY_HOURS = 2;
/** An email `sent` this many hours ago with no event is reported. */
export const SENDGRID_SILENT_HOURS = 24;

/** What one run did. */
export interface ReconciliationSummary {
  /** `clean`: nothing to do; `repaired`/`found`: see counts; `partial`: Stripe could not be listed. */
  status: 'clean' | 'repaired' | 'found' | 'partial';
  stripe: { listed: number; missing: number; applied: number; failed: number; truncated: boolean } | { error: string };
  sendgrid: { silent: number; emailIds: number[]; oldestSentAt: string | null };
  posted: boolean;
}

/** In a worker: full services (Stripe is called through the gateway). */
export const needs: JobNeeds = 'services';

/** One reconciliation at the context's instant with its full services. */
export default async function reconciliation(ctx: JobContext): Promise<ReconciliationSummary> {
  const services = requireServices(ctx);
  const { now, report } = ctx;
  let stripe: ReconciliationSummary['stripe'];
  try {
    const r = await replayEvents(services, { since: new Date(now.getTime() - STRIPE_REPLAY_HOURS * 3_600_000) });
    const failed = r.results.filter((x) => x.outcome === 'failed').length;
    stripe = { listed: r.listed, missing: r.missing, applied: r.missing - failed, failed, truncated: r.truncated };
  } catch (err) {
    stripe = { error: String((err as Error)?.message ?? err).slice(0, 500) };
    services.logger.warn({ err: stripe.error }, 'reconciliation: Stripe events could not be replayed');
  }
  report({ kind: 'progress', stage: 'stripe', n: 'missing' in stripe ? stripe.missing : 0 });

  const rows = await sentEmailsWithoutEvents(services.orm.em.fork(), new Date(now.getTime() - SENDGRID_SILENT_HOURS * 3_600_000));
  const sendgrid = {
    silent: rows.length,
    emailIds: rows.slice(0, 20).map((r) => r.id),
    oldestSentAt: rows[0] ? rows[0].sentAt.toISOString() : null,
  };
  report({ kind: 'progress', stage: 'sendgrid', n: sendgrid.silent });

  const repaired = 'missing' in stripe && stripe.missing > 0;
  const status: ReconciliationSummary['status'] = 'error' in stripe ? 'partial' : sendgrid.silent > 0 ? 'found' : repaired ? 'repaired' : 'clean';
  let posted = false;
  if (status !== 'clean') {
    const worrying = 'error' in stripe || sendgrid.silent > 0 || ('failed' in stripe && stripe.failed > 0);
    posted = await recordOpsEvent(
      services.orm.em.fork(),
      {
        type: 'reconciliation.done',
        severity: worrying ? 'warning' : 'info',
        dedupKey: `reconciliation.done:${now.toISOString().slice(0, 13)}`,
        payload: { stripe, sendgrid, replayHours: STRIPE_REPLAY_HOURS, silentHours: SENDGRID_SILENT_HOURS },
      },
      now,
    );
  }
  return { status, stripe, sendgrid, posted };
}
