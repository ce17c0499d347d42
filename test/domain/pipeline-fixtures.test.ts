import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { runPipeline } from '../../domain/pipeline/run.js';
import type { Services } from '../../domain/services.js';
import { DB_KIND, freshDatabase } from '../helpers/db.js';
import { HAVE_REAL_FIXTURES, NO_FIXTURES, REAL_FIXTURES } from '../helpers/fixtures.js';
import { testIf } from '../helpers/preconditions.js';
import { pipelineDeps, testServices } from '../helpers/services.js';

const FIXTURES = REAL_FIXTURES;
const SF = join(FIXTURES, 'yelp/businesses-search.location-san-francisco.vcr-erikgrueter1.json');
const GOOGLE_PSI = join(FIXTURES, 'pagespeed/runPagespeed.v5.desktop.www-google-com.measure-grill.json');

type Ctx = { db: Database; services: Services };
const real = suite<Ctx>(`pipeline on recorded provider payloads (${DB_KIND})`);

real.before(async (ctx) => {
  if (!HAVE_REAL_FIXTURES) return;
  ctx.db = await freshDatabase();
  ctx.services = await testServices(ctx.db, { SANDBOX_FIXTURES: FIXTURES });
});
real.after(async (ctx) => {
  await ctx.services?.close();
  await ctx.db?.close();
});

testIf(real, HAVE_REAL_FIXTURES, NO_FIXTURES)('businesses, scores and sends match the recorded Yelp, PageSpeed, OpenAI and SendGrid answers', async (ctx) => {
  const conn = ctx.db.orm.em.getConnection();
  await conn.execute(
    "insert into targets (location, category, daily_quota, priority, active, created_at, updated_at) values ('San Francisco', 'restaurants', 50, 1, true, now(), now())",
  );
  // Yelp search answers carry no website, so one business with a site is imported by hand; the pipeline
  // assesses every business waiting in assessment_pending.
  await conn.execute(
    "insert into businesses (yelp_id, name, website, categories, status, created_at, updated_at) values ('manual-google', 'Google', 'https://www.google.com/', '[]', 'assessment_pending', now(), now())",
  );
  const summary = await runPipeline(pipelineDeps(ctx.services), { trigger: 'fixtures' });
  assert.is(summary.status, 'succeeded', summary.error);

  const recorded = JSON.parse(readFileSync(SF, 'utf8')) as { businesses: { id: string; name: string }[] };
  const rows = await conn.execute<{ yelp_id: string; name: string; status: string }[]>(
    "select yelp_id, name, status from businesses where yelp_id <> 'manual-google' order by id",
  );
  assert.equal(
    rows.map((r) => [r.yelp_id, r.name]),
    recorded.businesses.map((b) => [b.id, b.name]),
    'the San Francisco response, in order',
  );
  assert.ok(rows.every((r) => r.status === 'skipped'), 'no website in Yelp search: kept, not assessed');

  const psi = JSON.parse(readFileSync(GOOGLE_PSI, 'utf8')) as {
    lighthouseResult: { categories: Record<string, { score: number | null }> };
  };
  const [a] = await conn.execute<{ performance_score: number; seo_score: number; status: string; insight: string | null; assessors: Record<string, string> }[]>(
    "select a.performance_score, a.seo_score, a.status, a.insight, a.assessors from assessment_results a join businesses b on b.id = a.business_id where b.yelp_id = 'manual-google'",
  );
  assert.is(a!.performance_score, Math.round(psi.lighthouseResult.categories.performance!.score! * 100));
  const seo = psi.lighthouseResult.categories.seo?.score;
  assert.is(a!.seo_score, seo === undefined || seo === null ? null : Math.round(seo * 100));
  // The recorded completion is plain text, not the JSON insight asked for: the AI assessor fails validation and the
  // assessment is partial (PageSpeed facts kept, no insight), still scored and emailed.
  assert.is(a!.status, 'partial');
  assert.is(a!.insight, null);
  assert.match(a!.assessors.openai!, 'not JSON');
  const [email] = await conn.execute<{ status: string; to_address: string; provider_message_id: string | null }[]>(
    'select status, to_address, provider_message_id from emails',
  );
  assert.is(email!.to_address, 'info@google.com');
  assert.is(email!.status, 'sent');
});

real.run();
