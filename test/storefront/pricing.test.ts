import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AppError } from '../../domain/errors.js';
import { calculateTotal } from '../../domain/storefront/pricing.js';

const t = suite('storefront: calculateTotal');

t('integer cents with tax rounded half-up', () => {
  const table: [number, number, number, number][] = [
    // base, rate, tax, total
    [9900, 0.08, 792, 10692],
    [1, 0.5, 1, 2], // 0.5 cent → 1 (half-up)
    [1, 0.49, 0, 1],
    [3, 0.5, 2, 5], // 1.5 → 2
    [5, 0.1, 1, 6], // 0.5 → 1 (float 0.1 × 5 is not exactly 0.5)
    [1005, 0.07, 70, 1075], // 70.35 → 70
    [2150, 0.07, 151, 2301], // 150.5 → 151
    [19999, 0.0825, 1650, 21649], // 1649.9175 → 1650
    [100, 0.015, 2, 102], // 1.5 → 2
    [33, 1e-7, 0, 33],
    [9900, 0, 0, 9900],
    [0, 0.08, 0, 0],
    [12345, 1, 12345, 24690],
  ];
  for (const [base, rate, tax, total] of table) {
    assert.equal(calculateTotal(base, rate), { baseCents: base, taxCents: tax, totalCents: total }, `${base} @ ${rate}`);
  }
});

t('every result is made of integers', () => {
  for (let base = 0; base < 2000; base += 37) {
    const r = calculateTotal(base, 0.0725);
    assert.ok(Number.isInteger(r.taxCents) && Number.isInteger(r.totalCents));
    assert.is(r.totalCents, r.baseCents + r.taxCents);
  }
});

t('rejects non-integer, negative or non-numeric input with a clear error', () => {
  const bad: [unknown, unknown, RegExp][] = [
    [99.5, 0.08, /baseCents must be a non-negative integer/],
    [-1, 0.08, /baseCents must be a non-negative integer/],
    [Number.NaN, 0.08, /baseCents/],
    ['9900', 0.08, /baseCents/],
    [Number.MAX_SAFE_INTEGER + 2, 0, /baseCents/],
    [9900, -0.01, /taxRate must be a fraction between 0 and 1/],
    [9900, 1.5, /taxRate must be a fraction/],
    [9900, Number.POSITIVE_INFINITY, /taxRate/],
    [9900, '0.08', /taxRate/],
  ];
  for (const [base, rate, msg] of bad) {
    try {
      calculateTotal(base as number, rate as number);
      assert.unreachable(`${String(base)} @ ${String(rate)} should throw`);
    } catch (err) {
      assert.instance(err, AppError);
      assert.is((err as AppError).code, 'bad_request');
      assert.match((err as Error).message, msg);
    }
  }
});

t.run();
