/**
 * SendGrid Signed Event Webhook verification (https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features;
 * reference implementation `sendgrid-nodejs` packages/eventwebhook/src/eventwebhook.js), with node:crypto only.
 *
 * - headers `X-Twilio-Email-Event-Webhook-Signature` (base64 DER ECDSA signature) and
 *   `X-Twilio-Email-Event-Webhook-Timestamp` (Unix seconds, as text);
 * - signed bytes = timestamp (UTF-8) followed by the EXACT raw request body (sendgrid/sendgrid-nodejs#1238: a re-serialised body,
 *   or one without its trailing CRLF, does not verify);
 * - ECDSA P-256 with SHA-256; the public key is the base64 DER SubjectPublicKeyInfo shown in the SendGrid UI.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { checkSignatureTimestamp, type SignatureWindow } from '../signature-window.js';

/** Signature header (lower-cased, as node:http exposes it). */
export const SENDGRID_SIGNATURE_HEADER = 'x-twilio-email-event-webhook-signature';
/** Timestamp header (lower-cased). */
export const SENDGRID_TIMESTAMP_HEADER = 'x-twilio-email-event-webhook-timestamp';

const keys = new Map<string, KeyObject>();

/**
 * Parses a base64 DER SPKI public key (a PEM block is accepted too) and checks it is an EC P-256 key.
 * @throws Error when the key cannot be parsed or is not P-256.
 */
export function sendgridPublicKey(publicKey: string): KeyObject {
  const cached = keys.get(publicKey);
  if (cached) return cached;
  const key = publicKey.includes('BEGIN PUBLIC KEY')
    ? createPublicKey(publicKey)
    : createPublicKey({ key: Buffer.from(publicKey.replace(/\s+/g, ''), 'base64'), format: 'der', type: 'spki' });
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error('SendGrid webhook public key is not an EC P-256 key');
  }
  keys.set(publicKey, key);
  return key;
}

/**
 * True when `signature` (base64 DER) is a valid ECDSA-P256/SHA-256 signature of `timestamp + rawBody` under
 * `publicKey`. Never throws: a missing header, an unparsable key or signature is simply false. With `opts.window`
 * (the route passes SENDGRID_SIGNATURE_WINDOW, domain/signature-window.ts) a timestamp outside it is false too.
 */
export function verifySendGridSignature(
  publicKey: string,
  signature: string | undefined,
  timestamp: string | undefined,
  rawBody: Buffer,
  opts: { now?: Date; window?: SignatureWindow } = {},
): boolean {
  if (!signature || !timestamp) return false;
  if (opts.window && checkSignatureTimestamp(timestamp, (opts.now ?? new Date()).getTime(), opts.window) !== 'ok') return false;
  try {
    const key = sendgridPublicKey(publicKey);
    const data = Buffer.concat([Buffer.from(timestamp, 'utf8'), rawBody]);
    return verify('sha256', data, { key, dsaEncoding: 'der' }, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}
