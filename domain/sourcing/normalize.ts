/** Dedupe keys for sourced businesses: the website's registrable-ish host and the phone's digits. */

/**
 * Lower-cased host of a website URL without `www.` and port, e.g. `https://WWW.Joes-Pizza.com/menu` →
 * `joes-pizza.com`; null when there is no parsable http(s) URL. Social and directory hosts (shared by many
 * businesses) are not identities: null for those.
 */
export function websiteDomain(website: string | null | undefined): string | null {
  if (!website) return null;
  try {
    const u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(website.trim()) ? website.trim() : `https://${website.trim()}`);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    const host = u.hostname.toLowerCase().replace(/^www\./, '').replace(/\.$/, '');
    if (!host.includes('.')) return null;
    if (SHARED_HOSTS.some((h) => host === h || host.endsWith(`.${h}`))) return null;
    return host;
  } catch {
    return null;
  }
}

/** Hosts many businesses share (a page on them is not a business's own site). */
const SHARED_HOSTS = ['facebook.com', 'instagram.com', 'yelp.com', 'google.com', 'sites.google.com', 'linktr.ee', 'square.site', 'wixsite.com'];

/** Phone digits with country code (`+1 (415) 345-8100` → `14153458100`); null under 7 digits. */
export function normalizePhone(phone: string | null | undefined): string | null {
  if (!phone) return null;
  const digits = phone.replace(/\D/g, '');
  if (digits.length < 7) return null;
  return digits.length === 10 ? `1${digits}` : digits;
}
