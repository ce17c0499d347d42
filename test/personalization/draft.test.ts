import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { contactAddress, draftEmail, personalizeScored } from '../../domain/personalization/draft.js';
import { spamCheck } from '../../domain/personalization/spam.js';
import { checkSubject } from '../../domain/personalization/subject.js';
import type { Services } from '../../domain/services.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { pipelineDeps, testServices } from '../helpers/services.js';

const INSIGHT = {
  summary: 'The site is slow on phones, mostly because of large images and blocking scripts.',
  recommendations: [
    { title: 'Compress and resize the hero images', impact: 'high', effort: 'low' },
    { title: 'Defer non-critical JavaScript', impact: 'high', effort: 'medium' },
    { title: 'Write unique meta descriptions for key pages', impact: 'medium', effort: 'low' },
  ],
};

const pure = suite('email drafts (pure)');

pure('contact address: business email, else info@ the website domain, else info@ the website host', () => {
  assert.is(contactAddress({ email: 'owner@joes.com', websiteDomain: 'joes.com', website: 'https://www.joes.com' }), 'owner@joes.com');
  assert.is(contactAddress({ email: null, websiteDomain: 'joes.com', website: 'https://www.joes.com' }), 'info@joes.com');
  assert.is(contactAddress({ email: 'not an address', websiteDomain: null, website: 'https://WWW.Joes-Pizza.com/menu' }), 'info@joes-pizza.com');
  assert.is(contactAddress({ email: null, websiteDomain: null, website: 'http://localhost/' }), null);
  assert.is(contactAddress({ email: null, websiteDomain: null, website: null }), null);
});

pure('the draft is built from the assessment facts and the AI insight, and follows the subject rules', () => {
  const a = {
    url: 'https://www.joes-pizza.com/',
    performanceScore: 34,
    seoScore: 81,
    accessibilityScore: 77,
    bestPracticesScore: 92,
    metrics: { lcpMs: 5230 },
    insight: JSON.stringify(INSIGHT),
    recommendations: INSIGHT.recommendations,
    opportunities: [],
  } as any;
  const d = draftEmail({ name: "Joe's Pizza" }, a, 'info@joes-pizza.com');
  assert.is(d.subject, "Joe's Pizza: your mobile site scores 34/100");
  assert.equal(checkSubject(d.subject), []);
  for (const s of ['Mobile performance: 34/100', '(SEO): 81/100', 'Accessibility: 77/100', 'Largest Contentful Paint: 5.2 s', INSIGHT.summary, '1. Compress and resize the hero images (impact high, effort low)', '3. Write unique meta descriptions'])
    assert.match(d.body, s);
  assert.is(spamCheck(d.subject, d.body).score, 0, spamCheck(d.subject, d.body).reasons.join('; '));
  const long = draftEmail({ name: 'The Extraordinarily Long Named Family Restaurant, Bar and Grill!!!' }, { ...a, performanceScore: 90 }, 'x@y.com');
  assert.equal(checkSubject(long.subject), [], long.subject);
});

pure('without an AI insight the top PageSpeed opportunities stand in for the recommendations', () => {
  const a = { url: 'https://a.example.com/', performanceScore: 60, seoScore: null, accessibilityScore: null, bestPracticesScore: null, metrics: {}, insight: null, recommendations: [], opportunities: [{ id: 'unused-javascript', title: 'Reduce unused JavaScript', savingsMs: 1460 }] } as any;
  const d = draftEmail({ name: 'Cafe A' }, a, 'info@a.example.com');
  assert.match(d.body, '1. Reduce unused JavaScript (about 1.5 s faster)');
  assert.is(d.subject, "A few quick wins for Cafe A's website");
});

pure.run();

type Ctx = { db: Database; services: Services };
const db = suite<Ctx>(`personalizeScored (${DB_KIND})`);
db.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.services = await testServices(ctx.db, { SPAM_THRESHOLD: '30', CAMPAIGN: 'spring-audit' });
});
db.after(async (ctx) => {
  await ctx.services.close();
  await ctx.db.close();
});
db.before.each(async (ctx) => truncateAll(ctx.db));
const sql = <T>(ctx: Ctx, q: string, p: unknown[] = []) => ctx.db.orm.em.getConnection().execute<T[]>(q, p);

