/**
 * Signed tokens for links in emails (unsubscribe, "Get the full report"): `base64url(JSON claims)` + `.` +
 * `base64url(HMAC-SHA256(secret, <first part>))`. The MAC covers every claim; checking it is constant-time. Each
 * link module decides which claims it signs, validates their shapes and words its own refusals.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Why a link's token was refused; `message` is safe to show to the visitor. Each link module subclasses it. */
export class SignedLinkError extends Error {
  constructor(
    readonly code: 'malformed' | 'bad_signature' | 'expired',
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

const B64URL = /^[A-Za-z0-9_-]+$/;
const mac = (secret: string, body: string): Buffer => createHmac('sha256', secret).update(body, 'utf8').digest();

/** Signs `claims` (a JSON object) with `secret`. */
export function signClaims(secret: string, claims: Record<string, unknown>): string {
  const body = Buffer.from(JSON.stringify(claims), 'utf8').toString('base64url');
  return `${body}.${mac(secret, body).toString('base64url')}`;
}

/**
 * Opens a token made by {@link signClaims}: `malformed` when it is not two base64url parts or its body is not a JSON
 * object, `bad_signature` when the MAC does not match (altered, or another secret), else the claims.
 */
export function openClaims(secret: string, token: string | null | undefined): { ok: true; claims: Record<string, unknown> } | { ok: false; code: 'malformed' | 'bad_signature' } {
  const parts = (token ?? '').split('.');
  if (parts.length !== 2 || !B64URL.test(parts[0]!) || !B64URL.test(parts[1]!)) return { ok: false, code: 'malformed' };
  const [body, sig] = parts as [string, string];
  const expected = mac(secret, body);
  const given = Buffer.from(sig, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, code: 'bad_signature' };
  try {
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as unknown;
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) return { ok: false, code: 'malformed' };
    return { ok: true, claims: claims as Record<string, unknown> };
  } catch {
    return { ok: false, code: 'malformed' };
  }
}
