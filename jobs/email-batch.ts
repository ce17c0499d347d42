/** Job `email-batch` (jobs/pipeline-batches.ts): personalise what is scored and send pending emails. */
import type { JobContext, JobNeeds } from './job-types.js';
import { emailStages, runBatch, type BatchSummary } from './pipeline-batches.js';

/** In a worker: full services (personalisation and sending call providers through the gateway). */
export const needs: JobNeeds = 'services';

/** One email batch (see jobs/pipeline-batches.ts runBatch). */
export default function emailBatch(ctx: JobContext): Promise<BatchSummary> {
  return runBatch(ctx, emailStages);
}
