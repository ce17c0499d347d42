/**
 * Sourcing: Yelp Fusion business search for one target, within its remaining daily quota and the Yelp batch size
 * in force (`YELP_BATCH_SIZE` or its run-time override), paging with limit/offset up to Yelp's 1,000-result cap.
 * Businesses are deduplicated on the Yelp id, and on the normalised website domain and phone (the same business
 * listed twice, or a chain location sharing a site). Businesses with a website wait for assessment
 * (`assessment_pending`); those without one are kept but not assessed (`skipped`).
 */
import type { ITarget } from '../../db/entities/index.js';
import type { PipelineDeps, ProgressFn } from '../pipeline/deps.js';
import type { YelpBusiness } from '../providers/yelp/port.js';
import { businessesOfTarget, insertSourcedBusinesses } from '../queries/businesses.js';
import { yelpBatchSize } from '../targeting/batch-size.js';
import { normalizePhone, websiteDomain } from './normalize.js';

/** Yelp refuses `offset + limit` above 1,000 for one search. */
export const YELP_MAX_RESULTS = 1000;

/** Per-target outcome: new businesses stored, and businesses Yelp returned that we already had. */
export interface SourceResult {
  sourced: number;
  duplicates: number;
  noWebsite: number;
}

/**
 * Pages through Yelp for `target` until `quota` new businesses are stored, results run out, or Yelp's
 * 1,000-result cap is reached. The search resumes after the businesses already sourced for this target.
 * @throws ProviderError from the Yelp adapter.
 */
export async function sourceTarget(
  deps: PipelineDeps,
  target: ITarget,
  quota: number,
  progress: ProgressFn = () => {},
): Promise<SourceResult> {
  const result: SourceResult = { sourced: 0, duplicates: 0, noWebsite: 0 };
  let offset = await businessesOfTarget(deps.em, target.id);
  const batch = (await yelpBatchSize(deps.em, deps.config)).value;
  while (result.sourced < quota && offset < YELP_MAX_RESULTS) {
    const limit = Math.min(batch, quota - result.sourced, YELP_MAX_RESULTS - offset);
    const page = await deps.providers.yelp.search({ location: target.location, category: target.category, limit, offset });
    const { inserted, noWebsite, duplicates } = await insertPage(deps, target, page.businesses.slice(0, limit));
    result.noWebsite += noWebsite;
    result.duplicates += duplicates;
    result.sourced += inserted;
    if (inserted > 0) progress('sourced', inserted);
    offset += page.businesses.length;
    if (page.businesses.length < limit || offset >= page.total) break;
  }
  return result;
}

/**
 * Inserts one page of businesses in ONE statement, skipping any whose Yelp id, website domain or phone is already
 * known (in the table, or earlier on the same page).
 */
async function insertPage(
  deps: PipelineDeps,
  target: ITarget,
  page: YelpBusiness[],
): Promise<{ inserted: number; noWebsite: number; duplicates: number }> {
  const now = deps.clock.now();
  const seen = new Set<string>();
  const fresh: { b: YelpBusiness; domain: string | null; phone: string | null }[] = [];
  for (const b of page) {
    const domain = websiteDomain(b.website);
    const phone = normalizePhone(b.phone);
    const keys = [`id:${b.id}`, domain && `d:${domain}`, phone && `p:${phone}`].filter(Boolean) as string[];
    if (keys.some((k) => seen.has(k))) continue;
    for (const k of keys) seen.add(k);
    fresh.push({ b, domain, phone });
  }
  if (fresh.length === 0) return { inserted: 0, noWebsite: 0, duplicates: page.length };
  const rows = await insertSourcedBusinesses(
    deps.em,
    fresh.map(({ b, domain, phone }) => ({
      yelpId: b.id,
      name: b.name,
      website: b.website,
      websiteDomain: domain,
      phone: b.phone,
      phoneNormalized: phone,
      address: b.address,
      city: b.city,
      categories: b.categories,
      rating: b.rating,
      reviewCount: b.reviewCount,
      status: b.website ? 'assessment_pending' : 'skipped',
    })),
    target.id,
    now,
  );
  return { inserted: rows.length, noWebsite: rows.filter((r) => !r.website).length, duplicates: page.length - rows.length };
}
