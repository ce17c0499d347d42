/** Storefront settings from the environment (merged into the app schema by domain/config.ts). */
import { z } from 'zod';

/** Development-only Stripe webhook secret; production must set STRIPE_WEBHOOK_SECRET. */
export const DEV_STRIPE_WEBHOOK_SECRET = 'whsec_dev_not_for_production';

/** Development-only key of the signed report links; production must set REPORT_LINK_SECRET. */
export const DEV_REPORT_LINK_SECRET = 'dev-report-link-secret-not-for-production';

const opt = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

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
  STRIPE_WEBHOOK_SECRET: opt,
  /** Unset: the service's own pages, `<PUBLIC_BASE_URL>/checkout/success?session_id={CHECKOUT_SESSION_ID}`. */
  CHECKOUT_SUCCESS_URL: z.url().optional(),
  /** Unset: `<PUBLIC_BASE_URL>/checkout/cancel`. */
  CHECKOUT_CANCEL_URL: z.url().optional(),
  /** HMAC key of the "Get the full report" links in outreach emails (domain/storefront/link.ts). */
  REPORT_LINK_SECRET: opt,
  /** How long a report link works after the email is sent, days. */
  REPORT_LINK_TTL_DAYS: z.coerce.number().int().min(1).max(365).default(30),
});

/** Storefront configuration. Money in integer cents. */
export interface StorefrontConfig {
  auditReportPriceCents: number;
  taxRate: number;
  currency: string;
  stripeWebhookSecret: string;
  /** Stripe `success_url` (may hold `{CHECKOUT_SESSION_ID}`, which Stripe replaces). */
  successUrl: string;
  /** Stripe `cancel_url`. */
  cancelUrl: string;
  /** HMAC key of the report links (`REPORT_LINK_SECRET`). */
  reportLinkSecret: string;
  /** Lifetime of a report link, ms (`REPORT_LINK_TTL_DAYS`). */
  reportLinkTtlMs: number;
}

/**
 * Builds {@link StorefrontConfig}; `problems` collects production-only requirements by name. `publicBaseUrl` (the
 * service's public address, `PUBLIC_BASE_URL`) is where the success and cancel pages are unless set explicitly.
 */
export function buildStorefrontConfig(e: z.infer<typeof StorefrontEnvSchema>, production: boolean, problems: string[], publicBaseUrl: string): StorefrontConfig {
  if (production && !e.STRIPE_WEBHOOK_SECRET) problems.push('STRIPE_WEBHOOK_SECRET: required in production');
  if (production && !e.REPORT_LINK_SECRET) problems.push('REPORT_LINK_SECRET: required in production');
  const base = publicBaseUrl.replace(/\/+$/, '');
  return {
    auditReportPriceCents: e.AUDIT_REPORT_PRICE_CENTS,
    taxRate: e.TAX_RATE,
    currency: e.CURRENCY,
    stripeWebhookSecret: e.STRIPE_WEBHOOK_SECRET ?? DEV_STRIPE_WEBHOOK_SECRET,
    successUrl: e.CHECKOUT_SUCCESS_URL ?? `${base}/checkout/success?session_id={CHECKOUT_SESSION_ID}`,
    cancelUrl: e.CHECKOUT_CANCEL_URL ?? `${base}/checkout/cancel`,
    reportLinkSecret: e.REPORT_LINK_SECRET ?? DEV_REPORT_LINK_SECRET,
    reportLinkTtlMs: e.REPORT_LINK_TTL_DAYS * 24 * 3_600_000,
  };
}
