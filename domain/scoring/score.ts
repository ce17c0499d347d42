/**
 * Scoring: how good a lead a business is, 0–100 (higher = better lead), with tier and a stored breakdown.
 *
 * Factors (each 0–100 points before weighting; weights from the rules file, summing to 1):
 * - `performanceGap`, `seoGap`, `accessibilityGap`, `bestPracticesGap`: 100 − the PageSpeed mobile category score
 *   (`lighthouseResult.categories.<id>.score` × 100). A weaker website is a bigger opportunity. A missing score
 *   counts `thresholds.missingScoreGap`.
 * - `webVitals`: mean over the measured lab metrics LCP, TBT (ms) and CLS of 0 (at or below `good`) … 100 (at or
 *   above `poor`), linear in between; `missingScoreGap` when none was measured.
 * - `reputation`: an established business is likelier to buy: Yelp `rating` / 5 × `ratingPoints` + reviews /
 *   `reviewsForFullPoints` (capped at 1) × `reviewPoints`; 0 for what is unknown.
 *
 * score = min(100, round(Σ value × weight × vertical multiplier)); the multiplier is the highest one among the
 * business's Yelp category aliases (`verticals.multipliers`), else `verticals.default`.
 */
import { AssessmentResult, Business, type IAssessmentResult, type IBusiness } from '../../db/entities/index.js';
import { unmeasuredReason } from '../assessment/measurement.js';
import type { PipelineDeps, ProgressFn } from '../pipeline/deps.js';
import { defaultScoringRules, SCORE_FACTORS, tierFor, type ScoreFactor, type ScoringRules } from './rules.js';

export { defaultScoringRules, loadScoringRules, parseScoringRules, ScoringRulesError, tierFor, type ScoringRules } from './rules.js';

/** One factor in the breakdown: `value` 0–100, its `weight`, and `points` = value × weight (before the multiplier). */
export interface FactorScore {
  value: number;
  weight: number;
  points: number;
}

/**
 * Stored as `businesses.score_breakdown`. `base` = Σ points; `vertical` = the alias whose multiplier applied.
 * A type alias, not an interface: it then fits the entity's JSON column (`Record<string, unknown>`) as it is.
 */
export type ScoreBreakdown = {
  version: string;
  factors: Record<ScoreFactor, FactorScore>;
  base: number;
  multiplier: number;
  vertical: string | null;
};

/** A business's score (integer 0–100), tier and breakdown. */
export interface BusinessScore {
  score: number;
  tier: string;
  breakdown: ScoreBreakdown;
}

/** The assessment fields scoring reads (category scores 0–100; metrics in ms, CLS unitless). */
export type ScoringAssessment = Pick<IAssessmentResult, 'performanceScore' | 'accessibilityScore' | 'bestPracticesScore' | 'seoScore' | 'metrics'>;

const round2 = (n: number) => Math.round(n * 100) / 100;

function badness(v: number | undefined, band: { good: number; poor: number }): number | undefined {
  if (v === undefined || !Number.isFinite(v)) return undefined;
  if (v <= band.good) return 0;
  if (v >= band.poor) return 100;
  return ((v - band.good) / (band.poor - band.good)) * 100;
}

/** The vertical multiplier for Yelp category aliases: the highest listed one, else the default. */
export function verticalMultiplier(categories: readonly string[] | null | undefined, rules: ScoringRules): { multiplier: number; vertical: string | null } {
  let best: { multiplier: number; vertical: string | null } = { multiplier: rules.verticals.default, vertical: null };
  for (const alias of categories ?? []) {
    const m = rules.verticals.multipliers[alias.toLowerCase()];
    if (m !== undefined && (best.vertical === null || m > best.multiplier)) best = { multiplier: m, vertical: alias.toLowerCase() };
  }
  return best;
}

