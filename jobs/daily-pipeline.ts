/**
 * Bree job: one run of the daily pipeline. In its own worker thread it builds services with a small pool, runs
 * `runPipeline`, reports progress to the main thread and closes; on the service's main thread (`JOBS_IN_PROCESS`,
 * the soak bench) it uses the registered in-process services — their pool, gateway and clock — instead
 * (jobs/ops-job-env.ts `withJobServices`).
 */
import { runPipeline, type PipelineRunSummary } from '../domain/pipeline/run.js';
import type { JobData, JobReport } from './job-types.js';
import { withJobServices } from './ops-job-env.js';

/** Runs the pipeline; progress goes out as `{ kind: 'progress', stage, n }` and `{ kind: 'run_started', runId }`. */
export default async function dailyPipeline(data: JobData, report: JobReport): Promise<PipelineRunSummary> {
  return withJobServices(data, report, 'daily-pipeline', (services) =>
    runPipeline(
      { em: services.orm.em.fork(), providers: services.providers, config: services.config, logger: services.logger, clock: services.clock },
      {
        trigger: data.trigger ?? 'schedule',
        progress: (stage, n) => report({ kind: 'progress', stage, n }),
        onStart: (runId) => report({ kind: 'run_started', runId }),
      },
    ),
  );
}
