import { defineEntity, type InferEntity } from '@mikro-orm/core';
import { Business } from './business.entity.js';

/** `completed`: every assessor answered; `partial`: some failed; `failed`: none did. */
export const ASSESSMENT_STATUSES = ['completed', 'partial', 'failed'] as const;
export type AssessmentStatus = (typeof ASSESSMENT_STATUSES)[number];

/** Core Web Vitals from PageSpeed v5 `lighthouseResult.audits[*].numericValue` (ms, CLS unitless). */
export interface AssessmentMetrics {
  lcpMs?: number;
  cls?: number;
  tbtMs?: number;
  fcpMs?: number;
}

/**
 * One assessment of a business's website. Category scores are PageSpeed Insights v5
 * `lighthouseResult.categories.<id>.score` × 100 (0–100, null when not measured); `insight` is the AI summary
 * (OpenAI chat completion text). `errorMessage` keeps why an assessor failed, `errorCode`
 * Lighthouse's runtime error code.
 */
export const AssessmentResult = defineEntity({
  name: 'AssessmentResult',
  tableName: 'assessment_results',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    business: p.manyToOne(Business).deleteRule('cascade').index(),
    status: p.enum([...ASSESSMENT_STATUSES]),
    url: p.string().length(2048),
    performanceScore: p.integer().nullable(),
    accessibilityScore: p.integer().nullable(),
    bestPracticesScore: p.integer().nullable(),
    seoScore: p.integer().nullable(),
    metrics: p.json<AssessmentMetrics>().default('{}'),
    insight: p.text().nullable(),
    /** Top 5 PageSpeed opportunities by savings: `{ id, title, savingsMs }[]`. */
    opportunities: p.json<{ id: string; title: string; savingsMs: number }[]>().default('[]'),
    /** AI recommendations (3): `{ title, impact, effort }[]` with impact/effort high|medium|low. */
    recommendations: p.json<{ title: string; impact: string; effort: string }[]>().default('[]'),
    /** Per-assessor outcome: `{ pagespeed: 'ok' | error, openai: 'ok' | error }`. */
    assessors: p.json<Record<string, string>>().default('{}'),
    durationMs: p.integer().nullable(),
    errorMessage: p.text().nullable(),
    /**
     * Lighthouse's `lighthouseResult.runtimeError.code` (e.g. `FAILED_DOCUMENT_REQUEST`) when PageSpeed answered 200
     * without measuring the page; null otherwise.
     */
    errorCode: p.string().length(64).nullable(),
    createdAt: p.datetime().columnType('timestamptz').onCreate(() => new Date()).index(),
  }),
});
/** Inferred entity type of {@link AssessmentResult}. */
export type IAssessmentResult = InferEntity<typeof AssessmentResult>;
