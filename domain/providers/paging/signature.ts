/**
 * PagerDuty v3 webhook signatures (https://developer.pagerduty.com/docs/webhooks/webhook-signatures/):
 * `X-PagerDuty-Signature: v1=<hex HMAC-SHA256(key = the subscription secret's UTF-8 bytes, message = raw body)>`,
 * possibly several comma-separated (during secret rotation); valid when any `v1=` matches. Compared in constant
 * time over the raw bytes (never a re-serialized body).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** True when `header` carries a `v1=` signature of `raw` under `secret`. False for a missing/empty header or secret. */
export function verifyPagerDutySignature(raw: Buffer, header: string | undefined, secret: string | undefined): boolean {
  if (!secret || !header || raw.length === 0) return false;
  const want = createHmac('sha256', Buffer.from(secret, 'utf8')).update(raw).digest();
  return header
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('v1='))
    .some((s) => {
      const hex = s.slice(3);
      if (!/^[0-9a-f]{64}$/i.test(hex)) return false;
      return timingSafeEqual(Buffer.from(hex, 'hex'), want);
    });
}

/** The header PagerDuty would send for `raw` under `secret` (the sandbox and tests sign with it). */
export function signPagerDuty(raw: Buffer | string, secret: string): string {
  return `v1=${createHmac('sha256', Buffer.from(secret, 'utf8')).update(raw).digest('hex')}`;
}
