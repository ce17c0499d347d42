/**
 * Freshness of a signed webhook's timestamp, checked both ways: a signature dated too far in the past is a replay,
 * one dated in the future is forged or from a badly skewed clock (Bolt's Slack check and the Stripe SDK's only look
 * at the past side). Slack and Stripe: ±5 minutes (their documented tolerance); SendGrid: see
 * {@link SENDGRID_SIGNATURE_WINDOW}.
 */

/** A window around now, in seconds: how old a signature may be, and how far in the future. */
export interface SignatureWindow {
  maxAgeSeconds: number;
  maxFutureSeconds: number;
}

/** Slack (X-Slack-Request-Timestamp) and Stripe (`t=` of Stripe-Signature): five minutes either way. */
export const FIVE_MINUTE_WINDOW: SignatureWindow = { maxAgeSeconds: 300, maxFutureSeconds: 300 };

/**
 * SendGrid Signed Event Webhook (X-Twilio-Email-Event-Webhook-Timestamp). SendGrid retries a delivery that did not
 * get a 2xx "at increasing intervals for up to 24 hours after the event occurs" (Event Webhook troubleshooting,
 * https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/troubleshooting) and does not document that a
 * retry is signed afresh, so a genuine retry may carry a timestamp up to 24 h old: the window is 24 h plus 5 minutes
 * of clock skew in the past, 5 minutes in the future. A replay inside it changes nothing (events are stored once by
 * `sg_event_id`).
 */
export const SENDGRID_SIGNATURE_WINDOW: SignatureWindow = { maxAgeSeconds: 24 * 3600 + 300, maxFutureSeconds: 300 };

/** Why a timestamp is outside its window, or `ok`. */
export type WindowVerdict = 'ok' | 'missing' | 'too_old' | 'in_future';

/**
 * Checks a Unix-seconds timestamp (as sent in a header: digits only) against `window` around `nowMs`.
 * @returns `missing` for an absent or non-numeric value, `too_old` / `in_future` outside the window, else `ok`.
 */
export function checkSignatureTimestamp(value: string | number | undefined, nowMs: number, window: SignatureWindow): WindowVerdict {
  const text = typeof value === 'number' ? String(value) : value?.trim();
  if (!text || !/^\d+$/.test(text)) return 'missing';
  const ageSeconds = nowMs / 1000 - Number(text);
  if (ageSeconds > window.maxAgeSeconds) return 'too_old';
  if (-ageSeconds > window.maxFutureSeconds) return 'in_future';
  return 'ok';
}
