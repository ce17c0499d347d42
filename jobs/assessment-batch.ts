/** Bree job `assessment-batch` (jobs/pipeline-batches.ts): assess and score what the daily run left pending. */
import type { JobData, JobReport } from './job-types.js';
import { assessmentStages, runBatch, type BatchSummary } from './pipeline-batches.js';

export default function assessmentBatch(data: JobData, report: JobReport): Promise<BatchSummary> {
  return runBatch(data, report, 'assessment-batch', assessmentStages);
}
