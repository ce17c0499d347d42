/**
 * Bree job: one run of the daily pipeline, in its own worker thread (or in-process in tests). Thin: builds
 * services with a small pool, runs `runPipeline`, reports progress to the main thread, closes.
 */
import { loadConfig } from '../domain/config.js';
import { createLogger } from '../domain/logger.js';
import { runPipeline, type PipelineRunSummary } from '../domain/pipeline/run.js';
import { buildServices } from '../domain/services.js';
import type { JobData, JobReport } from './job-types.js';

/** Runs the pipeline; progress goes out as `{ kind: 'progress', stage, n }` and `{ kind: 'run_started', runId }`. */
export default async function dailyPipeline(data: JobData, report: JobReport): Promise<PipelineRunSummary> {
  const config = loadConfig({ ...process.env, ...data.env });
  const logger = createLogger(config.logLevel, { thread: 'worker' });
  const services = await buildServices(config, {
    logger,
    poolMax: 2,
    // Metrics live in the main thread: send every gateway observation there.
    observer: (observation) => report({ kind: 'gateway', observation }),
  });
  try {
    return await runPipeline(
      { em: services.orm.em.fork(), providers: services.providers, config, logger, clock: services.clock },
      {
        trigger: data.trigger ?? 'schedule',
        progress: (stage, n) => report({ kind: 'progress', stage, n }),
        onStart: (runId) => report({ kind: 'run_started', runId }),
      },
    );
  } finally {
    await services.close();
  }
}
