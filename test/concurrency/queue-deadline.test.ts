import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { assessStreaming } from '../../domain/assessment/stream.js';
import { AdaptiveLimit } from '../../domain/concurrency/adaptive.js';
import { withActiveBudget } from '../../domain/concurrency/budget.js';
import { createGates, Gate } from '../../domain/concurrency/gate.js';
import type { ProviderId } from '../../domain/config.js';
import { adaptiveDeps } from '../../domain/pipeline/overlap.js';
import { sandboxAdmin, startSandbox, type Sandbox } from '../../domain/sandbox/index.js';
import type { Services } from '../../domain/services.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { pipelineDeps, testServices } from '../helpers/services.js';

type Ctx = { db: Database; sandbox: Sandbox; open: Services[] };
const t = suite<Ctx>(`queueing behind our own limits does not consume a call's timeout (${DB_KIND})`);

t.before(async (ctx) => {
  ctx.db = await freshDatabase({ poolMax: 10 });
  ctx.sandbox = await startSandbox({ seed: 11, port: 0 });
  ctx.open = [];
});
t.after(async (ctx) => {
  await ctx.sandbox.close();
  await ctx.db.close();
});
t.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  await sandboxAdmin(ctx.sandbox.url).clearFaults();
  await sandboxAdmin(ctx.sandbox.url).resetStats();
});
t.after.each(async (ctx) => {
  for (const s of ctx.open.splice(0)) await s.close();
});

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

t('a gate queue wait pauses the budget; the call itself still times out', async () => {
  const gate = new Gate('pagespeed', new AdaptiveLimit({ rate: Infinity, burst: 0, maxLimit: 1 }));
  const timeout = () => new Error('timed out');
  const started = performance.now();
  const results = await Promise.allSettled(Array.from({ length: 5 }, () => withActiveBudget(250, () => gate.run(() => sleep(100)), timeout)));
  assert.equal(results.map((r) => r.status), Array(5).fill('fulfilled'), 'the fifth waited ~400 ms in the queue, over its 250 ms budget');
  assert.ok(performance.now() - started >= 450, 'they did run one at a time');
  assert.is(gate.peak, 1);
  const slow = await withActiveBudget(250, () => gate.run(() => sleep(400)), timeout).then(() => 'answered', (e: Error) => e.message);
  assert.is(slow, 'timed out', 'a slow call is still cut off');
});

/** Pending businesses with valid, distinct websites. */
async function businesses(ctx: Ctx, n: number): Promise<void> {
  for (let i = 0; i < n; i++)
    await ctx.db.orm.em.getConnection().execute(
      "insert into businesses (yelp_id, name, website, categories, status, created_at, updated_at) values (?, ?, ?, '[]', 'assessment_pending', now(), now())",
      [`q-${i}`, `Queue Bistro ${i}`, `https://www.queue-bistro-${i}.com/`],
    );
}

/** Streams the pending businesses through the given gates (default: sized from the config) and reports. */
async function assess(ctx: Ctx, env: Record<string, string>, gates?: (s: Services) => Record<ProviderId, Gate>) {
  const s = await testServices(ctx.db, { SANDBOX_URL: ctx.sandbox.url, ...env });
  ctx.open.push(s);
  const g = gates?.(s) ?? createGates(s.config);
  const deps = adaptiveDeps(pipelineDeps(s), false, g);
  const t0 = performance.now();
  const out = await assessStreaming(deps, {
    room: () => g.pagespeed.room,
    changed: (ms) => g.pagespeed.changed(ms),
    upstreamDone: () => true,
    maxInProgress: 100,
  });
  const rows = await ctx.db.orm.em.getConnection().execute<{ status: string; error_message: string | null }[]>(
    'select status, error_message from assessment_results',
  );
  return { out, rows, ms: performance.now() - t0, gate: g.pagespeed };
}

t('tiny concurrency and a slow provider: businesses queued in the gate longer than the assessor timeout all pass', async (ctx) => {
  await businesses(ctx, 8);
  await sandboxAdmin(ctx.sandbox.url).setFault('pagespeed', { fault: 'slow', ms: 300 });
  const tiny = (s: Services) => ({ ...createGates(s.config), pagespeed: new Gate('pagespeed', new AdaptiveLimit({ rate: 4, burst: 400, maxLimit: 1 })) });
  const r = await assess(ctx, { PAGESPEED_ASSESSOR_TIMEOUT_MS: '1500', GATEWAY_DEADLINE_MS: '1500' }, tiny);
  assert.equal(r.out, { assessed: 8, failed: 0 }, JSON.stringify(r.rows.filter((x) => x.status === 'failed')));
  assert.is(r.gate.peak, 1, 'one PageSpeed call at a time');
  assert.ok(r.ms > 2100, `the last business waited ~2.1 s in the queue, beyond the 1.5 s timeout (${r.ms.toFixed(0)} ms)`);
  assert.is(r.rows.length, 8);
});

t('waiting for the shared rate budget counts neither against the assessor timeout nor the gateway deadline', async (ctx) => {
  await businesses(ctx, 6);
  // 1 call/s paced one at a time (GATEWAY_BURST=1): the sixth call waits ~5 s for budget
  const env = { PAGESPEED_PER_100_SECONDS: '100', GATEWAY_BURST: '1', PAGESPEED_ASSESSOR_TIMEOUT_MS: '1500', GATEWAY_DEADLINE_MS: '1500' };
  const r = await assess(ctx, env);
  assert.equal(r.out, { assessed: 6, failed: 0 }, JSON.stringify(r.rows.filter((x) => x.status === 'failed')));
  assert.ok(r.ms > 4500, `the calls were paced by the limiter (${r.ms.toFixed(0)} ms)`);
});

t('a provider slower than the timeout still fails by timeout', async (ctx) => {
  await businesses(ctx, 2);
  await sandboxAdmin(ctx.sandbox.url).setFault('pagespeed', { fault: 'slow', ms: 800 });
  const r = await assess(ctx, { PAGESPEED_ASSESSOR_TIMEOUT_MS: '300', GATEWAY_RETRY_ATTEMPTS: '1' });
  assert.equal(r.out, { assessed: 0, failed: 2 });
  for (const row of r.rows) assert.match(row.error_message ?? '', /assessor timeout/);
});

t.run();