/** Pure: scores one business from its assessment with `rules`. */
export function scoreBusiness(
  business: Pick<IBusiness, 'rating' | 'reviewCount' | 'categories'>,
  assessment: ScoringAssessment,
  rules: ScoringRules = defaultScoringRules(),
): BusinessScore {
  const t = rules.thresholds;
  const gap = (v: number | null | undefined) => (v === null || v === undefined ? t.missingScoreGap : 100 - Math.max(0, Math.min(100, v)));
  const m = assessment.metrics ?? {};
  const vitals = [badness(m.lcpMs, t.lcpMs), badness(m.tbtMs, t.tbtMs), badness(m.cls, t.cls)].filter((v): v is number => v !== undefined);
  const rating = Math.max(0, Math.min(5, business.rating ?? 0));
  const reviews = Math.max(0, business.reviewCount ?? 0);
  const values: Record<ScoreFactor, number> = {
    performanceGap: gap(assessment.performanceScore),
    seoGap: gap(assessment.seoScore),
    accessibilityGap: gap(assessment.accessibilityScore),
    bestPracticesGap: gap(assessment.bestPracticesScore),
    webVitals: vitals.length ? vitals.reduce((s, v) => s + v, 0) / vitals.length : t.missingScoreGap,
    reputation: (rating / 5) * t.ratingPoints + Math.min(1, reviews / t.reviewsForFullPoints) * t.reviewPoints,
  };
  const factors = {} as Record<ScoreFactor, FactorScore>;
  let base = 0;
  for (const f of SCORE_FACTORS) {
    const points = values[f] * rules.weights[f];
    factors[f] = { value: round2(values[f]), weight: rules.weights[f], points: round2(points) };
    base += points;
  }
  const { multiplier, vertical } = verticalMultiplier(business.categories, rules);
  const score = Math.max(0, Math.min(100, Math.round(base * multiplier)));
  return { score, tier: tierFor(score, rules), breakdown: { version: rules.version, factors, base: round2(base), multiplier, vertical } };
}

/** Businesses scored per query page, and pages per run. */
const PAGE = 200;
const MAX_PAGES = 50;

/**
 * Scores every `assessed` business from its newest assessment and stores `score`, `tier`, `score_breakdown`,
 * status `scored` and `status_changed_at`. A business whose newest assessment measured nothing
 * (assessment/measurement.ts: failed, a Lighthouse runtime error, no category score) is not scored: it goes back to
 * `assessment_failed`. Rules are loaded and validated first (a bad file throws
 * ScoringRulesError before anything changes). Returns how many were scored.
 */
export async function scoreAssessed(deps: PipelineDeps, progress: ProgressFn = () => {}, rules: ScoringRules = defaultScoringRules()): Promise<number> {
  let n = 0;
  let lastId = 0;
  for (let page = 0; page < MAX_PAGES; page++) {
    const em = deps.em.fork();
    const businesses = await em.find(Business, { status: 'assessed', id: { $gt: lastId } }, { orderBy: { id: 'asc' }, limit: PAGE });
    if (businesses.length === 0) break;
    lastId = businesses[businesses.length - 1]!.id;
    const latest = new Map<number, IAssessmentResult>();
    const results = await em.find(AssessmentResult, { business: { $in: businesses.map((b) => b.id) } }, { orderBy: { id: 'asc' } });
    for (const r of results) latest.set(r.business.id, r);
    const now = deps.clock.now();
    let scored = 0;
    for (const b of businesses) {
      const a = latest.get(b.id);
      if (!a) continue;
      const unmeasured = unmeasuredReason(a);
      if (unmeasured) {
        // never a tier on scores that do not exist: back to assessment_failed (retried like any failure)
        b.status = 'assessment_failed';
        b.statusChangedAt = now;
        deps.logger.warn({ businessId: b.id, reason: unmeasured }, 'not scored: the newest assessment measured nothing');
        continue;
      }
      const s = scoreBusiness(b, a, rules);
      b.score = s.score;
      b.tier = s.tier;
      b.scoreBreakdown = s.breakdown;
      b.status = 'scored';
      b.statusChangedAt = now;
      scored++;
    }
    await em.flush();
    n += scored;
    if (scored > 0) progress('scored', scored);
  }
  return n;
}
