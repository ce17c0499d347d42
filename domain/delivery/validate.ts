/**
 * Recipient address syntax check before any send: a pragmatic subset of RFC 5322 `addr-spec` (§3.4.1) with the
 * RFC 5321 §4.5.3.1 size limits. Syntax only: no DNS/MX look-up and no judgement on placeholder addresses.
 *
 * Accepted: `local@domain` where
 * - the whole address (trimmed) is at most 254 characters, ASCII only, with no whitespace;
 * - exactly one `@`;
 * - `local` is a dot-atom (RFC 5322 `atext` runs separated by single dots, no leading/trailing dot), ≤ 64 chars;
 *   quoted local parts (`"a b"@x.com`) are refused on purpose;
 * - `domain` is a dotted host name (RFC 1035 labels: letters, digits, hyphens; no leading/trailing hyphen;
 *   1–63 chars each), at least two labels, the last alphabetic (≥ 2) or an IDNA `xn--` label; no IP literals.
 */

/** Result of {@link validateEmailAddress}: `reason` is a short human-readable cause when invalid. */
export type AddressCheck = { ok: true; address: string } | { ok: false; reason: string };

const ATEXT_RUN = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+$/;
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const TLD = /^(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})$/;

/**
 * Checks `raw` (surrounding whitespace is trimmed first). On success `address` is the trimmed address, as it
 * should be sent. Never throws.
 */
export function validateEmailAddress(raw: string | null | undefined): AddressCheck {
  const address = (raw ?? '').trim();
  if (address === '') return { ok: false, reason: 'empty address' };
  if (address.length > 254) return { ok: false, reason: 'longer than 254 characters' };
  if (/\s/.test(address)) return { ok: false, reason: 'contains whitespace' };
  if (!/^[\x21-\x7e]+$/.test(address)) return { ok: false, reason: 'contains non-ASCII or control characters' };
  const at = address.split('@');
  if (at.length !== 2) return { ok: false, reason: at.length < 2 ? 'no @' : 'more than one @' };
  const [local, domain] = at as [string, string];
  if (local === '') return { ok: false, reason: 'empty local part' };
  if (local.length > 64) return { ok: false, reason: 'local part longer than 64 characters' };
  if (!local.split('.').every((run) => ATEXT_RUN.test(run))) {
    return { ok: false, reason: 'local part is not a dot-atom (bad character, or a leading, trailing or double dot)' };
  }
  if (domain === '') return { ok: false, reason: 'empty domain' };
  if (domain.length > 253) return { ok: false, reason: 'domain longer than 253 characters' };
  const labels = domain.split('.');
  if (labels.length < 2) return { ok: false, reason: 'domain has no dot' };
  if (!labels.every((l) => LABEL.test(l))) return { ok: false, reason: 'domain has an invalid label' };
  if (!TLD.test(labels[labels.length - 1]!)) return { ok: false, reason: 'top-level domain is not alphabetic' };
  return { ok: true, address };
}
