import { suite } from 'uvu';
import { flushLedgers } from '../../domain/gateway/ledger.js';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { ManualClock } from '../../domain/clock.js';
import { AppError } from '../../domain/errors.js';
import type { Services } from '../../domain/services.js';
import { sourceTarget } from '../../domain/sourcing/source.js';
import { normalizePhone, websiteDomain } from '../../domain/sourcing/normalize.js';
import { setYelpBatchSize, yelpBatchSize } from '../../domain/targeting/batch-size.js';
import { quotaSummary, resetQuotas } from '../../domain/targeting/quota.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { pipelineDeps, testServices } from '../helpers/services.js';

type Ctx = { db: Database; s: Services; clock: ManualClock };
const t = suite<Ctx>(`targeting and sourcing (${DB_KIND})`);

t.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.clock = new ManualClock('2026-11-29T15:00:00Z');
  ctx.s = await testServices(ctx.db, { YELP_PER_SECOND: '100000' }, { clock: ctx.clock });
});
t.after(async (ctx) => {
  await ctx.s.close();
  await ctx.db.close();
});
t.before.each(async (ctx) => {
  await truncateAll(ctx.db);
});

const sql = <T>(ctx: Ctx, q: string, p: unknown[] = []) => ctx.db.orm.em.getConnection().execute<T[]>(q, p);
async function target(ctx: Ctx, location: string, category: string, quota: number): Promise<number> {
  const [row] = await sql<{ id: number }>(
    ctx,
    'insert into targets (location, category, daily_quota, priority, active, created_at, updated_at) values (?, ?, ?, 0, true, now(), now()) returning id',
    [location, category, quota],
  );
  return row!.id;
}
const targetEntity = async (ctx: Ctx, id: number) => (await ctx.db.orm.em.fork().findOneOrFail('Target', id)) as never;

t('the quota tracker counts today per target and in total, resets at midnight UTC and on demand (audited)', async (ctx) => {
  const a = await target(ctx, 'Austin, TX', 'plumbing', 12);
  await target(ctx, 'Denver, CO', 'dentists', 8);
  const deps = { ...pipelineDeps(ctx.s), clock: ctx.clock };
  const r = await sourceTarget(deps, await targetEntity(ctx, a), 12);
  assert.is(r.sourced + r.duplicates >= 12 || r.sourced === 12, true);
  let q = await quotaSummary(ctx.db.orm.em.fork(), ctx.clock.now());
  assert.equal(q.targets.map((x) => [x.quota, x.usedToday, x.available]), [[12, 12, 0], [8, 0, 8]]);
  assert.equal([q.totalQuota, q.totalUsed, q.totalAvailable], [20, 12, 8]);
  assert.is(q.resetAt.toISOString(), '2026-11-30T00:00:00.000Z');

  await resetQuotas(ctx.db.orm.em.fork(), ctx.clock.now(), 'cli:test');
  q = await quotaSummary(ctx.db.orm.em.fork(), ctx.clock.now());
  assert.is(q.totalUsed, 0);
  const [audit] = await sql<{ updated_by: string }>(ctx, "select updated_by from settings where key = 'targeting.quota_reset_at'");
  assert.is(audit!.updated_by, 'cli:test');

  ctx.clock.advance(10 * 3600_000); // past midnight UTC: a fresh day
  q = await quotaSummary(ctx.db.orm.em.fork(), ctx.clock.now());
  assert.is(q.since.toISOString(), '2026-11-30T00:00:00.000Z');
});

t('the Yelp batch size can be overridden at run time, validated and audited, and sourcing uses it', async (ctx) => {
  const em = ctx.db.orm.em.fork();
  assert.equal(await yelpBatchSize(em, ctx.s.config), { value: 50, source: 'config' });
  try {
    await setYelpBatchSize(em, 51, 'U123', ctx.clock.now());
    assert.unreachable('51 is over Yelp’s limit');
  } catch (err) {
    assert.instance(err, AppError);
  }
  await setYelpBatchSize(em, 5, 'U123', ctx.clock.now());
  const b = await yelpBatchSize(em, ctx.s.config);
  assert.equal([b.value, b.source, b.updatedBy], [5, 'override', 'U123']);
  const id = await target(ctx, 'Boise, ID', 'bakeries', 12);
  await sourceTarget({ ...pipelineDeps(ctx.s), clock: ctx.clock }, await targetEntity(ctx, id), 12);
  await flushLedgers(); // ledger rows are written behind the call
  const pages = await sql<{ n: string }>(ctx, "select count(*) as n from api_calls where provider = 'yelp' and outcome = 'ok'");
  assert.is(Number(pages[0]!.n), 3, '12 businesses in pages of 5 = 3 requests');
});

