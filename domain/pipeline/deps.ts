/** What every pipeline stage receives. */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AppConfig } from '../config.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { Providers } from '../services.js';

/** Job name of the pipeline in `job_runs.job` and the scheduler. */
export const PIPELINE_JOB = 'daily-pipeline';

/** Stage dependencies; `em` is a fork owned by the run (stages fork again per batch). */
export interface PipelineDeps {
  em: EntityManager;
  providers: Providers;
  config: AppConfig;
  logger: Logger;
  clock: Clock;
  /**
   * Lease holder of the items the stages claim (domain/leases.ts): `host:pid:boot#runId` for a pipeline run;
   * default this process.
   */
  holder?: string;
}

/** Stage counter names kept on the job run (`job_runs.counts`) and reported as progress. */
export type StageCount =
  | 'targets'
  | 'stuck'
  | 'assessment_retried'
  | 'sourced'
  | 'duplicates'
  | 'no_website'
  | 'assessed'
  | 'assessment_failed'
  | 'scored'
  | 'personalized'
  | 'held'
  | 'emailed'
  | 'send_failed';

/** Called as work completes: `n` more items reached `stage`. Used to update metrics in the main thread. */
export type ProgressFn = (stage: StageCount, n: number) => void;

/** Runs `fn` over `items` with at most `concurrency` in flight; results in input order. */
export async function mapConcurrent<T, R>(items: T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  });
  await Promise.all(workers);
  return out;
}