async function scored(ctx: Ctx, yelpId: string, name: string, website: string, insight = INSIGHT): Promise<number> {
  const [b] = await sql<{ id: number }>(
    ctx,
    "insert into businesses (yelp_id, name, website, categories, status, score, tier, created_at, updated_at) values (?, ?, ?, '[]', 'scored', 70, 'B', now(), now()) returning id",
    [yelpId, name, website],
  );
  await sql(
    ctx,
    `insert into assessment_results (business_id, status, url, performance_score, seo_score, metrics, insight, recommendations, created_at)
     values (?, 'completed', ?, 45, 70, '{"lcpMs": 4100}', ?, ?, now())`,
    [b!.id, website, JSON.stringify(insight), JSON.stringify(insight.recommendations)],
  );
  return b!.id;
}

db('a clean draft is pending, a spammy one is held with its reasons; one email per business per campaign', async (ctx) => {
  const clean = await scored(ctx, 'c', 'Green Leaf Cafe', 'https://www.greenleaf.com/');
  const spammy = await scored(ctx, 's', 'FREE CASH WINNER', 'https://www.freecash.com/', {
    summary: 'URGENT!!! Act now: guaranteed results, risk-free, limited time. Click here!!!',
    recommendations: INSIGHT.recommendations,
  });
  const noContact = await scored(ctx, 'n', 'Nowhere', 'http://localhost/');
  const progress: Record<string, number> = {};
  const out = await personalizeScored(pipelineDeps(ctx.services), (stage, n) => (progress[stage] = (progress[stage] ?? 0) + n));
  assert.equal(out, { personalized: 1, held: 1 });
  assert.equal(progress, { personalized: 1, held: 1 });

  const emails = await sql<{ business_id: number; campaign: string; to_address: string; status: string; spam_score: number; spam_reasons: string[]; subject: string }>(
    ctx,
    'select business_id, campaign, to_address, status, spam_score, spam_reasons, subject from emails order by business_id',
  );
  assert.is(emails.length, 2);
  const [c, s] = [emails.find((e) => e.business_id === clean)!, emails.find((e) => e.business_id === spammy)!];
  assert.is(c.status, 'pending');
  assert.is(c.campaign, 'spring-audit');
  assert.is(c.to_address, 'info@greenleaf.com');
  assert.ok(c.spam_score <= 30);
  assert.equal(checkSubject(c.subject), []);
  assert.is(s.status, 'held');
  assert.ok(s.spam_score > 30, String(s.spam_score));
  assert.ok(s.spam_reasons.some((r) => r.startsWith('keyword:urgent')), s.spam_reasons.join('\n'));
  assert.ok(s.spam_reasons.some((r) => r.startsWith('keyword:free')));

  const statuses = await sql<{ id: number; status: string; status_changed_at: Date | null }>(ctx, 'select id, status, status_changed_at from businesses order by id');
  assert.equal(
    statuses.map((b) => [b.id, b.status]),
    [
      [clean, 'email_pending'],
      [spammy, 'email_pending'],
      [noContact, 'skipped'],
    ],
  );
  assert.ok(statuses.every((b) => b.status_changed_at));

  // Scored again (e.g. re-assessed): the insert hits the unique (business, campaign) and changes nothing.
  await sql(ctx, "update businesses set status = 'scored' where id = ?", [clean]);
  assert.equal(await personalizeScored(pipelineDeps(ctx.services)), { personalized: 0, held: 0 });
  const [{ n }] = await sql<{ n: string }>(ctx, 'select count(*) as n from emails where business_id = ?', [clean]);
  assert.is(Number(n), 1);
  const [again] = await sql<{ status: string }>(ctx, 'select status from businesses where id = ?', [clean]);
  assert.is(again!.status, 'email_pending');
});

db.run();
