/**
 * Scoring: how good a lead a business is, 0–100. A slow, poorly built website is an opportunity, so weak
 * PageSpeed categories raise the score; an established business (rating, reviews) raises it a little more.
 * Weights sum to 1. The versioned rules file and tiers come with the full scoring stage.
 */
import { AssessmentResult, Business, type IAssessmentResult, type IBusiness } from '../../db/entities/index.js';
import type { PipelineDeps, ProgressFn } from '../pipeline/deps.js';

/** Weights per factor (sum 1). */
export const SCORE_WEIGHTS = {
  performanceGap: 0.4,
  seoGap: 0.2,
  accessibilityGap: 0.15,
  bestPracticesGap: 0.15,
  reputation: 0.1,
} as const;

/** Score and the per-factor points behind it. */
export interface ScoreBreakdown {
  score: number;
  factors: Record<keyof typeof SCORE_WEIGHTS, number>;
}

const gap = (v: number | null) => (v === null ? 50 : 100 - v);

/** Pure scoring of one business from its latest assessment (category scores 0–100). */
export function scoreBusiness(b: Pick<IBusiness, 'rating' | 'reviewCount'>, a: IAssessmentResult): ScoreBreakdown {
  const reputation = Math.min(100, ((b.rating ?? 0) / 5) * 70 + Math.min(30, (b.reviewCount ?? 0) / 10));
  const factors = {
    performanceGap: gap(a.performanceScore ?? null) * SCORE_WEIGHTS.performanceGap,
    seoGap: gap(a.seoScore ?? null) * SCORE_WEIGHTS.seoGap,
    accessibilityGap: gap(a.accessibilityScore ?? null) * SCORE_WEIGHTS.accessibilityGap,
    bestPracticesGap: gap(a.bestPracticesScore ?? null) * SCORE_WEIGHTS.bestPracticesGap,
    reputation: reputation * SCORE_WEIGHTS.reputation,
  };
  const score = Math.round(Object.values(factors).reduce((s, v) => s + v, 0));
  return { score: Math.max(0, Math.min(100, score)), factors };
}

/** Scores every `assessed` business from its newest assessment; returns how many were scored. */
export async function scoreAssessed(deps: PipelineDeps, progress: ProgressFn = () => {}): Promise<number> {
  const em = deps.em.fork();
  const businesses = await em.find(Business, { status: 'assessed' }, { orderBy: { id: 'asc' }, limit: 1000 });
  let n = 0;
  for (const b of businesses) {
    const latest = await em.findOne(AssessmentResult, { business: b.id }, { orderBy: { id: 'desc' } });
    if (!latest) continue;
    b.score = scoreBusiness(b, latest).score;
    b.status = 'scored';
    n++;
  }
  await em.flush();
  if (n > 0) progress('scored', n);
  return n;
}
