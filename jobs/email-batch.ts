/** Bree job `email-batch` (jobs/pipeline-batches.ts): personalise what is scored and send pending emails. */
import type { JobData, JobReport } from './job-types.js';
import { emailStages, runBatch, type BatchSummary } from './pipeline-batches.js';

export default function emailBatch(data: JobData, report: JobReport): Promise<BatchSummary> {
  return runBatch(data, report, 'email-batch', emailStages);
}
