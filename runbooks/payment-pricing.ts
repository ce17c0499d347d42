/**
 * The pricing diagnostics of the "Payment issues" runbook (runbooks/payment-issues.ts): the storefront price in
 * force, and `calculateTotal` checked against known cases and against the amounts stored on recent purchases.
 */
import { recentPurchaseAmounts } from '../domain/queries/purchases.js';
import { DEV_STRIPE_WEBHOOK_SECRET } from '../domain/storefront/config.js';
import { calculateTotal } from '../domain/storefront/pricing.js';
import type { RunbookContext } from './context.js';
import type { Finding } from './define.js';

/** Purchases compared against the total calculation: created within this window (30 days, ms), at most 500. */
export const TOTALS_WINDOW_MS = 30 * 24 * 3600_000;

/** pricing-config: the storefront settings in force (domain/storefront/config.ts) and the resulting price. */
export async function pricingConfig(ctx: RunbookContext): Promise<Finding> {
  const c = ctx.services.config.storefront;
  const evidence: Record<string, unknown> = {
    auditReportPriceCents: c.auditReportPriceCents,
    taxRate: c.taxRate,
    currency: c.currency,
    successUrl: c.successUrl,
    cancelUrl: c.cancelUrl,
    webhookSecret: c.stripeWebhookSecret === DEV_STRIPE_WEBHOOK_SECRET ? 'MISSING' : 'SET',
  };
  try {
    const t = calculateTotal(c.auditReportPriceCents, c.taxRate);
    Object.assign(evidence, t);
    return {
      status: 'ok',
      summary: `Audit report ${t.baseCents} + tax ${t.taxCents} (${+(c.taxRate * 100).toFixed(4)}%) = ${t.totalCents} ${c.currency.toUpperCase()} cents.`,
      evidence,
    };
  } catch (err) {
    return { status: 'problem', summary: `The configured price cannot be computed: ${(err as Error).message}.`, evidence };
  }
}

/** The half-up tax of `base × rate` computed independently (float with an epsilon), as a cross-check. */
function halfUpTax(base: number, rate: number): number {
  return Math.floor(base * rate + 0.5 + 1e-9);
}

/** Known cases of the calculation (integer cents, half-up): base, rate, expected tax. */
const CALCULATION_CASES: readonly [number, number, number][] = [
  [9900, 0.08, 792],
  [1, 0.5, 1],
  [125, 0.1, 13],
  [9900, 0, 0],
  [1999, 0.0725, 145],
];

/**
 * total-calculation: `calculateTotal` over the configured price (integer cents, half-up, known cases) and the stored
 * amounts of purchases of the last 30 days against it (tax at the configured rate, total = amount + tax, amount =
 * the configured price).
 */
export async function totalCalculation(ctx: RunbookContext): Promise<Finding> {
  const c = ctx.services.config.storefront;
  const now = ctx.services.clock.now();
  const failedCases = CALCULATION_CASES.filter(([b, r, tax]) => {
    const t = calculateTotal(b, r);
    return t.taxCents !== tax || t.totalCents !== b + tax;
  }).map(([b, r]) => `${b}@${r}`);
  let configured: { baseCents: number; taxCents: number; totalCents: number } | undefined;
  let configError: string | undefined;
  try {
    configured = calculateTotal(c.auditReportPriceCents, c.taxRate);
  } catch (err) {
    configError = (err as Error).message;
  }
  const configOk =
    configured !== undefined &&
    [configured.baseCents, configured.taxCents, configured.totalCents].every(Number.isSafeInteger) &&
    configured.totalCents === configured.baseCents + configured.taxCents &&
    configured.taxCents === halfUpTax(configured.baseCents, c.taxRate);
  const rows = await recentPurchaseAmounts(ctx.em(), new Date(now.getTime() - TOTALS_WINDOW_MS), 500);
  const mismatches: { id: number; stored: number; expected: number }[] = [];
  let otherPrice = 0;
  for (const r of rows) {
    const amount = r.amountCents;
    const expected = calculateTotal(amount, c.taxRate);
    if (r.taxCents !== expected.taxCents || r.totalCents !== expected.totalCents) mismatches.push({ id: r.id, stored: r.totalCents, expected: expected.totalCents });
    if (amount !== c.auditReportPriceCents) otherPrice++;
  }
  const evidence = {
    priceCents: c.auditReportPriceCents,
    taxRate: c.taxRate,
    calculated: configured ?? null,
    configError: configError ?? null,
    integerHalfUp: configOk,
    failedCases,
    compared: rows.length,
    mismatches: mismatches.length,
    mismatchSamples: mismatches.slice(0, 10),
    atOtherPrice: otherPrice,
  };
  if (!configOk || failedCases.length > 0) {
    return {
      status: 'problem',
      summary: `The total calculation is wrong: ${configError ?? (failedCases.length ? `known cases fail (${failedCases.join(', ')})` : `${c.auditReportPriceCents} at ${c.taxRate} does not give integer cents rounded half-up`)}.`,
      evidence,
    };
  }
  const line = `${configured!.baseCents} + ${configured!.taxCents} tax = ${configured!.totalCents} cents (integer, half-up)`;
  if (mismatches.length > 0) {
    const m = mismatches[0]!;
    return {
      status: 'problem',
      summary: `${mismatches.length} of ${rows.length} recent purchase(s) store a total that differs from the calculation at the configured tax rate (e.g. purchase ${m.id}: ${m.stored} stored, ${m.expected} expected); ${line}.`,
      evidence,
    };
  }
  if (otherPrice > 0) return { status: 'warn', summary: `${line}; ${otherPrice} of ${rows.length} recent purchase(s) were priced differently (the price changed since).`, evidence };
  return { status: 'ok', summary: `${line}; ${rows.length} recent purchase(s) match.`, evidence };
}

