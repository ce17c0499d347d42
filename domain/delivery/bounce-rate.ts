/**
 * Bounce rate over a rolling 24 h window: emails sent in the window (`sent_at` within it) that are now `bounced`
 * (hard bounces and blocks both end as `bounced`), divided by all emails sent in the window. Judged only with at
 * least `bounceRateMinSends` sends (config.delivery), so three early bounces do not page anyone. Mailbox providers
 * start throttling senders around a few percent; the default threshold is 10 % (BOUNCE_RATE_THRESHOLD).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { recordOpsEvent } from '../events.js';
import type { DeliveryConfig } from './config.js';

/** Window length: 24 h in ms. */
export const BOUNCE_WINDOW_MS = 24 * 3600 * 1000;

/** Thresholds used by {@link bounceRate} (defaults match domain/delivery/config.ts). */
export type BounceRateSettings = Pick<DeliveryConfig, 'bounceRateThreshold' | 'bounceRateMinSends'>;
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

/** Computes the bounce rate of the 24 h before `now`. */
export async function bounceRate(em: EntityManager, now: Date, settings: BounceRateSettings = DEFAULTS): Promise<BounceRate> {
  const rows = await em.execute<{ sent: string | number; bounced: string | number }[]>(
    `select count(*) as sent, count(*) filter (where status = 'bounced') as bounced
     from emails where sent_at > ? and sent_at <= ?`,
    [new Date(now.getTime() - BOUNCE_WINDOW_MS), now],
  );
  const sent = Number(rows[0]?.sent ?? 0);
  const bounced = Number(rows[0]?.bounced ?? 0);
  const rate = sent > 0 ? bounced / sent : 0;
  const threshold = settings.bounceRateThreshold;
  const minSends = settings.bounceRateMinSends;
  return { sent, bounced, rate, threshold, minSends, aboveThreshold: sent >= minSends && rate > threshold };
}

/**
 * Computes the rate and, when above the threshold, records the ops event `delivery.bounce_rate_high` (severity
 * critical, dedup key `delivery.bounce_rate_high:<YYYY-MM-DDTHH> (UTC hour)`, payload the numbers). Returns the
 * numbers and whether an event was newly recorded.
 */
export async function checkBounceRate(
  em: EntityManager,
  now: Date,
  settings: BounceRateSettings = DEFAULTS,
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
