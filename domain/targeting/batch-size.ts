/**
 * The Yelp page size in force: `YELP_BATCH_SIZE` from config, unless an operator lowered (or raised) it at run
 * time (setting `pipeline.yelp_batch_size`, audited: who and when), e.g. from a Slack remediation button.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AppConfig } from '../config.js';
import { AppError } from '../errors.js';
import { getSettingEntry, setSetting } from '../settings.js';

/** Setting key of the run-time override. */
export const YELP_BATCH_SIZE_SETTING = 'pipeline.yelp_batch_size';

/** The batch size to use now (1–50) and where it comes from. */
export async function yelpBatchSize(
  em: EntityManager,
  config: AppConfig,
): Promise<{ value: number; source: 'config' | 'override'; updatedBy?: string; updatedAt?: Date }> {
  const entry = await getSettingEntry<number>(em, YELP_BATCH_SIZE_SETTING);
  if (entry && Number.isInteger(entry.value) && entry.value >= 1 && entry.value <= 50)
    return { value: entry.value, source: 'override', updatedBy: entry.updatedBy, updatedAt: entry.updatedAt };
  return { value: config.pipeline.yelpBatchSize, source: 'config' };
}

/** Sets the override. @throws AppError bad_request unless 1 ≤ value ≤ 50 (Yelp's `limit` range). */
export async function setYelpBatchSize(em: EntityManager, value: number, by: string, now: Date): Promise<void> {
  if (!Number.isInteger(value) || value < 1 || value > 50)
    throw new AppError('bad_request', `YELP batch size must be an integer from 1 to 50 (got ${value})`);
  await setSetting(em, YELP_BATCH_SIZE_SETTING, value, by, now);
}
