import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { assessPending } from '../../domain/assessment/assess.js';
import { mapPageSpeed } from '../../domain/providers/pagespeed/index.js';
import type { Services } from '../../domain/services.js';
import { DB_KIND, freshDatabase } from '../helpers/db.js';
import { REAL_FIXTURES } from '../helpers/fixtures.js';
import { testIf } from '../helpers/preconditions.js';
import { pipelineDeps, testServices } from '../helpers/services.js';

const FIXTURES = REAL_FIXTURES;
const PSI_DIR = join(FIXTURES, 'pagespeed');

type Audit = { id?: string; title?: string; score?: number | null; numericValue?: number; details?: { type?: string; overallSavingsMs?: number } };
type Lhr = { requestedUrl?: string; finalUrl?: string; categories: Record<string, { score: number | null }>; audits: Record<string, Audit> };

/** What the stored assessment must hold, computed straight from the recorded JSON. */
function expected(lhr: Lhr) {
  const score = (id: string) => {
    const s = lhr.categories[id]?.score;
    return s === undefined || s === null ? null : Math.round(s * 100);
  };
  const num = (id: string) => lhr.audits[id]?.numericValue;
  const opportunities = Object.entries(lhr.audits)
    .filter(([, a]) => a.details?.type === 'opportunity' && (a.details.overallSavingsMs ?? 0) > 0 && !(typeof a.score === 'number' && a.score >= 1))
    .map(([key, a]) => ({ id: a.id ?? key, title: a.title ?? key, savingsMs: a.details!.overallSavingsMs! }))
    .sort((x, y) => y.savingsMs - x.savingsMs)
    .slice(0, 5);
  return {
    scores: [score('performance'), score('accessibility'), score('best-practices'), score('seo')],
    metrics: { lcpMs: num('largest-contentful-paint'), cls: num('cumulative-layout-shift'), tbtMs: num('total-blocking-time'), fcpMs: num('first-contentful-paint') },
    opportunities,
  };
}

const recorded = existsSync(PSI_DIR) ? readdirSync(PSI_DIR).filter((f) => /^runPagespeed\.v5\..*\.json$/.test(f)).sort() : [];

type Ctx = { db: Database; services: Services };
const t = suite<Ctx>(`PageSpeed v5 fields from recorded responses (${DB_KIND})`);

t.before(async (ctx) => {
  if (recorded.length === 0) return;
  ctx.db = await freshDatabase();
  ctx.services = await testServices(ctx.db, { SANDBOX_FIXTURES: FIXTURES });
});
t.after(async (ctx) => {
  await ctx.services?.close();
  await ctx.db?.close();
});

testIf(t, recorded.length > 0, `no runPagespeed.v5.*.json in ${PSI_DIR} (set LF_SHARED_FIXTURES)`)('each recorded runPagespeed answer is stored as scores ×100, metrics and the top 5 opportunities by savings', async (ctx) => {
  const conn = ctx.db.orm.em.getConnection();
  const cases = recorded.map((file, i) => {
    const body = JSON.parse(readFileSync(join(PSI_DIR, file), 'utf8')) as { lighthouseResult: Lhr };
    return { file, i, lhr: body.lighthouseResult, website: body.lighthouseResult.finalUrl ?? body.lighthouseResult.requestedUrl! };
  });
  for (const c of cases) {
    await conn.execute(
      "insert into businesses (yelp_id, name, website, categories, status, created_at, updated_at) values (?, ?, ?, '[]', 'assessment_pending', now(), now())",
      [`recorded-${c.i}`, `Recorded ${c.i}`, c.website],
    );
  }
  const out = await assessPending(pipelineDeps(ctx.services));
  assert.is(out.assessed, cases.length, 'PageSpeed answered every one (the recorded OpenAI text only makes them partial)');
  for (const c of cases) {
    const [row] = await conn.execute<
      { performance_score: number | null; accessibility_score: number | null; best_practices_score: number | null; seo_score: number | null; metrics: Record<string, number>; opportunities: { id: string; title: string; savingsMs: number }[] }[]
    >('select a.* from assessment_results a join businesses b on b.id = a.business_id where b.yelp_id = ?', [`recorded-${c.i}`]);
    const want = expected(c.lhr);
    assert.equal([row!.performance_score, row!.accessibility_score, row!.best_practices_score, row!.seo_score], want.scores, `${c.file}: categories`);
    for (const [k, v] of Object.entries(want.metrics)) assert.is(row!.metrics[k], v, `${c.file}: ${k}`);
    assert.equal(row!.opportunities.map((o) => o.savingsMs), want.opportunities.map((o) => o.savingsMs), `${c.file}: savings, highest first`);
    assert.equal(new Set(row!.opportunities.map((o) => o.id)), new Set(want.opportunities.map((o) => o.id)), `${c.file}: which audits`);
    assert.ok(row!.opportunities.length <= 5);
  }
});

const SAMPLE = join(PSI_DIR, 'lighthouse-result.sample_v2.lighthouse-repo.json');
testIf(t, existsSync(SAMPLE), `${SAMPLE} is absent (set LF_SHARED_FIXTURES)`)('the raw Lighthouse v13 mobile sample maps the same way', () => {
  const path = SAMPLE;
  const lhr = JSON.parse(readFileSync(path, 'utf8')) as Lhr;
  const mapped = mapPageSpeed({ lighthouseResult: lhr } as Record<string, unknown>, { url: lhr.requestedUrl!, strategy: 'mobile' });
  const want = expected(lhr);
  assert.equal([mapped.scores.performance, mapped.scores.accessibility, mapped.scores.bestPractices, mapped.scores.seo], want.scores);
  assert.equal(mapped.metrics, want.metrics);
  assert.equal(mapped.opportunities.map((o) => o.savingsMs), want.opportunities.map((o) => o.savingsMs));
  assert.is(mapped.strategy, 'mobile');
});

t.run();
