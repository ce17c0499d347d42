/** Pipeline stage settings from the environment (merged into the app schema by domain/config.ts). */
import { z } from 'zod';

/** Environment keys for assessment, scoring, personalization and stage supervision. */
export const PipelineEnvSchema = z.object({
  ASSESSMENT_BATCH_SIZE: z.coerce.number().int().positive().max(1000).default(20),
  /** Unset: adaptive (the provider gates size the calls in flight); set: a hand-tuned cap. */
  ASSESSMENT_CONCURRENCY: z.coerce.number().int().positive().max(50).optional(),
  ASSESSMENT_MAX_ATTEMPTS: z.coerce.number().int().positive().max(10).default(3),
  /** Active time one PageSpeed assessment may take (ms): PageSpeed's default deadline (two 90 s attempts). */
  PAGESPEED_ASSESSOR_TIMEOUT_MS: z.coerce.number().int().positive().default(180_000),
  OPENAI_ASSESSOR_TIMEOUT_MS: z.coerce.number().int().positive().default(45_000),
  SPAM_THRESHOLD: z.coerce.number().int().min(0).max(100).default(50),
  /** Items in one stage longer than this are reported stuck and re-queued (minutes). */
  STUCK_AFTER_MINUTES: z.coerce.number().int().positive().default(30),
  /** Lease of a job run and of every claimed item (seconds); holders renew it every third of it. */
  LEASE_SECONDS: z.coerce.number().int().min(3).max(3600).default(120),
  /**
   * How long after its last renewal an email left `sending` is looked up in SendGrid's Email Activity API (seconds):
   * the feed's indexing delay. At most LEASE_SECONDS, so a crashed send is settled within one lease.
   */
  SENDGRID_ACTIVITY_SETTLE_SECONDS: z.coerce.number().int().min(0).max(3600).default(60),
  /** A stage waits out a database outage (backing off, retrying) for at most this long before it fails (seconds). */
  DB_OUTAGE_MAX_WAIT_SECONDS: z.coerce.number().int().min(0).max(86_400).default(600),
});

/** Stage configuration. Durations in ms. */
export interface StagesConfig {
  assessmentBatchSize: number;
  /** Businesses assessed at a time (4 when unset outside an overlapped run). */
  assessmentConcurrency: number;
  /** True when ASSESSMENT_CONCURRENCY is unset: a pipeline run sizes it from the provider gates. */
  adaptiveConcurrency: boolean;
  assessmentMaxAttempts: number;
  pagespeedTimeoutMs: number;
  openaiTimeoutMs: number;
  spamThreshold: number;
  stuckAfterMs: number;
  /** Lease of runs and claimed items (ms), renewed every third of it by the holder. */
  leaseMs: number;
  /** Delay after an expired `sending` email's last renewal before SendGrid's activity feed is asked about it (ms). */
  activitySettleMs: number;
  /** How long a stage backs off and retries through a database outage before it fails (ms). */
  dbOutageMaxWaitMs: number;
}

/** Builds {@link StagesConfig}. */
export function buildStagesConfig(e: z.infer<typeof PipelineEnvSchema>): StagesConfig {
  return {
    assessmentBatchSize: e.ASSESSMENT_BATCH_SIZE,
    assessmentConcurrency: e.ASSESSMENT_CONCURRENCY ?? 4,
    adaptiveConcurrency: e.ASSESSMENT_CONCURRENCY === undefined,
    assessmentMaxAttempts: e.ASSESSMENT_MAX_ATTEMPTS,
    pagespeedTimeoutMs: e.PAGESPEED_ASSESSOR_TIMEOUT_MS,
    openaiTimeoutMs: e.OPENAI_ASSESSOR_TIMEOUT_MS,
    spamThreshold: e.SPAM_THRESHOLD,
    stuckAfterMs: e.STUCK_AFTER_MINUTES * 60_000,
    leaseMs: e.LEASE_SECONDS * 1000,
    activitySettleMs: Math.min(e.SENDGRID_ACTIVITY_SETTLE_SECONDS, e.LEASE_SECONDS) * 1000,
    dbOutageMaxWaitMs: e.DB_OUTAGE_MAX_WAIT_SECONDS * 1000,
  };
}
