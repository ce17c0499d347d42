/** Storefront settings from the environment (merged into the app schema by domain/config.ts). */
import { z } from 'zod';

/** Development-only Stripe webhook secret; production must set STRIPE_WEBHOOK_SECRET. */
export const DEV_STRIPE_WEBHOOK_SECRET = 'whsec_dev_not_for_production';

/** Environment keys for pricing and Stripe Checkout. */
export const StorefrontEnvSchema = z.object({
  /** Price of one website audit report, integer cents. */
  AUDIT_REPORT_PRICE_CENTS: z.coerce.number().int().positive().default(9900),
  /** Sales tax as a fraction (0.08 = 8%). */
  TAX_RATE: z.coerce.number().min(0).max(1).default(0),
  CURRENCY: z
    .string()
    .trim()
    .length(3)
    .transform((v) => v.toLowerCase())
    .default('usd'),
  STRIPE_WEBHOOK_SECRET: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim())),
  CHECKOUT_SUCCESS_URL: z.url().default('http://localhost:3000/checkout/success?session_id={CHECKOUT_SESSION_ID}'),
  CHECKOUT_CANCEL_URL: z.url().default('http://localhost:3000/checkout/cancel'),
});

/** Storefront configuration. Money in integer cents. */
export interface StorefrontConfig {
  auditReportPriceCents: number;
  taxRate: number;
  currency: string;
  stripeWebhookSecret: string;
  successUrl: string;
  cancelUrl: string;
}

/** Builds {@link StorefrontConfig}; `problems` collects production-only requirements by name. */
export function buildStorefrontConfig(e: z.infer<typeof StorefrontEnvSchema>, production: boolean, problems: string[]): StorefrontConfig {
  if (production && !e.STRIPE_WEBHOOK_SECRET) problems.push('STRIPE_WEBHOOK_SECRET: required in production');
  return {
    auditReportPriceCents: e.AUDIT_REPORT_PRICE_CENTS,
    taxRate: e.TAX_RATE,
    currency: e.CURRENCY,
    stripeWebhookSecret: e.STRIPE_WEBHOOK_SECRET ?? DEV_STRIPE_WEBHOOK_SECRET,
    successUrl: e.CHECKOUT_SUCCESS_URL,
    cancelUrl: e.CHECKOUT_CANCEL_URL,
  };
}
