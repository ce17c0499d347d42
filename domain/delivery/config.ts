/** Delivery settings from the environment (merged into the app schema by domain/config.ts). */
import { z } from 'zod';

/** Development-only unsubscribe-token secret; production must set UNSUBSCRIBE_SECRET. */
export const DEV_UNSUBSCRIBE_SECRET = 'dev-unsubscribe-secret-not-for-production';

const opt = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

/** Environment keys for delivery and compliance. */
export const DeliveryEnvSchema = z.object({
  EMAIL_BATCH_SIZE: z.coerce.number().int().positive().max(1000).default(50),
  /** Unset: adaptive (SendGrid's gate); set: a hand-tuned cap. */
  EMAIL_CONCURRENCY: z.coerce.number().int().positive().max(50).optional(),
  CAMPAIGN: z.string().trim().min(1).default('website-audit'),
  UNSUBSCRIBE_SECRET: opt,
  /** Where this service is reachable from the internet (unsubscribe links). */
  PUBLIC_BASE_URL: z.url().default('http://localhost:3000'),
  POSTAL_ADDRESS: z.string().trim().min(5).default('LeadFactory, 548 Market St #1000, San Francisco, CA 94104, USA'),
  /** SendGrid signed event webhook verification key (base64 DER ECDSA public key from the SendGrid UI). */
  SENDGRID_WEBHOOK_PUBLIC_KEY: opt,
  BOUNCE_RATE_THRESHOLD: z.coerce.number().min(0).max(1).default(0.1),
  BOUNCE_RATE_MIN_SENDS: z.coerce.number().int().min(1).default(20),
  /** Sends tried per email in all (the first included) before a retryable failure is left to an operator. */
  EMAIL_SEND_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(5),
  /** Backoff of the first retry (seconds); doubled per attempt, with jitter, up to EMAIL_SEND_RETRY_MAX_SECONDS. */
  EMAIL_SEND_RETRY_BASE_SECONDS: z.coerce.number().int().min(0).max(86_400).default(60),
  EMAIL_SEND_RETRY_MAX_SECONDS: z.coerce.number().int().min(1).max(7 * 86_400).default(3600),
});

/** Delivery configuration. */
export interface DeliveryConfig {
  emailBatchSize: number;
  /** Emails of a claimed batch sent at once. */
  emailConcurrency: number;
  /** True when EMAIL_CONCURRENCY is unset: a pipeline run sizes it from SendGrid's gate. */
  adaptiveConcurrency: boolean;
  campaign: string;
  unsubscribeSecret: string;
  publicBaseUrl: string;
  postalAddress: string;
  sendgridWebhookPublicKey: string | undefined;
  bounceRateThreshold: number;
  bounceRateMinSends: number;
  /** Retries of failed sends (domain/delivery/send-failures.ts): attempts in all, backoff base and cap in ms. */
  sendRetry: { maxAttempts: number; baseMs: number; maxMs: number };
}

/** Builds {@link DeliveryConfig}; `problems` collects production-only requirements by name. */
export function buildDeliveryConfig(e: z.infer<typeof DeliveryEnvSchema>, production: boolean, problems: string[]): DeliveryConfig {
  if (production && !e.UNSUBSCRIBE_SECRET) problems.push('UNSUBSCRIBE_SECRET: required in production');
  if (production && !e.SENDGRID_WEBHOOK_PUBLIC_KEY) problems.push('SENDGRID_WEBHOOK_PUBLIC_KEY: required in production');
  return {
    emailBatchSize: e.EMAIL_BATCH_SIZE,
    emailConcurrency: e.EMAIL_CONCURRENCY ?? 4,
    adaptiveConcurrency: e.EMAIL_CONCURRENCY === undefined,
    campaign: e.CAMPAIGN,
    unsubscribeSecret: e.UNSUBSCRIBE_SECRET ?? DEV_UNSUBSCRIBE_SECRET,
    publicBaseUrl: e.PUBLIC_BASE_URL.replace(/\/+$/, ''),
    postalAddress: e.POSTAL_ADDRESS,
    sendgridWebhookPublicKey: e.SENDGRID_WEBHOOK_PUBLIC_KEY,
    bounceRateThreshold: e.BOUNCE_RATE_THRESHOLD,
    bounceRateMinSends: e.BOUNCE_RATE_MIN_SENDS,
    sendRetry: {
      maxAttempts: e.EMAIL_SEND_MAX_ATTEMPTS,
      baseMs: e.EMAIL_SEND_RETRY_BASE_SECONDS * 1000,
      maxMs: Math.max(e.EMAIL_SEND_RETRY_MAX_SECONDS, e.EMAIL_SEND_RETRY_BASE_SECONDS) * 1000,
    },
  };
}
