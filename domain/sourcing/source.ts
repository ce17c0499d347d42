/**
 * Sourcing: Yelp Fusion business search for one target, within its remaining daily quota and `YELP_BATCH_SIZE`,
 * upserting businesses deduplicated on the Yelp id. Businesses with a website wait for assessment
 * (`assessment_pending`); those without one are kept but not assessed (`skipped`).
 */
import type { ITarget } from '../../db/entities/index.js';
import type { PipelineDeps, ProgressFn } from '../pipeline/deps.js';
import type { YelpBusiness } from '../providers/yelp/port.js';

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
  while (result.sourced < quota && offset < YELP_MAX_RESULTS) {
    const limit = Math.min(deps.config.pipeline.yelpBatchSize, quota - result.sourced, YELP_MAX_RESULTS - offset);
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
  const rows = await deps.em.getConnection().execute<{ id: number }[]>(
    `insert into businesses (yelp_id, name, website, phone, address, city, categories, rating, review_count, status, target_id, created_at, updated_at)
     values (?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?, ?, ?, ?, ?)
     on conflict (yelp_id) do nothing returning id`,
    [
      b.id,
      b.name,
      b.website,
      b.phone,
      b.address,
      b.city,
      JSON.stringify(b.categories),
      b.rating,
      b.reviewCount,
      b.website ? 'assessment_pending' : 'skipped',
      target.id,
      now,
      now,
    ],
  );
  return rows.length > 0;
}
