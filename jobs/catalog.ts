/**
 * The job catalog: every scheduled job with its schedule, timeout and why it exists. Schedules are cron
 * expressions evaluated in UTC.
 */
import type { AppConfig } from '../domain/config.js';

/** One scheduled job. `file` is the module in jobs/ (without extension) exporting `default (data, report)`. */
export interface JobDefinition {
  name: string;
  file: string;
  cron: string;
  /** The worker is terminated after this long (ms). */
  timeoutMs: number;
  why: string;
}

/** The catalog for a configuration. */
export function jobCatalog(config: AppConfig): JobDefinition[] {
  return [
    {
      name: 'daily-pipeline',
      file: 'daily-pipeline',
      cron: config.pipeline.cron,
      timeoutMs: 2 * 60 * 60 * 1000,
      why: 'Sources, assesses, scores, personalises and emails the day’s leads (troubleshooting guide: pipeline).',
    },
  ];
}
