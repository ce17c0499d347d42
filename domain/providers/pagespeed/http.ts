/**
 * PageSpeed Insights v5 adapter over got: `GET {baseUrl}/pagespeedonline/v5/runPagespeed?url=&strategy=&category=…&key=`.
 * No retries here (the gateway owns them).
 */
import { LighthouseRuntimeError, type ProviderError } from '../../errors.js';
import { answerError, answerRetryAfter, errorObject, isRecord, parseJsonBody, sendHttp, shapeError, str, type CallSite, type HttpAnswer } from '../http-errors.js';
import type { PageSpeedMetrics, PageSpeedOpportunity, PageSpeedPort, PageSpeedResult, PageSpeedScores } from './port.js';

/** Options for {@link createPageSpeedClient}. `baseUrl` e.g. `https://www.googleapis.com`; `apiKey` may be ''. */
export interface PageSpeedClientOptions {
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
}

const SITE: CallSite = { provider: 'pagespeed', operation: 'runPagespeed' };

/** Lighthouse categories requested on every run, as the API's `category` enum values. */
export const PAGESPEED_CATEGORIES = ['PERFORMANCE', 'ACCESSIBILITY', 'BEST_PRACTICES', 'SEO'] as const;

/**
 * Google's error body `{"error": {code, message, errors[{reason}], status}}` → ProviderError with `providerCode` =
 * `error.status` (e.g. RESOURCE_EXHAUSTED) or else `errors[0].reason` (e.g. lighthouseUserError). A 429 whose
 * message names a per-day quota is not retryable (it resets at midnight Pacific time, not in seconds).
 * `retryAfterMs` from the `Retry-After` header.
 */
export function pagespeedAnswerError(ans: HttpAnswer): ProviderError {
  const retryAfterMs = answerRetryAfter(ans);
  let body: unknown;
  try {
    body = JSON.parse(ans.text);
  } catch {
    return answerError(SITE, ans.status, undefined, ans.text || undefined, { retryAfterMs });
  }
  const e = errorObject(body);
  const first = Array.isArray(e?.errors) && isRecord(e.errors[0]) ? e.errors[0] : undefined;
  const code = str(e?.status) ?? str(first?.reason);
  const message = str(e?.message) ?? str(first?.message);
  const dailyQuota = ans.status === 429 && /per day/i.test(message ?? '');
  return answerError(SITE, ans.status, code, message, dailyQuota ? { retryable: false, retryAfterMs } : { retryAfterMs });
}

/**
 * `lighthouseResult.runtimeError` of a 200 body as `{code, message}`, or undefined when absent or `NO_ERROR`
 * (Lighthouse up to v5 always wrote `{"code": "NO_ERROR", "message": ""}`). PSI v5 schema: LighthouseResultV5.RuntimeError.
 */
export function lighthouseRuntimeError(body: Record<string, unknown>): { code: string; message: string } | undefined {
  const lr = isRecord(body.lighthouseResult) ? body.lighthouseResult : undefined;
  const re = lr && isRecord(lr.runtimeError) ? lr.runtimeError : undefined;
  const code = str(re?.code);
  if (!re || !code || code === 'NO_ERROR') return undefined;
  return { code, message: str(re.message) ?? '' };
}

function score(categories: Record<string, unknown>, id: string): number | null {
  const c = categories[id];
  return isRecord(c) && typeof c.score === 'number' ? Math.round(c.score * 100) : null;
}

function numeric(audits: Record<string, unknown>, id: string): number | undefined {
  const a = audits[id];
  return isRecord(a) && typeof a.numericValue === 'number' ? a.numericValue : undefined;
}

/**
 * Maps a runPagespeed body. Scores: `lighthouseResult.categories.<id>.score` × 100, rounded (null when null or
 * absent). Metrics: `audits.<id>.numericValue` for largest-contentful-paint, cumulative-layout-shift,
 * total-blocking-time, first-contentful-paint (ms; CLS unitless). Opportunities: audits with
 * `details.type === 'opportunity'`, `details.overallSavingsMs` > 0 and `score` < 1 (not yet passing), highest savings
 * first, top 5.
 * `strategy` is `configSettings.formFactor` when it says mobile/desktop, else the requested one.
 */
