import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { DEFAULT_RULES_PATH, loadScoringRules, parseScoringRules, ScoringRulesError, type ScoringRules } from '../../domain/scoring/rules.js';
import { scoreAssessed, scoreBusiness, type ScoringAssessment } from '../../domain/scoring/score.js';
import type { Services } from '../../domain/services.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { pipelineDeps, testServices } from '../helpers/services.js';

const raw = () => JSON.parse(readFileSync(DEFAULT_RULES_PATH, 'utf8')) as Record<string, any>;
const rules = loadScoringRules();

const pure = suite('scoring rules and scoreBusiness (pure)');

pure('the shipped rules file validates: weights sum to 1, one tier table A 80 / B 60 / C 40 / D', () => {
  assert.is(rules.version, 'v1');
  assert.ok(Math.abs(Object.values(rules.weights).reduce((s, w) => s + w, 0) - 1) < 1e-9);
  assert.equal(rules.tiers, [
    { tier: 'A', min: 80 },
    { tier: 'B', min: 60 },
    { tier: 'C', min: 40 },
    { tier: 'D', min: 0 },
  ]);
  assert.is(rules.verticals.default, 1);
  assert.is(rules.verticals.multipliers.restaurants, 1.1);
  assert.is(rules.verticals.multipliers.dentists, 1.2);
});

const invalid: [string, (r: Record<string, any>) => void, string][] = [
  ['a weight of the wrong type', (r) => (r.weights.seoGap = 'high'), 'weights.seoGap'],
  ['weights not summing to 1', (r) => (r.weights.seoGap = 0.5), 'weights: weights must sum to 1'],
  ['an unknown factor', (r) => (r.weights.colour = 0), 'weights'],
  ['a missing threshold', (r) => delete r.thresholds.lcpMs, 'thresholds.lcpMs'],
  ['a band with poor below good', (r) => (r.thresholds.cls = { good: 0.25, poor: 0.1 }), 'thresholds.cls.poor'],
  ['tiers out of order', (r) => (r.tiers[1].min = 90), 'tiers.1.min'],
  ['tiers not reaching 0', (r) => (r.tiers[3].min = 10), 'tiers.3.min'],
  ['a negative multiplier', (r) => (r.verticals.multipliers.dentists = -1), 'verticals.multipliers.dentists'],
  ['a missing version', (r) => delete r.version, 'version'],
];
for (const [what, mutate, field] of invalid) {
  pure(`a rules file with ${what} is refused, naming ${field}`, () => {
    const r = raw();
    mutate(r);
    try {
      parseScoringRules(r, 'test.json');
      assert.unreachable('accepted');
    } catch (err) {
      assert.instance(err, ScoringRulesError);
      assert.match((err as Error).message, 'invalid scoring rules (test.json)');
      assert.match((err as Error).message, field);
    }
  });
}

pure('loadScoringRules names the file and the field; unparseable JSON is refused too', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rules-'));
  const bad = join(dir, 'bad.json');
  const r = raw();
  r.thresholds.missingScoreGap = 150;
  writeFileSync(bad, JSON.stringify(r));
  assert.throws(() => loadScoringRules(bad), (e: Error) => e instanceof ScoringRulesError && e.message.includes(bad) && e.message.includes('thresholds.missingScoreGap'));
  writeFileSync(bad, '{"version": ');
  assert.throws(() => loadScoringRules(bad), /is not JSON/);
  assert.throws(() => loadScoringRules(join(dir, 'none.json')), /unreadable/);
});

/** Rules where the score is exactly the performance gap, so tier boundaries can be hit precisely. */
function perfOnly(): ScoringRules {
  const r = raw();
  for (const k of Object.keys(r.weights)) r.weights[k] = 0;
  r.weights.performanceGap = 1;
  return parseScoringRules(r);
}
const site = (performanceScore: number | null, extra: Partial<ScoringAssessment> = {}): ScoringAssessment => ({
  performanceScore,
  accessibilityScore: null,
  bestPracticesScore: null,
  seoScore: null,
  metrics: {},
  ...extra,
});
const plain = { rating: null, reviewCount: null, categories: [] as string[] };

pure('tier boundaries are 80 / 60 / 40', () => {
  const r = perfOnly();
  const cases: [number, number, string][] = [
    [0, 100, 'A'],
    [20, 80, 'A'],
    [21, 79, 'B'],
    [40, 60, 'B'],
    [41, 59, 'C'],
    [60, 40, 'C'],
    [61, 39, 'D'],
    [100, 0, 'D'],
  ];
  for (const [perf, score, tier] of cases) {
    const s = scoreBusiness(plain, site(perf), r);
    assert.is(s.score, score, `performance ${perf}`);
    assert.is(s.tier, tier, `score ${score}`);
  }
});

