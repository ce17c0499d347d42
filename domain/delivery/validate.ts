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

/**
 * Domains (and their subdomains) that never receive mail: the special-use TLDs of RFC 2606 / RFC 6761 (`.test`,
 * `.invalid`, `.localhost`, `.example`) and `.local` (mDNS, RFC 6762).
 */
const RESERVED_TLDS = new Set(['test', 'invalid', 'localhost', 'example', 'local']);
/** `example.com|net|org` (RFC 2606 §3) publish a null MX (RFC 7505): mail to them always bounces. */
const EXAMPLE_DOMAINS = ['example.com', 'example.net', 'example.org'];
/** Misspellings of the big mailbox providers' domains seen in scraped contact data; mail to them bounces. */
const TYPO_DOMAINS = new Set([
  'gmial.com', 'gmai.com', 'gamil.com', 'gnail.com', 'gmail.co', 'gmail.con', 'gmaill.com',
  'hotmial.com', 'hotmail.co', 'hotmal.com', 'hotmail.con',
  'yaho.com', 'yahooo.com', 'yahoo.co', 'yahoo.con',
  'outlok.com', 'outlook.co', 'iclod.com', 'icloud.co', 'aol.co',
]);

/** Options of {@link checkAddressRules}. */
export interface AddressRuleOptions {
  /**
   * Accept `example.com|net|org` and their subdomains (the provider sandbox generates its businesses there); when
   * false (real SendGrid) they are refused like other reserved domains.
   */
  allowExampleDomains?: boolean;
}

/**
 * The list check done before a campaign, without DNS: {@link validateEmailAddress} (syntax), then rules that need
 * no MX look-up: a reserved or special-use domain (see {@link RESERVED_TLDS}; `example.com|net|org` unless
 * `allowExampleDomains`), or a known misspelling of a big mailbox provider's domain (`gmial.com`, `hotmial.com` …).
 * Never throws.
 */
export function checkAddressRules(raw: string | null | undefined, opts: AddressRuleOptions = {}): AddressCheck {
  const syntax = validateEmailAddress(raw);
  if (!syntax.ok) return syntax;
  const domain = syntax.address.split('@')[1]!.toLowerCase();
  const tld = domain.slice(domain.lastIndexOf('.') + 1);
  if (RESERVED_TLDS.has(tld)) return { ok: false, reason: `reserved top-level domain .${tld} (never receives mail)` };
  if (!opts.allowExampleDomains && EXAMPLE_DOMAINS.some((d) => domain === d || domain.endsWith(`.${d}`)))
    return { ok: false, reason: 'example domain (null MX: mail always bounces)' };
  if (TYPO_DOMAINS.has(domain)) return { ok: false, reason: `misspelled mailbox domain ${domain}` };
  return syntax;
}
