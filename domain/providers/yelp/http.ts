/**
 * Yelp Fusion adapter over got: `GET {baseUrl}/v3/businesses/search` with `Authorization: Bearer <apiKey>`.
 * No retries here (the gateway owns them).
 */
import type { ProviderError } from '../../errors.js';
import {
  answerError,
  answerRetryAfter,
  errorObject,
  header,
  isRecord,
  parseJsonBody,
  sendHttp,
  shapeError,
  str,
  type CallSite,
  type HttpAnswer,
} from '../http-errors.js';
import type { YelpBusiness, YelpPort, YelpRateLimit, YelpSearchParams, YelpSearchResult } from './port.js';

/** Options for {@link createYelpClient}. `baseUrl` without `/v3` (e.g. `https://api.yelp.com`); timeout in ms. */
export interface YelpClientOptions {
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
}

const SITE: CallSite = { provider: 'yelp', operation: 'search' };

/**
 * Yelp's error body `{"error": {"code", "description"}}` → ProviderError with `providerCode` = `error.code`
 * (e.g. VALIDATION_ERROR, TOKEN_MISSING, TOO_MANY_REQUESTS_PER_SECOND, ACCESS_LIMIT_REACHED — the last is not
 * retryable although it comes as a 429). `retryAfterMs` from the `Retry-After` header.
 */
export function yelpAnswerError(ans: HttpAnswer): ProviderError {
  const retryAfterMs = answerRetryAfter(ans);
  let body: unknown;
  try {
    body = JSON.parse(ans.text);
  } catch {
    return answerError(SITE, ans.status, undefined, ans.text || undefined, { retryAfterMs });
  }
  const e = errorObject(body);
  return answerError(SITE, ans.status, str(e?.code), str(e?.description) ?? str(e?.message), { retryAfterMs });
}

function intHeader(ans: HttpAnswer, name: string): number | null {
  const v = header(ans, name);
  const n = v === undefined ? NaN : Number(v);
  return Number.isFinite(n) ? n : null;
}

/** Rate-limit headers: `RateLimit-DailyLimit`, `RateLimit-Remaining` (integers), `RateLimit-ResetTime` (ISO text). */
export function yelpRateLimit(ans: HttpAnswer): YelpRateLimit {
  return {
    dailyLimit: intHeader(ans, 'ratelimit-dailylimit'),
    remaining: intHeader(ans, 'ratelimit-remaining'),
    resetTime: header(ans, 'ratelimit-resettime') ?? null,
  };
}

/**
 * One `businesses[]` entry → {@link YelpBusiness}: website from `attributes.business_url` (null when absent),
 * phone `phone` ('' → null), address `location.display_address` joined with ", ", city `location.city`,
 * categories `categories[].alias`, `rating`, `review_count`, yelpUrl `url`.
 */
export function mapYelpBusiness(b: Record<string, unknown>): YelpBusiness {
  const loc = isRecord(b.location) ? b.location : {};
  const display = Array.isArray(loc.display_address) ? loc.display_address.filter((x): x is string => typeof x === 'string' && x !== '') : [];
  const attrs = isRecord(b.attributes) ? b.attributes : {};
  return {
    id: String(b.id),
    name: typeof b.name === 'string' ? b.name : '',
    website: str(attrs.business_url) ?? null,
    phone: str(b.phone) ?? null,
    address: display.length > 0 ? display.join(', ') : null,
    city: str(loc.city) ?? null,
    categories: Array.isArray(b.categories) ? b.categories.map((c) => (isRecord(c) ? str(c.alias) : undefined)).filter((a): a is string => !!a) : [],
    rating: typeof b.rating === 'number' ? b.rating : null,
    reviewCount: typeof b.review_count === 'number' ? b.review_count : null,
    yelpUrl: str(b.url) ?? null,
  };
}

/**
 * Creates the Yelp adapter. `search` sends `location`, `categories` (when given), `limit`, `offset`; resolves with
 * the mapped page, Yelp's `total` and the rate-limit headers. Errors: ProviderError (provider 'yelp', operation
 * 'search'), see domain/providers/http-errors.ts for retryability.
 */
export function createYelpClient(opts: YelpClientOptions): YelpPort {
  const url = `${opts.baseUrl.replace(/\/+$/, '')}/v3/businesses/search`;
  return {
    async search(params: YelpSearchParams): Promise<YelpSearchResult> {
      const searchParams = new URLSearchParams({ location: params.location });
      if (params.category) searchParams.set('categories', params.category);
      searchParams.set('limit', String(params.limit));
      searchParams.set('offset', String(params.offset));
      const ans = await sendHttp(SITE, {
        url,
        searchParams,
        headers: { Authorization: `Bearer ${opts.apiKey}`, Accept: 'application/json' },
        timeoutMs: opts.timeoutMs,
      });
      if (ans.status < 200 || ans.status >= 300) throw yelpAnswerError(ans);
      const body = parseJsonBody(SITE, ans.status, ans.text);
      if (!isRecord(body) || !Array.isArray(body.businesses)) throw shapeError(SITE, ans.status, 'no businesses[] array');
      const businesses = body.businesses.filter(isRecord).map(mapYelpBusiness);
      return {
        businesses,
        total: typeof body.total === 'number' ? body.total : businesses.length,
        rateLimit: yelpRateLimit(ans),
      };
    },
  };
}