pure('a weaker website scores higher; missing scores count the configured gap', () => {
  const weak = scoreBusiness(plain, site(20, { seoScore: 50, accessibilityScore: 60, bestPracticesScore: 70, metrics: { lcpMs: 6000, cls: 0.3, tbtMs: 900 } }), rules);
  const strong = scoreBusiness(plain, site(98, { seoScore: 100, accessibilityScore: 100, bestPracticesScore: 100, metrics: { lcpMs: 1200, cls: 0.01, tbtMs: 50 } }), rules);
  assert.ok(weak.score > strong.score, `${weak.score} > ${strong.score}`);
  assert.is(strong.breakdown.factors.webVitals.value, 0);
  assert.is(weak.breakdown.factors.webVitals.value, 100);
  const unknown = scoreBusiness(plain, site(null), rules);
  assert.is(unknown.breakdown.factors.performanceGap.value, rules.thresholds.missingScoreGap);
  const mid = scoreBusiness(plain, site(50, { metrics: { lcpMs: 3250 } }), rules);
  assert.is(mid.breakdown.factors.webVitals.value, 50, 'halfway between good and poor');
});

pure('the vertical multiplier applies (highest matching alias) and the score is capped at 100', () => {
  const r = perfOnly();
  const base = scoreBusiness(plain, site(50), r);
  assert.is(base.score, 50);
  assert.is(base.breakdown.multiplier, 1);
  assert.is(base.breakdown.vertical, null);
  const resto = scoreBusiness({ ...plain, categories: ['pizza', 'restaurants'] }, site(50), r);
  assert.is(resto.score, 55);
  assert.is(resto.breakdown.multiplier, 1.1);
  const dentist = scoreBusiness({ ...plain, categories: ['restaurants', 'Dentists'] }, site(50), r);
  assert.is(dentist.score, 60);
  assert.is(dentist.breakdown.vertical, 'dentists');
  assert.is(dentist.tier, 'B');
  const capped = scoreBusiness({ ...plain, categories: ['dentists'] }, site(5), r);
  assert.is(capped.breakdown.base, 95);
  assert.is(capped.score, 100, '95 × 1.2 capped');
  const reputable = scoreBusiness({ rating: 5, reviewCount: 400, categories: [] }, site(50), rules);
  assert.is(reputable.breakdown.factors.reputation.value, 100);
});

pure.run();

type Ctx = { db: Database; services: Services };
const db = suite<Ctx>(`scoreAssessed (${DB_KIND})`);
db.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.services = await testServices(ctx.db);
});
db.after(async (ctx) => {
  await ctx.services.close();
  await ctx.db.close();
});
db.before.each(async (ctx) => truncateAll(ctx.db));
const sql = <T>(ctx: Ctx, q: string, p: unknown[] = []) => ctx.db.orm.em.getConnection().execute<T[]>(q, p);

db('stores score, tier, breakdown and status scored from the newest assessment', async (ctx) => {
  const [b] = await sql<{ id: number }>(
    ctx,
    `insert into businesses (yelp_id, name, website, categories, rating, review_count, status, created_at, updated_at)
     values ('s1', 'Smile Dental', 'https://smile.example.com', '["dentists"]', 4.5, 120, 'assessed', now(), now()) returning id`,
  );
  await sql(ctx, `insert into assessment_results (business_id, status, url, performance_score, seo_score, accessibility_score, best_practices_score, metrics, created_at)
    values (?, 'completed', 'https://smile.example.com/', 95, 95, 95, 95, '{}', now() - interval '1 day'),
           (?, 'partial', 'https://smile.example.com/', 30, 60, 70, 80, '{"lcpMs": 5200, "cls": 0.02, "tbtMs": 450}', now())`, [b!.id, b!.id]);
  const progress: number[] = [];
  assert.is(await scoreAssessed(pipelineDeps(ctx.services), (_s, n) => progress.push(n)), 1);
  assert.equal(progress, [1]);
  const [row] = await sql<{ score: number; tier: string; status: string; score_breakdown: any; status_changed_at: Date | null }>(
    ctx,
    'select score, tier, status, score_breakdown, status_changed_at from businesses where id = ?',
    [b!.id],
  );
  const want = scoreBusiness({ rating: 4.5, reviewCount: 120, categories: ['dentists'] }, site(30, { seoScore: 60, accessibilityScore: 70, bestPracticesScore: 80, metrics: { lcpMs: 5200, cls: 0.02, tbtMs: 450 } }), rules);
  assert.is(row!.score, want.score);
  assert.is(row!.tier, want.tier);
  assert.is(row!.status, 'scored');
  assert.ok(row!.status_changed_at);
  assert.equal(row!.score_breakdown, JSON.parse(JSON.stringify(want.breakdown)));
  assert.is(row!.score_breakdown.version, 'v1');
  assert.is(row!.score_breakdown.multiplier, 1.2);
});

db('an index on businesses.score exists', async (ctx) => {
  const rows = await sql<{ indexdef: string }>(ctx, "select indexdef from pg_indexes where tablename = 'businesses'");
  assert.ok(rows.some((r) => /\(score\)/.test(r.indexdef)), rows.map((r) => r.indexdef).join('\n'));
});

db.run();
