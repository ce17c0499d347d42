/**
 * Job: one run of the daily pipeline with its context's full services — in its own worker thread, services built
 * with a small pool (closed after the run); on the service's main thread (`JOBS_IN_PROCESS`, the soak bench) the
 * service's own pool, gateway and clock. It runs `runPipeline` and reports progress to the main thread.
 */
import { runPipeline, type PipelineRunSummary } from '../domain/pipeline/run.js';
import { requireServices } from './job-context.js';
import type { JobContext, JobNeeds } from './job-types.js';

/** In a worker: full services (the pipeline calls every provider through the gateway). */
export const needs: JobNeeds = 'services';

/** Runs the pipeline; progress goes out as `{ kind: 'progress', stage, n }` and `{ kind: 'run_started', runId }`. */
export default async function dailyPipeline(ctx: JobContext): Promise<PipelineRunSummary> {
  const services = requireServices(ctx);
  const { data, report } = ctx;
  return runPipeline(
    { em: services.orm.em.fork(), providers: services.providers, config: services.config, logger: services.logger, clock: services.clock },
    {
      trigger: data.trigger ?? 'schedule',
      progress: (stage, n) => report({ kind: 'progress', stage, n }),
      onStart: (runId) => report({ kind: 'run_started', runId }),
    },
  );
}
