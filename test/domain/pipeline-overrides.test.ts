import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { MAX_BATCHES_PER_RUN } from '../../domain/assessment/assess.js';
import { setOverride } from '../../domain/overrides.js';
import { runPipeline } from '../../domain/pipeline/run.js';
import type { YelpPort } from '../../domain/providers/yelp/port.js';
import type { Services } from '../../domain/services.js';
import { setSetting } from '../../domain/settings.js';
import { YELP_BATCH_SIZE_SETTING } from '../../domain/targeting/batch-size.js';
import { seedDemoTargetsIfEmpty } from '../../domain/targeting/seed.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { pipelineDeps, testServices } from '../helpers/services.js';

type Ctx = { db: Database; s: Services };
const po = suite<Ctx>(`pipeline run honours run-time overrides (${DB_KIND})`);

po.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.s = await testServices(ctx.db);
});
po.after(async (ctx) => {
  await ctx.s.close();
  await ctx.db.close();
});
po.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  await seedDemoTargetsIfEmpty(ctx.db.orm.em.fork(), new Date());
});

/** Pipeline deps whose Yelp adapter records the `limit` of every search. */
function recordingDeps(ctx: Ctx, limits: number[]) {
  const deps = pipelineDeps(ctx.s);
  const yelp: YelpPort = {
    ...ctx.s.providers.yelp,
    search: (q) => {
      limits.push(q.limit);
      return ctx.s.providers.yelp.search(q);
    },
  };
  return { ...deps, providers: { ...deps.providers, yelp } };
}

po('assessment batch size and Yelp page size overrides apply to the next run', async (ctx) => {
  const em = ctx.db.orm.em.fork();
  await setOverride(em, 'pipeline.assessment_batch_size', 2, 'test', new Date());
  await setOverride(em, YELP_BATCH_SIZE_SETTING, 5, 'test', new Date());
  const limits: number[] = [];
  const summary = await runPipeline(recordingDeps(ctx, limits), { trigger: 'test' });
  assert.is(summary.status, 'succeeded', summary.error);
  assert.ok(limits.length > 0);
  assert.ok(limits.every((l) => l <= 5), `every Yelp page at most 5: ${limits.join(',')}`);
  assert.ok(summary.counts.sourced > 2 * MAX_BATCHES_PER_RUN, 'more waiting than the overridden batches can take');
  // 10 batches of 2 at most: the rest waits for the next run
  assert.is(summary.counts.assessed + summary.counts.assessment_failed, 2 * MAX_BATCHES_PER_RUN);
  const [row] = await em.getConnection().execute<{ n: string }[]>("select count(*) as n from businesses where status = 'assessment_pending'");
  assert.ok(Number(row!.n) > 0);
});

po('without overrides the configured sizes apply; a stored value its schema refuses is ignored', async (ctx) => {
  await setSetting(ctx.db.orm.em.fork(), 'pipeline.assessment_batch_size', 'lots', 'test');
  const limits: number[] = [];
  const summary = await runPipeline(recordingDeps(ctx, limits), { trigger: 'test' });
  assert.is(summary.status, 'succeeded', summary.error);
  assert.ok(limits.some((l) => l > 5), `configured page size (50, capped by the quota): ${limits.join(',')}`);
  // the configured batch of 20 × 10 batches takes every sourced business with a website
  const [row] = await ctx.db.orm.em
    .getConnection()
    .execute<{ n: string }[]>("select count(*) as n from businesses where status = 'assessment_pending'");
  assert.is(Number(row!.n), 0);
});

po.run();
