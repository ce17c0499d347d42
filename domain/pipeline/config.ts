/** Pipeline stage settings from the environment (merged into the app schema by domain/config.ts). */
import { z } from 'zod';

/** Environment keys for assessment, scoring, personalization and stage supervision. */
export const PipelineEnvSchema = z.object({
  ASSESSMENT_BATCH_SIZE: z.coerce.number().int().positive().max(1000).default(20),
  ASSESSMENT_CONCURRENCY: z.coerce.number().int().positive().max(50).default(4),
  ASSESSMENT_MAX_ATTEMPTS: z.coerce.number().int().positive().max(10).default(3),
  PAGESPEED_ASSESSOR_TIMEOUT_MS: z.coerce.number().int().positive().default(90_000),
  OPENAI_ASSESSOR_TIMEOUT_MS: z.coerce.number().int().positive().default(45_000),
  SPAM_THRESHOLD: z.coerce.number().int().min(0).max(100).default(50),
  /** Items in one stage longer than this are reported stuck and re-queued (minutes). */
  STUCK_AFTER_MINUTES: z.coerce.number().int().positive().default(30),
});

/** Stage configuration. Durations in ms. */
export interface StagesConfig {
  assessmentBatchSize: number;
  assessmentConcurrency: number;
  assessmentMaxAttempts: number;
  pagespeedTimeoutMs: number;
  openaiTimeoutMs: number;
  spamThreshold: number;
  stuckAfterMs: number;
}

/** Builds {@link StagesConfig}. */
export function buildStagesConfig(e: z.infer<typeof PipelineEnvSchema>): StagesConfig {
  return {
    assessmentBatchSize: e.ASSESSMENT_BATCH_SIZE,
    assessmentConcurrency: e.ASSESSMENT_CONCURRENCY,
    assessmentMaxAttempts: e.ASSESSMENT_MAX_ATTEMPTS,
    pagespeedTimeoutMs: e.PAGESPEED_ASSESSOR_TIMEOUT_MS,
    openaiTimeoutMs: e.OPENAI_ASSESSOR_TIMEOUT_MS,
    spamThreshold: e.SPAM_THRESHOLD,
    stuckAfterMs: e.STUCK_AFTER_MINUTES * 60_000,
  };
}
