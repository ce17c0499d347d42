/**
 * The eval's tables: accuracy per category and path, the calibration table (answers by confidence band: how many,
 * how many right), the cost of a whole-system diagnosis (time and provider calls per answer), and which root
 * causes the scenarios cover (as the expected answer, or only as a listed effect).
 */
import { RUNBOOKS } from '../../../runbooks/index.js';
import type { EvalResult } from './run.js';
import type { EvalScenario } from './scenarios.js';

/** Confidence bands of the calibration table: [low, high). */
export const BANDS: readonly [number, number][] = [
  [0, 0.45],
  [0.45, 0.6],
  [0.6, 0.8],
  [0.8, 1.01],
];

const pct = (n: number, d: number) => (d ? `${((100 * n) / d).toFixed(1)}%` : '-');

/** Accuracy per category for one path. */
export function perCategory(results: readonly EvalResult[], path: 'offline' | 'llm'): { category: string; n: number; correct: number }[] {
  const rs = results.filter((r) => r.path === path);
  const cats = [...new Set(rs.map((r) => r.category))];
  return cats.map((category) => {
    const c = rs.filter((r) => r.category === category);
    return { category, n: c.length, correct: c.filter((r) => r.correct).length };
  });
}

/** The calibration table for one path: per band, answers, right ones and accuracy. */
export function calibration(results: readonly EvalResult[], path: 'offline' | 'llm'): { band: string; n: number; correct: number; meanConfidence: number }[] {
  const rs = results.filter((r) => r.path === path);
  return BANDS.map(([lo, hi]) => {
    const b = rs.filter((r) => r.confidence >= lo && r.confidence < hi);
    return {
      band: `${lo.toFixed(2)}–${Math.min(1, hi).toFixed(2)}`,
      n: b.length,
      correct: b.filter((r) => r.correct).length,
      meanConfidence: b.length ? b.reduce((t, r) => t + r.confidence, 0) / b.length : 0,
    };
  });
}

/** Root-cause ids: expected somewhere, listed as an effect somewhere, or not covered. */
export function coverage(scenarios: readonly EvalScenario[]): { expected: string[]; effectsOnly: string[]; uncovered: string[] } {
  const ids = [...new Set(RUNBOOKS.flatMap((r) => r.rootCauses.map((c) => c.id)))];
  const expected = new Set(scenarios.map((s) => s.expected).filter((x): x is string => x !== null));
  const effects = new Set(scenarios.flatMap((s) => s.effects ?? []));
  return {
    expected: ids.filter((id) => expected.has(id)),
    effectsOnly: ids.filter((id) => !expected.has(id) && effects.has(id)),
    uncovered: ids.filter((id) => !expected.has(id) && !effects.has(id)),
  };
}

/** Prints the tables. */
export function printReport(results: readonly EvalResult[], scenarios: readonly EvalScenario[]): void {
  for (const path of ['offline', 'llm'] as const) {
    const rs = results.filter((r) => r.path === path);
    if (!rs.length) continue;
    console.log(`${path}: accuracy per category`);
    for (const c of perCategory(results, path)) console.log(`  ${c.category.padEnd(9)} ${String(c.correct).padStart(3)}/${String(c.n).padEnd(3)} ${pct(c.correct, c.n)}`);
    console.log(`${path}: calibration (confidence band → answers, right, accuracy, mean confidence)`);
    for (const b of calibration(results, path))
      console.log(`  ${b.band}  ${String(b.n).padStart(3)} answers ${String(b.correct).padStart(3)} right ${pct(b.correct, b.n).padStart(6)}  mean ${b.meanConfidence.toFixed(2)}`);
    const wrongHigh = rs.filter((r) => !r.correct && r.confidence >= 0.8);
    console.log(`  wrong answers at confidence ≥ 0.80: ${wrongHigh.length}${wrongHigh.length ? ` (${wrongHigh.map((r) => r.scenario).join(', ')})` : ''}`);
    const withEffects = rs.filter((r) => r.effectsExpected > 0);
    if (withEffects.length)
      console.log(`  expected effects listed: ${withEffects.reduce((t, r) => t + r.effectsListed, 0)}/${withEffects.reduce((t, r) => t + r.effectsExpected, 0)}`);
    if (path === 'offline') {
      const live = rs.filter((r) => r.category !== 'case');
      const ms = live.map((r) => r.ms).sort((a, b) => a - b);
      const calls = live.reduce((t, r) => t + r.providerCalls, 0) / (live.length || 1);
      console.log(
        `  cost of a whole-system diagnosis: ${(live.reduce((t, r) => t + r.toolCalls, 0) / (live.length || 1)).toFixed(1)} diagnostics, ${calls.toFixed(1)} provider calls, median ${ms[Math.floor(ms.length / 2)] ?? 0} ms, max ${ms[ms.length - 1] ?? 0} ms per answer`,
      );
    }
  }
  const cov = coverage(scenarios);
  console.log(`root causes: ${cov.expected.length} expected as the answer somewhere, ${cov.effectsOnly.length} only as a listed effect (${cov.effectsOnly.join(', ') || 'none'}), ${cov.uncovered.length} not covered (${cov.uncovered.join(', ') || 'none'})`);
  console.log('');
}
