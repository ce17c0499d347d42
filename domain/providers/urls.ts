/** Where each provider's requests go: the public API, an override from config, or the local sandbox. */
import type { AppConfig, ProviderId } from '../config.js';

/** Public base URLs (what the adapters append their paths to). */
export const PUBLIC_BASE_URLS: Record<ProviderId, string> = {
  yelp: 'https://api.yelp.com',
  pagespeed: 'https://www.googleapis.com',
  openai: 'https://api.openai.com/v1',
  sendgrid: 'https://api.sendgrid.com',
  stripe: 'https://api.stripe.com',
};

/**
 * Base URLs under one sandbox origin. Stripe sits at the root because the stripe SDK takes only host and port
 * and always requests `/v1/...`.
 */
export function sandboxBaseUrls(sandboxUrl: string): Record<ProviderId, string> {
  const origin = sandboxUrl.replace(/\/+$/, '');
  return {
    yelp: `${origin}/yelp`,
    pagespeed: `${origin}/pagespeed`,
    openai: `${origin}/openai/v1`,
    sendgrid: `${origin}/sendgrid`,
    stripe: origin,
  };
}

/** Placeholder credentials the sandbox accepts (it checks that one is sent, as the real APIs do). */
export const SANDBOX_KEYS: Record<ProviderId, string> = {
  yelp: 'sandbox-yelp-key',
  pagespeed: 'sandbox-pagespeed-key',
  openai: 'sk-sandbox',
  sendgrid: 'SG.sandbox',
  stripe: 'sk_test_sandbox',
};

/** Resolves base URL and key for a provider: explicit config first, then the sandbox when it has no key. */
export function resolveProvider(
  config: AppConfig,
  id: ProviderId,
  sandboxUrl: string | undefined,
): { baseUrl: string; apiKey: string; sandbox: boolean } {
  const p = config.providers[id];
  if (!p.sandbox && p.apiKey) return { baseUrl: p.baseUrl ?? PUBLIC_BASE_URLS[id], apiKey: p.apiKey, sandbox: false };
  if (!sandboxUrl) throw new Error(`provider ${id} needs the sandbox but none is running`);
  return { baseUrl: p.baseUrl ?? sandboxBaseUrls(sandboxUrl)[id], apiKey: SANDBOX_KEYS[id], sandbox: true };
}
