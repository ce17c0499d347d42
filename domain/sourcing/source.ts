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
  const conn = deps.em.getConnection();
  const [{ n }] = await conn.execute<{ n: string }[]>('select count(*) as n from businesses where target_id = ?', [
    target.id,
  ]);
  let offset = Number(n);
  const batch = (await yelpBatchSize(deps.em, deps.config)).value;
  while (result.sourced < quota && offset < YELP_MAX_RESULTS) {
    const limit = Math.min(batch, quota - result.sourced, YELP_MAX_RESULTS - offset);
    const page = await deps.providers.yelp.search({ location: target.location, category: target.category, limit, offset });
    let inserted = 0;
    for (const b of page.businesses.slice(0, limit)) {
      if (await insertBusiness(deps, target, b)) {
        inserted++;
        if (!b.website) result.noWebsite++;
      } else result.duplicates++;
    }
    result.sourced += inserted;
    if (inserted > 0) progress('sourced', inserted);
    offset += page.businesses.length;
    if (page.businesses.length < limit || offset >= page.total) break;
  }
  return result;
}

async function insertBusiness(deps: PipelineDeps, target: ITarget, b: YelpBusiness): Promise<boolean> {
  const now = deps.clock.now();
  const domain = websiteDomain(b.website);
  const phone = normalizePhone(b.phone);
  // One statement: insert unless the Yelp id, website domain or phone is already known.
  const rows = await deps.em.getConnection().execute<{ id: number }[]>(
    `insert into businesses (yelp_id, name, website, website_domain, phone, phone_normalized, address, city, categories,
                             rating, review_count, status, status_changed_at, target_id, created_at, updated_at)
     select ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?, ?, ?, ?, ?, ?
     where not exists (select 1 from businesses where (?::text is not null and website_domain = ?::text)
                                                   or (?::text is not null and phone_normalized = ?::text))
     on conflict (yelp_id) do nothing returning id`,
    [
      b.id,
      b.name,
      b.website,
      domain,
      b.phone,
      phone,
      b.address,
      b.city,
      JSON.stringify(b.categories),
      b.rating,
      b.reviewCount,
      b.website ? 'assessment_pending' : 'skipped',
      now,
      target.id,
      now,
      now,
      domain,
      domain,
      phone,
      phone,
    ],
  );
  return rows.length > 0;
}