export function mapPageSpeed(body: Record<string, unknown>, requested: { url: string; strategy: 'mobile' | 'desktop' }): PageSpeedResult {
  const lr = isRecord(body.lighthouseResult) ? body.lighthouseResult : {};
  const categories = isRecord(lr.categories) ? lr.categories : {};
  const audits = isRecord(lr.audits) ? lr.audits : {};
  const scores: PageSpeedScores = {
    performance: score(categories, 'performance'),
    accessibility: score(categories, 'accessibility'),
    bestPractices: score(categories, 'best-practices'),
    seo: score(categories, 'seo'),
  };
  const metrics: PageSpeedMetrics = {};
  const lcp = numeric(audits, 'largest-contentful-paint');
  if (lcp !== undefined) metrics.lcpMs = lcp;
  const cls = numeric(audits, 'cumulative-layout-shift');
  if (cls !== undefined) metrics.cls = cls;
  const tbt = numeric(audits, 'total-blocking-time');
  if (tbt !== undefined) metrics.tbtMs = tbt;
  const fcp = numeric(audits, 'first-contentful-paint');
  if (fcp !== undefined) metrics.fcpMs = fcp;
  const opportunities: PageSpeedOpportunity[] = [];
  for (const [key, a] of Object.entries(audits)) {
    if (!isRecord(a) || !isRecord(a.details) || a.details.type !== 'opportunity') continue;
    const savingsMs = a.details.overallSavingsMs;
    if (typeof savingsMs !== 'number' || !(savingsMs > 0)) continue;
    // An audit that already passes (score 1) is not an opportunity, whatever savings it estimates.
    if (typeof a.score === 'number' && a.score >= 1) continue;
    opportunities.push({ id: str(a.id) ?? key, title: str(a.title) ?? key, savingsMs });
  }
  opportunities.sort((x, y) => y.savingsMs - x.savingsMs);
  const settings = isRecord(lr.configSettings) ? lr.configSettings : {};
  const ff = settings.formFactor;
  const requestedUrl = str(lr.requestedUrl) ?? requested.url;
  return {
    requestedUrl,
    finalUrl: str(lr.finalUrl) ?? str(lr.finalDisplayedUrl) ?? requestedUrl,
    strategy: ff === 'mobile' || ff === 'desktop' ? ff : requested.strategy,
    scores,
    metrics,
    opportunities: opportunities.slice(0, 5),
  };
}

/**
 * Creates the PageSpeed adapter. `run(url, strategy = 'mobile')` requests the four categories in
 * {@link PAGESPEED_CATEGORIES} and passes `key` only when `apiKey` is non-empty. Errors: ProviderError (provider
 * 'pagespeed', operation 'runPagespeed'); a 2xx without `lighthouseResult` is a non-retryable shape error; a 2xx whose
 * `lighthouseResult.runtimeError` names a code (not `NO_ERROR`) is a {@link LighthouseRuntimeError} (its scores are null and
 * must never be used).
 */
export function createPageSpeedClient(opts: PageSpeedClientOptions): PageSpeedPort {
  const endpoint = `${opts.baseUrl.replace(/\/+$/, '')}/pagespeedonline/v5/runPagespeed`;
  return {
    async run(url: string, strategy: 'mobile' | 'desktop' = 'mobile'): Promise<PageSpeedResult> {
      const searchParams = new URLSearchParams({ url, strategy });
      for (const c of PAGESPEED_CATEGORIES) searchParams.append('category', c);
      if (opts.apiKey) searchParams.set('key', opts.apiKey);
      const ans = await sendHttp(SITE, { url: endpoint, searchParams, headers: { Accept: 'application/json' }, timeoutMs: opts.timeoutMs });
      if (ans.status < 200 || ans.status >= 300) throw pagespeedAnswerError(ans);
      const body = parseJsonBody(SITE, ans.status, ans.text);
      if (!isRecord(body) || !isRecord(body.lighthouseResult)) throw shapeError(SITE, ans.status, 'no lighthouseResult');
      const runtime = lighthouseRuntimeError(body);
      if (runtime) throw new LighthouseRuntimeError({ operation: SITE.operation, status: ans.status, ...runtime });
      return mapPageSpeed(body, { url, strategy });
    },
  };
}
