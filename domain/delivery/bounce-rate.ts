/**
 * The delivery code's bounce check over the one bounce-rate definition (domain/queries/email-figures.ts bounceRate, also
 * used by the HighBounceRate rule, its gauge and the email-delivery runbook). Bounce rate over a rolling 24 h window: emails sent in the window (`sent_at` within it) that are now `bounced`
 * (hard bounces and blocks both end as `bounced`), divided by all emails sent in the window. Judged only with at
 * least `bounceRateMinSends` sends (config.delivery), so three early bounces do not page anyone. Mailbox providers
 * start throttling senders around a few percent; the default threshold is 10 % (BOUNCE_RATE_THRESHOLD).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { recordOpsEvent } from '../events.js';
import { bounceRate, type BounceRate, type BounceRateSettings } from '../queries/email-figures.js';

/**
 * Computes the rate and, when above the threshold, records the ops event `delivery.bounce_rate_high` (severity
 * critical, dedup key `delivery.bounce_rate_high:<YYYY-MM-DDTHH> (UTC hour)`, payload the numbers). Returns the
 * numbers and whether an event was newly recorded.
 */
export async function checkBounceRate(
  em: EntityManager,
  now: Date,
  settings?: BounceRateSettings,
): Promise<BounceRate & { recorded: boolean }> {
  const r = await bounceRate(em, now, settings);
  if (!r.aboveThreshold) return { ...r, recorded: false };
  const hour = now.toISOString().slice(0, 13);
  const recorded = await recordOpsEvent(
    em,
    {
      type: 'delivery.bounce_rate_high',
      severity: 'critical',
      dedupKey: `delivery.bounce_rate_high:${hour}`,
      payload: { sent: r.sent, bounced: r.bounced, rate: Number(r.rate.toFixed(4)), threshold: r.threshold, minSends: r.minSends, windowHours: 24 },
    },
    now,
  );
  return { ...r, recorded };
}
