/** Storefront pricing: integer cents only, tax rounded half-up in exact decimal arithmetic. */
import { AppError } from '../errors.js';

/** A price split into its parts, all integer cents: `totalCents = baseCents + taxCents`. */
export interface PriceBreakdown {
  baseCents: number;
  taxCents: number;
  totalCents: number;
}

/**
 * A tax rate as an exact fraction `num / den` of the decimal it was written as (0.08 → 8/100; 1e-7 → 1/10^7), so
 * 0.08 × 9900 is exactly 792 rather than a binary-float neighbour.
 */
function exactFraction(rate: number): { num: bigint; den: bigint } {
  const m = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(rate));
  if (!m) throw new AppError('bad_request', `taxRate ${rate} cannot be read as a decimal`);
  const frac = m[2] ?? '';
  const exp = Number(m[3] ?? 0) - frac.length;
  const digits = BigInt(`${m[1]}${frac}`);
  return exp >= 0 ? { num: digits * 10n ** BigInt(exp), den: 1n } : { num: digits, den: 10n ** BigInt(-exp) };
}

/**
 * Base price plus tax, in integer cents. `taxCents` = `baseCents × taxRate` rounded half-up (0.5 cent → 1 cent),
 * computed on the exact decimal value of `taxRate` (no float drift): 9900 at 0.08 → tax 792, total 10692;
 * 1 at 0.5 → tax 1, total 2.
 * @param baseCents non-negative safe integer, in cents (e.g. `storefront.auditReportPriceCents`)
 * @param taxRate fraction between 0 and 1 (0.08 = 8 %), e.g. `storefront.taxRate`
 * @throws AppError `bad_request` when `baseCents` is not a non-negative safe integer, or `taxRate` is not a finite
 *   number in [0, 1].
 */
export function calculateTotal(baseCents: number, taxRate: number): PriceBreakdown {
  if (typeof baseCents !== 'number' || !Number.isSafeInteger(baseCents) || baseCents < 0) {
    throw new AppError('bad_request', `baseCents must be a non-negative integer number of cents, got ${String(baseCents)}`);
  }
  if (typeof taxRate !== 'number' || !Number.isFinite(taxRate) || taxRate < 0 || taxRate > 1) {
    throw new AppError('bad_request', `taxRate must be a fraction between 0 and 1 (0.08 = 8%), got ${String(taxRate)}`);
  }
  const { num, den } = exactFraction(taxRate);
  // half-up: floor(x + 1/2) = floor((2·base·num + den) / (2·den)) for non-negative x.
  const taxCents = Number((2n * BigInt(baseCents) * num + den) / (2n * den));
  const totalCents = baseCents + taxCents;
  if (!Number.isSafeInteger(totalCents)) throw new AppError('bad_request', `total of ${baseCents} cents plus tax is too large`);
  return { baseCents, taxCents, totalCents };
}