t('sourcing dedupes on the Yelp id, the website domain and the phone', async (ctx) => {
  const id = await target(ctx, 'Tulsa, OK', 'florists', 10);
  const page = await ctx.s.rawProviders.yelp.search({ location: 'Tulsa, OK', category: 'florists', limit: 10, offset: 0 });
  const withSite = page.businesses.find((b) => b.website)!;
  const withPhone = page.businesses.find((b) => b.phone && b !== withSite)!;
  // The same businesses already known under other listings:
  await sql(ctx, "insert into businesses (yelp_id, name, website, website_domain, categories, status, created_at, updated_at) values ('other-1', 'Same site', ?, ?, '[]', 'new', now(), now())", [
    withSite.website,
    websiteDomain(withSite.website),
  ]);
  await sql(ctx, "insert into businesses (yelp_id, name, phone, phone_normalized, categories, status, created_at, updated_at) values ('other-2', 'Same phone', ?, ?, '[]', 'new', now(), now())", [
    withPhone.phone,
    normalizePhone(withPhone.phone),
  ]);
  const r = await sourceTarget({ ...pipelineDeps(ctx.s), clock: ctx.clock }, await targetEntity(ctx, id), 10);
  assert.ok(r.duplicates >= 2, `duplicates ${r.duplicates}`);
  const ids = (await sql<{ yelp_id: string }>(ctx, 'select yelp_id from businesses')).map((x) => x.yelp_id);
  assert.not.ok(ids.includes(withSite.id));
  assert.not.ok(ids.includes(withPhone.id));
  const again = await sourceTarget({ ...pipelineDeps(ctx.s), clock: ctx.clock }, await targetEntity(ctx, id), 10);
  const [{ n }] = await sql<{ n: string }>(ctx, 'select count(*) as n, count(distinct yelp_id) as d from businesses');
  assert.ok(again.sourced >= 0);
  const [{ d }] = await sql<{ d: string }>(ctx, 'select count(distinct yelp_id) as d from businesses');
  assert.is(Number(n), Number(d), 'never the same Yelp id twice');
});

t('normalisation: website domains and phones', () => {
  assert.is(websiteDomain('https://WWW.Joes-Pizza.com:8443/menu#x'), 'joes-pizza.com');
  assert.is(websiteDomain('joes-pizza.com'), 'joes-pizza.com');
  assert.is(websiteDomain('https://www.facebook.com/joespizza'), null);
  assert.is(websiteDomain('ftp://joes-pizza.com'), null);
  assert.is(websiteDomain(null), null);
  assert.is(normalizePhone('+1 (415) 345-8100'), '14153458100');
  assert.is(normalizePhone('(415) 345-8100'), '14153458100');
  assert.is(normalizePhone('12'), null);
});

t('sourcing never asks Yelp past its 1,000-result cap', async (ctx) => {
  const id = await target(ctx, 'Reno, NV', 'bakeries', 50);
  await sql(
    ctx,
    "insert into businesses (yelp_id, name, categories, status, target_id, created_at, updated_at) select 'filler-' || g, 'Filler', '[]', 'skipped', ?, now() - interval '2 days', now() from generate_series(1, 998) g",
    [id],
  );
  const r = await sourceTarget({ ...pipelineDeps(ctx.s), clock: ctx.clock }, await targetEntity(ctx, id), 50);
  assert.is(r.sourced, 0);
  await flushLedgers();
  const calls = await sql<{ outcome: string }>(ctx, "select outcome from api_calls where provider = 'yelp'");
  assert.equal(calls.map((c) => c.outcome), ['ok'], 'one request for the last 2 results, accepted by Yelp');
});

t.run();
