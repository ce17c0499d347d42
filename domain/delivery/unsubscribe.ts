/**
 * One-click unsubscribe (RFC 8058) and the unsubscribe link (CAN-SPAM requires a working opt-out in every
 * commercial email).
 *
 * Token = `base64url(JSON{"e": emailId, "h": emailHash, "x": expiry in Unix seconds})` + `.` +
 * `base64url(HMAC-SHA256(secret, <first part>))`, secret = `config.delivery.unsubscribeSecret`, valid
 * {@link UNSUBSCRIBE_TOKEN_TTL_MS} (30 days, as LeadFactory v1). The address itself is never in the token.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { Email } from '../../db/entities/index.js';
import { openClaims, SignedLinkError, signClaims } from '../signed-token.js';
import { advanceStatus } from './status.js';
import { addSuppression, emailHash } from './suppression.js';

/** Token lifetime: 30 days in ms. */
export const UNSUBSCRIBE_TOKEN_TTL_MS = 30 * 24 * 3600 * 1000;

/** What a valid token carries. `expiresAt` in Unix seconds. */
export interface UnsubscribeClaims {
  emailId: number;
  emailHash: string;
  expiresAt: number;
}

/** Why a token was refused; `message` is safe to show to the recipient. */
export class UnsubscribeTokenError extends SignedLinkError {}

/** Creates a token for email `emailId` sent to `address`, valid 30 days from `now`. */
export function createUnsubscribeToken(secret: string, emailId: number, address: string, now: Date = new Date()): string {
  return signClaims(secret, { e: emailId, h: emailHash(address), x: Math.floor((now.getTime() + UNSUBSCRIBE_TOKEN_TTL_MS) / 1000) });
}

/**
 * Verifies the HMAC (constant-time) and the expiry, then returns the claims.
 * @throws UnsubscribeTokenError `malformed` (not two base64url parts / bad JSON / wrong fields), `bad_signature`
 * (tampered, or signed with another secret), `expired` (past 30 days).
 */
export function verifyUnsubscribeToken(secret: string, token: string | null | undefined, now: Date = new Date()): UnsubscribeClaims {
  const opened = openClaims(secret, token);
  if (!opened.ok && opened.code === 'bad_signature') {
    throw new UnsubscribeTokenError('bad_signature', 'This unsubscribe link is not valid (it may have been altered).');
  }
  if (!opened.ok) throw new UnsubscribeTokenError('malformed', 'This unsubscribe link is incomplete or malformed.');
  const c = opened.claims;
  if (!Number.isSafeInteger(c.e) || typeof c.h !== 'string' || !/^[0-9a-f]{64}$/.test(c.h) || !Number.isSafeInteger(c.x)) {
    throw new UnsubscribeTokenError('malformed', 'This unsubscribe link is malformed.');
  }
  if ((c.x as number) * 1000 <= now.getTime()) {
    throw new UnsubscribeTokenError('expired', 'This unsubscribe link has expired. Reply to the email and we will remove you.');
  }
  return { emailId: c.e as number, emailHash: c.h, expiresAt: c.x as number };
}

/** `<publicBaseUrl>/unsubscribe?token=…` (the HTTPS URL of List-Unsubscribe, RFC 2369 / RFC 8058). */
export function unsubscribeUrl(publicBaseUrl: string, token: string): string {
  return `${publicBaseUrl.replace(/\/+$/, '')}/unsubscribe?token=${encodeURIComponent(token)}`;
}

/** Outcome of {@link applyUnsubscribe}. */
export interface UnsubscribeResult {
  /** A suppression row was added now (false: the address was already suppressed). */
  suppressed: boolean;
  /** The email moved to `unsubscribed` now. */
  statusChanged: boolean;
  /** The email row no longer exists (the address is suppressed anyway). */
  emailMissing: boolean;
}

/**
 * Applies a verified unsubscribe: suppresses the token's address hash (reason `unsubscribe`, source
 * `unsubscribe_link`) and moves the email to `unsubscribed` (forward-only, status.ts), in one transaction.
 * Idempotent: a second call changes nothing and reports false/false.
 */
export async function applyUnsubscribe(em: EntityManager, claims: UnsubscribeClaims, now: Date = new Date()): Promise<UnsubscribeResult> {
  return em.fork().transactional(async (tem) => {
    const suppressed = await addSuppression(tem, claims.emailHash, 'unsubscribe', 'unsubscribe_link', now);
    const email = await tem.findOne(Email, { id: claims.emailId });
    if (!email || emailHash(email.toAddress) !== claims.emailHash) return { suppressed, statusChanged: false, emailMissing: !email };
    const statusChanged = advanceStatus(email, 'unsubscribed', now);
    return { suppressed, statusChanged, emailMissing: false };
  });
}
