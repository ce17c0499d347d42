/**
 * One root cause per provider and failure mode, so every way a provider can fail has a name: down or not
 * answering (5xx, timeout, no connection), rate limited (429), key refused (401/403, Google's API_KEY_INVALID, a
 * SendGrid key without `mail.send`) and daily quota or credits spent. The external-apis runbook declares them.
 *
 * Ids are `<provider>-<mode>`, the ids the runbooks already use where one exists (`pagespeed-unavailable`,
 * `openai-unavailable`, `yelp-rate-limit`, `sendgrid-api-key`, `stripe-api-key`, `stripe-unreachable`,
 * `yelp-quota-exhausted`, `pagespeed-quota-exhausted`), so the planner merges a runbook's own cause with the one
 * seen here. Each is indicated by the **live** connection test (external-apis `integrations`, the raw adapter
 * without cache, limiter or breaker); the rate-limit and key causes also by the last hour's ledger
 * (`api-metrics`: 429s, 401/403s) and the rate limiter's blocks (`rate-limits`), which the planner ranks below a
 * live verdict (see runbooks/causality.ts).
 */
import { PROVIDERS, type ProviderId } from '../domain/config.js';
import { PROVIDER_NAMES } from '../domain/gateway/checks.js';
import type { Finding, RootCause } from './define.js';

/** A provider failure mode. */
export type FailureMode = 'unavailable' | 'rate-limit' | 'api-key' | 'quota-exhausted';

/** The failure modes, most specific first (a spent quota answers 429 too; a refused key makes it unusable). */
export const FAILURE_MODES: readonly FailureMode[] = ['api-key', 'quota-exhausted', 'rate-limit', 'unavailable'];

/** The failure modes a provider has (Stripe has no daily quota: its 429s are rate limits). */
export function modesOf(provider: ProviderId): readonly FailureMode[] {
  return provider === 'stripe' ? FAILURE_MODES.filter((m) => m !== 'quota-exhausted') : FAILURE_MODES;
}

/** The root-cause id of a provider's failure mode (Stripe's outage keeps the payment runbook's `stripe-unreachable`). */
export function failureCauseId(provider: ProviderId, mode: FailureMode): string {
  return provider === 'stripe' && mode === 'unavailable' ? 'stripe-unreachable' : `${provider}-${mode}`;
}

/** The provider and mode of a failure-cause id, or undefined. */
export function parseFailureCause(id: string): { provider: ProviderId; mode: FailureMode } | undefined {
  for (const p of PROVIDERS) for (const m of modesOf(p)) if (failureCauseId(p, m) === id) return { provider: p, mode: m };
  return undefined;
}

const list = (f: Finding | undefined, key: string): string[] => {
  const v = f?.evidence?.[key];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
};
const perProvider = (f: Finding | undefined, p: ProviderId): Record<string, unknown> => {
  const all = f?.evidence?.providers;
  const one = all && typeof all === 'object' ? (all as Record<string, unknown>)[p] : undefined;
  return one && typeof one === 'object' ? (one as Record<string, unknown>) : {};
};

/**
 * The live verdict of the connection test for `provider` in `integrations` evidence (external-apis or
 * quick-diagnostics shape), or undefined when the test did not run or the provider is fine.
 */
export function liveFailure(integrations: Finding | undefined, provider: ProviderId): FailureMode | undefined {
  if (!integrations?.evidence) return undefined;
  if (list(integrations, 'authRejected').includes(provider)) return 'api-key';
  if (list(integrations, 'quotaExhausted').includes(provider)) return 'quota-exhausted';
  if (list(integrations, 'rateLimited').includes(provider)) return 'rate-limit';
  if (list(integrations, 'unreachable').includes(provider)) return 'unavailable';
  const one = perProvider(integrations, provider);
  const status = typeof one.status === 'number' ? one.status : undefined;
  if (one.auth === 'rate_limited') return 'rate-limit';
  if (one.auth === 'quota_exhausted') return 'quota-exhausted';
  if (list(integrations, 'failing').includes(provider) || list(integrations, 'degraded').includes(provider))
    return status === 429 ? 'rate-limit' : 'unavailable';
  if (status !== undefined && status >= 500) return 'unavailable';
  return undefined;
}

/** Key titles per provider (what an operator sees when that provider refuses its key). */
const KEY_TITLES: Record<ProviderId, string> = {
  sendgrid: 'SendGrid API key invalid or missing scopes',
  yelp: 'Yelp API key rejected (401)',
  pagespeed: 'PageSpeed API key rejected (400 API_KEY_INVALID)',
  openai: 'OpenAI API key rejected (401)',
  stripe: 'Stripe API key rejected (401)',
};

const TITLES: Record<FailureMode, (p: ProviderId) => string> = {
  unavailable: (p) => `${PROVIDER_NAMES[p]} is down or not answering (5xx, timeout or no connection)`,
  'rate-limit': (p) => `${PROVIDER_NAMES[p]} API rate limit exceeded`,
  'api-key': (p) => KEY_TITLES[p],
  'quota-exhausted': (p) => `${PROVIDER_NAMES[p]} daily quota or credits used up`,
};

const REMEDIATIONS: Record<FailureMode, string[]> = { unavailable: ['force-open-breaker'], 'rate-limit': ['set-rate-limit'], 'api-key': [], 'quota-exhausted': [] };

/** Past evidence for a mode (ledger and limiter), ranked below the live test by the planner. */
function recent(f: Record<string, Finding>, p: ProviderId, mode: FailureMode): boolean {
  const ledger = perProvider(f['api-metrics'], p);
  if (mode === 'rate-limit') return Number(ledger.http429 ?? 0) > 0 || list(f['rate-limits'], 'blocked').includes(p);
  if (mode === 'api-key') return Number(ledger.authErrors ?? 0) > 0;
  if (mode === 'quota-exhausted') return list(f['rate-limits'], 'exhausted').includes(p);
  return false;
}

/** Every provider × failure mode as external-apis root causes (indicated by `integrations`, `api-metrics`, `rate-limits`). */
export function providerFailureCauses(): RootCause[] {
  return PROVIDERS.flatMap((p) =>
    modesOf(p).map((mode) => ({
      id: failureCauseId(p, mode),
      title: TITLES[mode](p),
      indicatedBy: (f: Record<string, Finding>) => liveFailure(f.integrations, p) === mode || recent(f, p, mode),
      remediations: REMEDIATIONS[mode],
    })),
  );
}
