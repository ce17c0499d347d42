/**
 * The versioned scoring rules file (`rules/scoring-rules.v1.json`), validated with zod when loaded. A bad file
 * fails with a {@link ScoringRulesError} naming each bad field (e.g. `weights.seoGap`), so a typo never silently
 * scores every lead 0 or 100.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/** The factors the scorer computes (each 0–100 before weighting); see score.ts for what each measures. */
export const SCORE_FACTORS = ['performanceGap', 'seoGap', 'accessibilityGap', 'bestPracticesGap', 'webVitals', 'reputation'] as const;
/** One factor name. */
export type ScoreFactor = (typeof SCORE_FACTORS)[number];

/** Path of the rules file shipped with the code. */
export const DEFAULT_RULES_PATH = fileURLToPath(new URL('./rules/scoring-rules.v1.json', import.meta.url));

const weight = z.number().min(0).max(1);
const band = z
  .object({ good: z.number().nonnegative(), poor: z.number().nonnegative() })
  .strict()
  .refine((b) => b.poor > b.good, { message: 'poor must be greater than good', path: ['poor'] });

/** Schema of the rules file. Weights are per factor and must sum to 1 (± 0.001). */
export const ScoringRulesSchema = z
  .object({
    version: z.string().min(1),
    description: z.string().optional(),
    weights: z.object(Object.fromEntries(SCORE_FACTORS.map((f) => [f, weight])) as Record<ScoreFactor, typeof weight>).strict(),
    thresholds: z
      .object({
        /** Gap points (0–100) used when a PageSpeed category or every vital is missing. */
        missingScoreGap: z.number().min(0).max(100),
        lcpMs: band,
        tbtMs: band,
        cls: band,
        /** Reputation points for a 5-star rating (scaled linearly). */
        ratingPoints: z.number().min(0).max(100),
        /** Reputation points for `reviewsForFullPoints` reviews or more (scaled linearly). */
        reviewPoints: z.number().min(0).max(100),
        reviewsForFullPoints: z.number().int().positive(),
      })
      .strict()
      .refine((t) => t.ratingPoints + t.reviewPoints <= 100, { message: 'ratingPoints + reviewPoints must be at most 100', path: ['reviewPoints'] }),
    tiers: z
      .array(z.object({ tier: z.string().regex(/^[A-Z]$/), min: z.number().min(0).max(100) }).strict())
      .min(1)
      .superRefine((tiers, ctx) => {
        tiers.forEach((t, i) => {
          if (i > 0 && t.min >= tiers[i - 1]!.min) ctx.addIssue({ code: 'custom', message: 'tier minimums must strictly decrease', path: [i, 'min'] });
          if (tiers.findIndex((o) => o.tier === t.tier) !== i) ctx.addIssue({ code: 'custom', message: `tier ${t.tier} listed twice`, path: [i, 'tier'] });
        });
        if (tiers.length > 0 && tiers[tiers.length - 1]!.min !== 0) ctx.addIssue({ code: 'custom', message: 'the last tier must start at 0', path: [tiers.length - 1, 'min'] });
      }),
    verticals: z
      .object({
        default: z.number().positive().max(3),
        /** Keyed by Yelp category alias (`categories[].alias`), lower-case. */
        multipliers: z.record(z.string().regex(/^[a-z0-9_-]+$/, 'a Yelp category alias (lower-case)'), z.number().positive().max(3)),
      })
      .strict(),
  })
  .strict()
  .superRefine((r, ctx) => {
    const sum = Object.values(r.weights).reduce((s, w) => s + w, 0);
    if (Math.abs(sum - 1) > 0.001) ctx.addIssue({ code: 'custom', message: `weights must sum to 1 (they sum to ${sum.toFixed(4)})`, path: ['weights'] });
  });

/** Validated scoring rules. */
export type ScoringRules = z.infer<typeof ScoringRulesSchema>;

/** The rules file is missing, not JSON or invalid; `fields` are the dotted paths of the bad fields. */
export class ScoringRulesError extends Error {
  constructor(
    message: string,
    readonly fields: string[],
  ) {
    super(message);
    this.name = 'ScoringRulesError';
  }
}

/**
 * Validates parsed rules. `source` names the file in the error.
 * @throws ScoringRulesError `invalid scoring rules (<source>): <field>: <problem>; …`
 */
export function parseScoringRules(json: unknown, source = 'scoring rules'): ScoringRules {
  const parsed = ScoringRulesSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const fields = parsed.error.issues.map((i) => i.path.map(String).join('.') || '(root)');
  const lines = parsed.error.issues.map((i, n) => `${fields[n]}: ${i.message}`);
  throw new ScoringRulesError(`invalid scoring rules (${source}): ${lines.join('; ')}`, fields);
}

/**
 * Reads and validates a rules file (default {@link DEFAULT_RULES_PATH}).
 * @throws ScoringRulesError when the file is unreadable, not JSON or invalid.
 */
export function loadScoringRules(path: string = DEFAULT_RULES_PATH): ScoringRules {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ScoringRulesError(`scoring rules ${path} unreadable: ${(err as Error).message}`, []);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ScoringRulesError(`scoring rules ${path} is not JSON: ${(err as Error).message}`, []);
  }
  return parseScoringRules(json, path);
}

let cached: ScoringRules | undefined;

/** The shipped rules, loaded and validated once (the first call, at the start of the scoring stage). */
export function defaultScoringRules(): ScoringRules {
  cached ??= loadScoringRules();
  return cached;
}

/** Tier of a score from the rules' single tier table (first tier whose `min` the score reaches). */
export function tierFor(score: number, rules: ScoringRules): string {
  return (rules.tiers.find((t) => score >= t.min) ?? rules.tiers[rules.tiers.length - 1]!).tier;
}
