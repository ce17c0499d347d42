/**
 * Port for Yelp Fusion business search (`GET /v3/businesses/search`, https://docs.developer.yelp.com).
 * Our own types; the adapter maps Yelp's JSON onto them.
 */

/** Query for one page of results. Yelp caps `limit` at 50 and `offset + limit` at 1,000. */
export interface YelpSearchParams {
  /** Free-text location, Yelp `location` (e.g. "San Francisco, CA"). */
  location: string;
  /** Yelp category alias, Yelp `categories` (e.g. "restaurants"); omitted for all. */
  category?: string;
  /** Page size, 1–50. */
  limit: number;
  /** Zero-based offset. */
  offset: number;
}

/** One business, from Yelp `businesses[]`. */
export interface YelpBusiness {
  /** Yelp business id (`id`), stable and unique. */
  id: string;
  name: string;
  /** The business's own website: Yelp `attributes.business_url` when the plan returns it, else null. */
  website: string | null;
  /** E.164 phone (`phone`), null when Yelp has none. */
  phone: string | null;
  /** `location.display_address` joined with ", ". */
  address: string | null;
  city: string | null;
  /** Category aliases (`categories[].alias`). */
  categories: string[];
  /** Star rating 1–5 (`rating`). */
  rating: number | null;
  reviewCount: number | null;
  /** Yelp page URL (`url`). */
  yelpUrl: string | null;
}

/** Rate-limit headers Yelp sends on every answer (`RateLimit-DailyLimit`, `-Remaining`, `-ResetTime`). */
export interface YelpRateLimit {
  dailyLimit: number | null;
  remaining: number | null;
  resetTime: string | null;
}

/** One page of search results. `total` is Yelp's `total` (all matches, not just this page). */
export interface YelpSearchResult {
  businesses: YelpBusiness[];
  total: number;
  rateLimit: YelpRateLimit;
}

/** Yelp Fusion business search. Errors: ProviderError (provider 'yelp', operation 'search'). */
export interface YelpPort {
  search(params: YelpSearchParams): Promise<YelpSearchResult>;
}
