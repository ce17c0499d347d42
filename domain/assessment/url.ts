/**
 * Website URL validation, run before any provider call: only public http(s) sites are assessed, so a business
 * record can never point PageSpeed (or anything after it) at an internal address.
 */
import { isIP } from 'node:net';

/** Top-level labels reserved for private or special use (RFC 2606, RFC 6761, RFC 6762, RFC 8375, ICANN `.internal`). */
export const NON_PUBLIC_TLDS: readonly string[] = ['localhost', 'local', 'internal', 'invalid', 'test', 'example', 'onion', 'arpa', 'lan', 'home', 'corp'];

/** A URL that passed validation (`url` normalised, `host` lower-case) or the reason it did not. */
export type UrlCheck = { ok: true; url: string; host: string } | { ok: false; error: string };

/**
 * Checks and normalises a website URL.
 *
 * Accepted: scheme `http:` or `https:` (a bare `example.com/path` gets `https://`), no user name or password, and
 * a public host name: at least two labels, letters/digits/hyphens only, a non-numeric top-level label outside
 * {@link NON_PUBLIC_TLDS}, never `localhost` and never an IP literal (IPv4 in any form the URL parser accepts,
 * or bracketed IPv6).
 *
 * Normalised (by WHATWG URL plus here): lower-case host, trailing dot dropped, default port (80/443) dropped,
 * fragment removed; path and query kept as given.
 *
 * @example validateWebsiteUrl('WWW.Example.com/Path#x') // { ok: true, url: 'https://www.example.com/Path', host: 'www.example.com' }
 */
export function validateWebsiteUrl(raw: string | null | undefined): UrlCheck {
  const input = (raw ?? '').trim();
  if (!input) return { ok: false, error: 'no website URL' };
  const hasScheme = /^[a-z][a-z0-9+.-]*:/i.test(input) && !/^[^:/]+:\d+(\/|$)/.test(input);
  let u: URL;
  try {
    u = new URL(hasScheme ? input : `https://${input}`);
  } catch {
    return { ok: false, error: `not a URL: ${clip(input)}` };
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { ok: false, error: `unsupported scheme ${u.protocol} (http or https only)` };
  if (u.username || u.password) return { ok: false, error: 'credentials in the URL' };
  let host = u.hostname.toLowerCase();
  if (host.startsWith('[') || isIP(host) !== 0) return { ok: false, error: `IP address host ${host} (a public host name is required)` };
  host = host.replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return { ok: false, error: `not a public host: ${host}` };
  const labels = host.split('.');
  if (labels.length < 2) return { ok: false, error: `not a public host: ${host} (no dot)` };
  if (!labels.every((l) => /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(l) || /^xn--[a-z0-9-]+$/.test(l)))
    return { ok: false, error: `invalid host name ${clip(host)}` };
  const tld = labels[labels.length - 1]!;
  if (/^\d+$/.test(tld)) return { ok: false, error: `IP address host ${host} (a public host name is required)` };
  if (NON_PUBLIC_TLDS.includes(tld)) return { ok: false, error: `not a public host: ${host} (.${tld} is reserved)` };
  u.hostname = host;
  u.hash = '';
  return { ok: true, url: u.toString(), host };
}

/**
 * The registrable-ish domain of a validated host: lower-case, without a leading `www.` (what sourcing stores as
 * `businesses.website_domain` and what `info@` addresses use).
 */
export function siteDomain(host: string): string {
  return host.toLowerCase().replace(/\.$/, '').replace(/^www\./, '');
}

const clip = (s: string) => (s.length > 80 ? `${s.slice(0, 77)}...` : s);

/** A repaired website URL: the normalised URL and whether it differs from what was stored. */
export type UrlRepair = { ok: true; url: string; host: string; changed: boolean } | { ok: false; error: string };

/**
 * Like {@link validateWebsiteUrl}, but first tries the fixes for the usual data-entry slips and keeps the first
 * candidate that validates:
 * 1. as given (normalised: lower-case host, default port and fragment dropped, `https://` added to a bare host);
 * 2. surrounding quotes, brackets and trailing punctuation removed (`"<www.a.com>",` → `www.a.com`) and a mangled
 *    scheme fixed (`http//`, `https:/`, `htp://`, `http;//`, `hhttps://` → `http(s)://`);
 * 3. commas in place of dots, when the value has no spaces (`www.example,com`);
 * 4. the first of several URLs separated by spaces, commas or semicolons (`a.com, b.com` → `a.com`);
 * 5. spaces inside removed (`www. example .com`).
 * A URL no fix makes valid (a private host, an IP address, another scheme, …) keeps the original error.
 * `changed` is false only when the stored string already is the normalised URL.
 */
export function repairWebsiteUrl(raw: string | null | undefined): UrlRepair {
  const original = (raw ?? '').trim();
  const first = validateWebsiteUrl(original);
  if (first.ok) return { ...first, changed: first.url !== raw };
  const base = original
    .replace(/^[\s"'<([{]+/, '')
    .replace(/[\s"'>)\]},;.]+$/, '')
    .replace(/^h+t+p+(s?)\s*(?:[:;]+\s*\/*|\/+)\s*/i, (_m, secure: string) => `http${secure.toLowerCase()}://`);
  const candidates = [
    base,
    /\s/.test(base) ? undefined : base.replace(/,/g, '.'),
    base.split(/\s*[;,]\s*|\s+/).find((part) => part.length > 0),
    base.replace(/\s+/g, ''),
  ];
  for (const candidate of candidates) {
    if (!candidate) continue;
    const c = validateWebsiteUrl(candidate);
    if (c.ok) return { ...c, changed: true };
  }
  return first;
}
