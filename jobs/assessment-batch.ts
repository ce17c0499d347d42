/** Job `assessment-batch` (jobs/pipeline-batches.ts): assess and score what the daily run left pending. */
import type { JobContext, JobNeeds } from './job-types.js';
import { assessmentStages, runBatch, type BatchSummary } from './pipeline-batches.js';

/** In a worker: full services (the assessments call providers through the gateway). */
export const needs: JobNeeds = 'services';

/** One assessment batch (see jobs/pipeline-batches.ts runBatch). */
export default function assessmentBatch(ctx: JobContext): Promise<BatchSummary> {
  return runBatch(ctx, assessmentStages);
}
