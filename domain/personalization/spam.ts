/**
 * Spam checker driven by `spam_rules.json` (validated with zod on first use): trigger keywords and regex
 * patterns with weights, capitals ratio, exclamation marks, link count and length bounds. Score 0–100 (sum of
 * points, capped), one reason per rule that added points. Unlike LeadFactory v1, "content too short" fires when
 * the body is SHORTER than `length.bodyMin`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/** Path of the rules file shipped with the code. */
export const SPAM_RULES_PATH = fileURLToPath(new URL('./spam_rules.json', import.meta.url));

const regexRule = z.object({
  id: z.string().regex(/^[a-z0-9_]+$/),
  pattern: z.string().min(1),
  weight: z.number().positive().max(100),
  /** A phrase that triggers this rule (and only it); the tests use it. */
  example: z.string().min(1),
});

/** Schema of `spam_rules.json`. */
export const SpamRulesSchema = z.object({
  version: z.number().int().positive(),
  description: z.string().optional(),
  /** Case-insensitive regexes; `weight` points per match. */
  keywords: z.array(regexRule),
  /** Case-sensitive regexes; `weight` points per match. */
  patterns: z.array(regexRule),
  /** Over `maxRatio` capital letters among ≥ `minLetters` letters → `weight`. */
  capitals: z.object({ minLetters: z.number().int().nonnegative(), maxRatio: z.number().min(0).max(1), weight: z.number().nonnegative() }),
  /** "!" beyond `subjectMax` / `bodyMax` → that many × weight. */
  exclamations: z.object({
    subjectMax: z.number().int().nonnegative(),
    subjectWeightPerExtra: z.number().nonnegative(),
    bodyMax: z.number().int().nonnegative(),
    bodyWeightPerExtra: z.number().nonnegative(),
  }),
  /** Links (`http(s)://` or `www.`) in the body beyond `max` → that many × weight. */
  links: z.object({ max: z.number().int().nonnegative(), weightPerExtra: z.number().nonnegative() }),
  /** Characters. Subject over `subjectIdeal` → `subjectIdealWeight`, over `subjectMax` → `subjectMaxWeight` instead. */
  length: z.object({
    subjectIdeal: z.number().int().positive(),
    subjectIdealWeight: z.number().nonnegative(),
    subjectMax: z.number().int().positive(),
    subjectMaxWeight: z.number().nonnegative(),
    bodyMin: z.number().int().nonnegative(),
    bodyMinWeight: z.number().nonnegative(),
    bodyMax: z.number().int().positive(),
    bodyMaxWeight: z.number().nonnegative(),
    emptyWeight: z.number().nonnegative(),
  }),
});

/** Validated spam rules. */
export type SpamRules = z.infer<typeof SpamRulesSchema>;

/** One rule that added points: `rule` is e.g. `keyword:free`, `pattern:all_caps_word`, `length:subject_ideal`. */
export interface SpamHit {
  rule: string;
  points: number;
  reason: string;
}

/** Score 0–100 (higher = more likely spam), one reason per rule that added points, and the hits behind them. */
export interface SpamResult {
  score: number;
  reasons: string[];
  hits: SpamHit[];
}

/**
 * Validates rules (and compiles every regex).
 * @throws Error `invalid spam rules: <field>: <problem>` naming the bad field or rule id.
 */
export function parseSpamRules(json: unknown): SpamRules {
  const parsed = SpamRulesSchema.safeParse(json);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new Error(`invalid spam rules: ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  for (const r of [...parsed.data.keywords, ...parsed.data.patterns]) {
    try {
      new RegExp(r.pattern, 'g');
    } catch (err) {
      throw new Error(`invalid spam rules: rule ${r.id}: bad pattern: ${(err as Error).message}`);
    }
  }
  return parsed.data;
}

let cached: SpamRules | undefined;

/** The shipped `spam_rules.json`, loaded and validated once. */
export function spamRules(): SpamRules {
  cached ??= parseSpamRules(JSON.parse(readFileSync(SPAM_RULES_PATH, 'utf8')));
  return cached;
}

const count = (text: string, re: RegExp) => (text.match(re) ?? []).length;

/** Scores `subject` and plain-text `body` with `rules` (default: the shipped file). */
export function spamCheck(subject: string, body: string, rules: SpamRules = spamRules()): SpamResult {
  const hits: SpamHit[] = [];
  const add = (rule: string, points: number, reason: string) => {
    if (points > 0) hits.push({ rule, points, reason: `${reason} (+${points})` });
  };
  const text = `${subject}\n${body}`;
  for (const k of rules.keywords) {
    const n = count(text, new RegExp(k.pattern, 'gi'));
    if (n > 0) add(`keyword:${k.id}`, n * k.weight, `trigger phrase ${k.id}${n > 1 ? ` ×${n}` : ''}`);
  }
  for (const p of rules.patterns) {
    const n = count(text, new RegExp(p.pattern, 'g'));
    if (n > 0) add(`pattern:${p.id}`, n * p.weight, `pattern ${p.id}${n > 1 ? ` ×${n}` : ''}`);
  }
  const letters = text.replace(/[^\p{L}]/gu, '');
  const caps = letters.replace(/[^\p{Lu}]/gu, '').length;
  if (letters.length >= rules.capitals.minLetters && letters.length > 0 && caps / letters.length > rules.capitals.maxRatio)
    add('capitals', rules.capitals.weight, `capitals ratio ${(caps / letters.length).toFixed(2)} > ${rules.capitals.maxRatio}`);
  const e = rules.exclamations;
  const subjectBangs = count(subject, /!/g);
  if (subjectBangs > e.subjectMax) add('exclamations:subject', (subjectBangs - e.subjectMax) * e.subjectWeightPerExtra, `${subjectBangs} "!" in the subject (max ${e.subjectMax})`);
  const bodyBangs = count(body, /!/g);
  if (bodyBangs > e.bodyMax) add('exclamations:body', (bodyBangs - e.bodyMax) * e.bodyWeightPerExtra, `${bodyBangs} "!" in the body (max ${e.bodyMax})`);
  const links = count(body, /\bhttps?:\/\/|\bwww\./gi);
  if (links > rules.links.max) add('links', (links - rules.links.max) * rules.links.weightPerExtra, `${links} links (max ${rules.links.max})`);
  const l = rules.length;
  const subj = subject.trim().length;
  if (subj > l.subjectMax) add('length:subject_max', l.subjectMaxWeight, `subject ${subj} chars > ${l.subjectMax}`);
  else if (subj > l.subjectIdeal) add('length:subject_ideal', l.subjectIdealWeight, `subject ${subj} chars > ${l.subjectIdeal}`);
  const len = body.trim().length;
  if (len === 0) add('length:empty', l.emptyWeight, 'empty body');
  else if (len < l.bodyMin) add('length:body_min', l.bodyMinWeight, `body ${len} chars < ${l.bodyMin}`);
  else if (len > l.bodyMax) add('length:body_max', l.bodyMaxWeight, `body ${len} chars > ${l.bodyMax}`);
  const total = hits.reduce((s, h) => s + h.points, 0);
  return { score: Math.min(100, Math.round(total)), reasons: hits.map((h) => `${h.rule}: ${h.reason}`), hits };
}

/** @deprecated Use {@link spamCheck}; kept for callers of the first version. Same result. */
export const spamScore = spamCheck;
