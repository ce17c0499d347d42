import { suite } from 'uvu';
import { flushLedgers } from '../../domain/gateway/ledger.js';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { setOverride } from '../../domain/overrides.js';
import type { Services } from '../../domain/services.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { testServices } from '../helpers/services.js';

type Ctx = { db: Database; s: Services };
const ttl = suite<Ctx>(`gateway cache TTL follows its run-time override (${DB_KIND})`);

ttl.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.s = await testServices(ctx.db, { PAGESPEED_CACHE_TTL: '7200' });
});
ttl.after(async (ctx) => {
  await ctx.s.close();
  await ctx.db.close();
});
ttl.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  await ctx.s.gateway.overrides.refresh();
});

/** TTL (s) of the PageSpeed cache entries, by creation order. */
const entryTtls = async (ctx: Ctx) =>
  (
    await ctx.db.orm.em
      .getConnection()
      .execute<{ s: number }[]>("select extract(epoch from expires_at - created_at)::float8 as s from provider_cache where provider = 'pagespeed' order by created_at, key")
  ).map((r) => Math.round(r.s));

ttl('the configured TTL applies until an override is set; the override applies once the cache refreshes', async (ctx) => {
  assert.is(ctx.s.gateway.cacheTtlSeconds('pagespeed'), 7200);
  await ctx.s.providers.pagespeed.run('https://one.example.org/', 'mobile');
  assert.equal(await entryTtls(ctx), [7200]);

  await setOverride(ctx.db.orm.em.fork(), 'gateway.cache_ttl_seconds.pagespeed', 86_400, 'test', new Date());
  await ctx.s.gateway.overrides.refresh();
  assert.is(ctx.s.gateway.cacheTtlSeconds('pagespeed'), 86_400);
  assert.is(ctx.s.gateway.cacheTtlSeconds('yelp'), ctx.s.config.gateway.cacheTtlSeconds.yelp, 'other providers keep theirs');
  await ctx.s.providers.pagespeed.run('https://two.example.org/', 'mobile');
  assert.equal((await entryTtls(ctx)).sort((a, b) => a - b), [7200, 86_400]);
});

ttl('an override of 0 turns caching off: the same request goes to the provider twice', async (ctx) => {
  await setOverride(ctx.db.orm.em.fork(), 'gateway.cache_ttl_seconds.pagespeed', 0, 'test', new Date());
  await ctx.s.gateway.overrides.refresh();
  await ctx.s.providers.pagespeed.run('https://three.example.org/', 'mobile');
  await ctx.s.providers.pagespeed.run('https://three.example.org/', 'mobile');
  assert.equal(await entryTtls(ctx), []);
  await flushLedgers(); // ledger rows are written behind the call
  const [row] = await ctx.db.orm.em
    .getConnection()
    .execute<{ calls: number; hits: number }[]>("select count(*)::int as calls, count(*) filter (where cache_hit)::int as hits from api_calls where provider = 'pagespeed'");
  assert.equal(row, { calls: 2, hits: 0 });
});

ttl.run();
