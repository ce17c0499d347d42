/**
 * The signed "Get the full report" link every outreach email carries (domain/delivery/compliance.ts adds it when
 * the message is composed): `GET <PUBLIC_BASE_URL>/get-report?token=…` opens (or reuses) the business's Stripe
 * Checkout Session (bot/webhooks/report-link.ts, domain/storefront/door.ts).
 *
 * Token = `base64url(JSON{"b": businessId, "e": emailId, "x": expiry in Unix seconds})` + `.` +
 * `base64url(HMAC-SHA256(secret, <first part>))`, secret = `config.storefront.reportLinkSecret`
 * (`REPORT_LINK_SECRET`), valid `config.storefront.reportLinkTtlMs` (`REPORT_LINK_TTL_DAYS`, 30 days). The MAC covers
 * the business id, the email id and the expiry, so changing any of them (or the secret) refuses the link; no
 * address or other personal data is in the token.
 */
import { openClaims, SignedLinkError, signClaims } from '../signed-token.js';

/** Path of the link's route. */
export const REPORT_LINK_PATH = '/get-report';

/** What a valid token carries. `expiresAt` in Unix seconds; `emailId` null when the link was made outside an email. */
export interface ReportLinkClaims {
  businessId: number;
  emailId: number | null;
  expiresAt: number;
}

/** Why a token was refused; `message` is safe to show to the visitor. `status` is the HTTP status to answer. */
export class ReportLinkError extends SignedLinkError {
  /** 410 Gone for an expired link (it was valid once), 400 for a malformed or altered one. */
  get status(): 400 | 410 {
    return this.code === 'expired' ? 410 : 400;
  }
}

/**
 * Creates a token for business `businessId` (and the email `emailId` that carries it), valid `ttlMs` from `now`.
 * @throws Error when an id is not a positive safe integer or `ttlMs` is not positive (a programming error).
 */
export function createReportLinkToken(secret: string, claims: { businessId: number; emailId?: number | null }, ttlMs: number, now: Date): string {
  const ok = (n: unknown) => Number.isSafeInteger(n) && (n as number) > 0;
  if (!ok(claims.businessId) || (claims.emailId != null && !ok(claims.emailId)) || !(ttlMs > 0)) {
    throw new Error(`report link: bad claims ${JSON.stringify(claims)} / ttl ${ttlMs}`);
  }
  return signClaims(secret, { b: claims.businessId, ...(claims.emailId != null ? { e: claims.emailId } : {}), x: Math.floor((now.getTime() + ttlMs) / 1000) });
}

/**
 * Verifies the HMAC (constant time) and then the expiry, and returns the claims.
 * @throws ReportLinkError `malformed` (not two base64url parts, bad JSON, wrong fields), `bad_signature` (altered, or
 *   signed with another secret), `expired` (`x` at or before `now`).
 */
export function verifyReportLinkToken(secret: string, token: string | null | undefined, now: Date): ReportLinkClaims {
  const opened = openClaims(secret, token);
  if (!opened.ok && opened.code === 'bad_signature') {
    throw new ReportLinkError('bad_signature', 'This report link is not valid (it may have been altered). Please use the link exactly as it appears in our email.');
  }
  if (!opened.ok) throw new ReportLinkError('malformed', 'This report link is incomplete or malformed. Please use the link exactly as it appears in our email.');
  const c = opened.claims;
  const positive = (n: unknown) => Number.isSafeInteger(n) && (n as number) > 0;
  if (!positive(c.b) || (c.e !== undefined && !positive(c.e)) || !Number.isSafeInteger(c.x)) {
    throw new ReportLinkError('malformed', 'This report link is malformed.');
  }
  if ((c.x as number) * 1000 <= now.getTime()) {
    throw new ReportLinkError('expired', 'This report link has expired. Reply to the email it came in and we will send you a fresh one.');
  }
  return { businessId: c.b as number, emailId: (c.e as number | undefined) ?? null, expiresAt: c.x as number };
}

/** `<publicBaseUrl>/get-report?token=…`. */
export function reportLinkUrl(publicBaseUrl: string, token: string): string {
  return `${publicBaseUrl.replace(/\/+$/, '')}${REPORT_LINK_PATH}?token=${encodeURIComponent(token)}`;
}
