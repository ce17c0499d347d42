/**
 * Whether an assessment measured anything: the one guard scoring and personalization share, so a business is never
 * scored or emailed on PageSpeed scores that do not exist (a PageSpeed 200 with `lighthouseResult.runtimeError`
 * carries null scores: Lighthouse could not load the page).
 */
import type { IAssessmentResult } from '../../db/entities/index.js';

/** The assessment fields the guard reads. */
export type MeasuredFields = Pick<IAssessmentResult, 'status' | 'errorCode' | 'performanceScore' | 'accessibilityScore' | 'bestPracticesScore' | 'seoScore'>;

/**
 * Why `a` cannot be used for scoring or an email, or undefined when it can: `failed` assessments, a Lighthouse
 * runtime error code (`error_code`), and results where all four PageSpeed category scores are null.
 */
export function unmeasuredReason(a: MeasuredFields): string | undefined {
  if (a.errorCode) return `Lighthouse runtimeError ${a.errorCode}: PageSpeed measured nothing`;
  if (a.status === 'failed') return 'the assessment failed';
  const scores = [a.performanceScore, a.accessibilityScore, a.bestPracticesScore, a.seoScore];
  if (scores.every((v) => v === null || v === undefined)) return 'no PageSpeed category score was measured';
  return undefined;
}
