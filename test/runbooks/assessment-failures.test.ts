import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { repairWebsiteUrl } from '../../domain/assessment/url.js';
import { sandboxAdmin } from '../../domain/sandbox/index.js';
import type { Services } from '../../domain/services.js';
import { getSettingEntry } from '../../domain/settings.js';
import { runbook } from '../../runbooks/assessment-failures.js';
import type { RunbookContext } from '../../runbooks/context.js';
import { diagnose, runDiagnostic, type Diagnosis } from '../../runbooks/define.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';

type Ctx = { db: Database; s: Services; rb: RunbookContext };
const af = suite<Ctx>(`runbook assessment-failures (${DB_KIND})`);

af.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.s = await testServices(ctx.db, { GATEWAY_RETRY_ATTEMPTS: '1', PROVIDER_TIMEOUT_MS: '3000', PAGESPEED_CACHE_TTL: '3600' });
  ctx.rb = runbookContext(ctx.s);
});
af.after(async (ctx) => {
  await ctx.s.close();
  await ctx.db.close();
});
af.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  await sandboxAdmin(ctx.s.sandboxUrl!).clearFaults();
  await ctx.s.gateway.overrides.refresh();
});

const sql = <T>(ctx: Ctx, q: string, p: unknown[] = []) => ctx.db.orm.em.getConnection().execute<T[]>(q, p);
const ago = (ms: number) => new Date(Date.now() - ms);
const MIN = 60_000;
let seq = 0;

/** Inserts a business; returns its id. */
async function business(
  ctx: Ctx,
  b: { website?: string | null; status?: string; attempts?: number; changedAgoMs?: number; claimedUntil?: Date | null },
): Promise<number> {
  const at = ago(b.changedAgoMs ?? MIN);
  const n = ++seq;
  const [row] = await sql<{ id: number }>(
    ctx,
    `insert into businesses (yelp_id, name, website, status, assessment_attempts, status_changed_at, claimed_until, created_at, updated_at)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?) returning id`,
    [`yelp-${n}`, `Business ${n}`, b.website === undefined ? `https://site${n}.com/` : b.website, b.status ?? 'assessment_pending', b.attempts ?? 0, at, b.claimedUntil ?? null, at, at],
  );
  return row!.id;
}

/** Inserts an assessment result for `businessId`. */
async function result(ctx: Ctx, businessId: number, status: 'completed' | 'partial' | 'failed', error: string | null = null) {
  await sql(
    ctx,
    `insert into assessment_results (business_id, status, url, error_message, created_at) values (?, ?, 'https://x.com/', ?, ?)`,
    [businessId, status, error, ago(10 * MIN)],
  );
}

/** A healthy shop: assessed businesses with completed results and two fresh pending ones. */
async function seedHealthy(ctx: Ctx) {
  for (let i = 0; i < 3; i++) await result(ctx, await business(ctx, { status: 'assessed' }), 'completed');
  await business(ctx, {});
  await business(ctx, {});
}

const causes = (d: Diagnosis) => d.rootCauses.map((c) => c.id).sort();
const finding = (d: Diagnosis, id: string) => d.results.find((r) => r.id === id)!.finding;
const findings = (d: Diagnosis) => Object.fromEntries(d.results.map((r) => [r.id, r.finding]));
const remediation = (id: string) => runbook.remediations.find((r) => r.id === id)!;
const recheck = (ctx: Ctx, id: string) => runDiagnostic(runbook.diagnostics.find((x) => x.id === remediation(id).recheck)!, ctx.rb);

af('the runbook declares the agreed ids', () => {
  assert.is(runbook.id, 'assessment-failures');
  assert.is(runbook.title, 'Assessment failures');
  const rc = runbook.rootCauses.map((c) => c.id);
  for (const id of ['pagespeed-unavailable', 'pagespeed-quota-exhausted', 'openai-unavailable', 'invalid-websites', 'assessment-backlog'])
    assert.ok(rc.includes(id), id);
  const rem = runbook.remediations.map((r) => r.id);
  for (const id of ['set-pagespeed-cache-ttl', 'validate-websites', 'retry-failed', 'lower-assessment-batch']) assert.ok(rem.includes(id), id);
  for (const r of runbook.remediations) assert.is(r.requiredRole, 'operator', r.id);
});

af('healthy: providers answer, nothing stuck or failed, valid websites: no root cause', async (ctx) => {
  await seedHealthy(ctx);
  const d = await diagnose(runbook, ctx.rb);
  assert.equal(causes(d), [], JSON.stringify(d.results.map((r) => [r.id, r.finding.summary])));
  for (const r of d.results) assert.is(r.finding.status, 'ok', `${r.id}: ${r.finding.summary}`);
  const c = finding(d, 'coordinator').evidence!;
  assert.is(c.pending, 2);
  assert.is(c.batchSize, 20);
  assert.is(c.capacityPerRun, 200);
  assert.equal(c.businessesByStatus, { assessed: 3, assessment_pending: 2 });
  assert.is(finding(d, 'pagespeed').evidence!.cacheTtlSeconds, 3600);
  assert.is(finding(d, 'pagespeed').evidence!.reachable, true);
  assert.is(finding(d, 'invalid-websites').evidence!.checked, 2);
  assert.equal(finding(d, 'failed-results').evidence!.results24h, { completed: 3, partial: 0, failed: 0 });
});

af('PageSpeed answering 503: root cause pagespeed-unavailable', async (ctx) => {
  await seedHealthy(ctx);
  await sandboxAdmin(ctx.s.sandboxUrl!).setFault('pagespeed', { fault: 'server_error', status: 503 });
  const d = await diagnose(runbook, ctx.rb);
  assert.equal(causes(d), ['pagespeed-unavailable']);
  const f = finding(d, 'pagespeed');
  assert.is(f.status, 'problem');
  assert.is(f.evidence!.httpStatus, 503);
  assert.is(f.evidence!.quotaExhausted, false);
  assert.match(f.summary, 'unavailable');
});

af('PageSpeed quota exhausted: root cause pagespeed-quota-exhausted; the TTL override raises the cache TTL the gateway uses', async (ctx) => {
  await seedHealthy(ctx);
  await sandboxAdmin(ctx.s.sandboxUrl!).setFault('pagespeed', { fault: 'quota_exhausted' });
  const d = await diagnose(runbook, ctx.rb);
  assert.equal(causes(d), ['pagespeed-quota-exhausted']);
  const f = finding(d, 'pagespeed');
  assert.is(f.evidence!.httpStatus, 429);
  assert.is(f.evidence!.quotaExhausted, true);
  assert.is(f.evidence!.unavailable, false);

  const rem = remediation('set-pagespeed-cache-ttl');
  const input = rem.defaultInput!(findings(d));
  assert.equal(input, { seconds: 86_400 });
  assert.is(rem.idempotencyKey(input), 'pagespeed-ttl:86400');
  assert.throws(() => rem.inputSchema!.parse({ seconds: -1 }));
  const out = await rem.run(ctx.rb, input, 'test:U1');
  assert.match(out.summary, 'set to 86400 s (was 3600 s)');
  const entry = await getSettingEntry<number>(ctx.db.orm.em.fork(), 'gateway.cache_ttl_seconds.pagespeed');
  assert.is(entry?.value, 86_400);
  assert.is(entry?.updatedBy, 'test:U1');
  assert.is(ctx.s.gateway.cacheTtlSeconds('pagespeed'), 86_400, 'the gateway reads the override');
  // the gateway caches a new PageSpeed result for 24 h
  await sandboxAdmin(ctx.s.sandboxUrl!).clearFaults();
  await ctx.s.providers.pagespeed.run('https://cached.example.org/', 'mobile');
  const [row] = await sql<{ s: number }>(ctx, "select extract(epoch from expires_at - created_at)::float8 as s from provider_cache where provider = 'pagespeed'");
  assert.is(Math.round(row!.s), 86_400);
  const re = await recheck(ctx, 'set-pagespeed-cache-ttl');
  assert.is(re.finding.status, 'ok', re.finding.summary);
  assert.is(re.finding.evidence!.cacheTtlSeconds, 86_400);
  assert.is(re.finding.evidence!.cacheTtlSource, 'override');
});

af('OpenAI refusing service: root cause openai-unavailable; token use is reported from the ledger', async (ctx) => {
  await seedHealthy(ctx);
  await ctx.s.providers.openai.chat({ system: 'Reply with OK.', user: 'hello', maxTokens: 20 });
  await sandboxAdmin(ctx.s.sandboxUrl!).setFault('openai', { fault: 'server_error', status: 500 });
  const d = await diagnose(runbook, ctx.rb);
  assert.equal(causes(d), ['openai-unavailable']);
  const f = finding(d, 'openai');
  assert.is(f.status, 'problem');
  assert.is(f.evidence!.httpStatus, 500);
  assert.is(f.evidence!.callsToday, 1);
  assert.ok((f.evidence!.promptTokensToday as number) > 0);
  assert.ok((f.evidence!.completionTokensToday as number) > 0);
  assert.ok((f.evidence!.costUsdToday as number) >= 0);
});

af('invalid websites: root cause invalid-websites; validate-websites repairs what it can and retires the rest', async (ctx) => {
  await seedHealthy(ctx);
  const fixable = await business(ctx, { website: 'http//fix-me.com' });
  const failedFixable = await business(ctx, { website: 'htp://joes-plumbing.com', status: 'assessment_failed', attempts: 3 });
  const local = await business(ctx, { website: 'http://localhost/admin' });
  const ip = await business(ctx, { website: 'http://10.0.0.7/', status: 'assessment_failed', attempts: 3 });
  const cosmetic = await business(ctx, { website: 'WWW.Cosmetic.com/Path' });
  const d = await diagnose(runbook, ctx.rb);
  assert.equal(causes(d), ['failed-assessments', 'invalid-websites']);
  const f = finding(d, 'invalid-websites');
  assert.is(f.status, 'problem');
  assert.is(f.evidence!.checked, 7);
  assert.is(f.evidence!.repairable, 2);
  assert.is(f.evidence!.invalid, 2);
  assert.is(f.evidence!.unnormalised, 1);
  assert.equal(
    (f.evidence!.examples as { id: number }[]).map((e) => e.id),
    [fixable, failedFixable, local, ip],
  );

  const out = await remediation('validate-websites').run(ctx.rb, {}, 'test:U2');
  assert.match(out.summary, '3 repaired (1 re-queued for assessment), 2 cleared and skipped');
  const rows = await sql<{ id: number; website: string | null; status: string; assessment_attempts: number; website_domain: string | null }>(
    ctx,
    'select id, website, status, assessment_attempts, website_domain from businesses where id in (?, ?, ?, ?, ?) order by id',
    [fixable, failedFixable, local, ip, cosmetic],
  );
  const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
  assert.equal(byId[fixable], { id: fixable, website: 'http://fix-me.com/', status: 'assessment_pending', assessment_attempts: 0, website_domain: 'fix-me.com' });
  assert.equal(byId[failedFixable], { id: failedFixable, website: 'http://joes-plumbing.com/', status: 'assessment_pending', assessment_attempts: 0, website_domain: 'joes-plumbing.com' });
  assert.is(byId[local]!.website, null);
  assert.is(byId[local]!.status, 'skipped');
  assert.is(byId[ip]!.website, null);
  assert.is(byId[ip]!.status, 'skipped');
  assert.is(byId[cosmetic]!.website, 'https://www.cosmetic.com/Path');
  assert.is(byId[cosmetic]!.status, 'assessment_pending');
  const re = await recheck(ctx, 'validate-websites');
  assert.is(re.finding.status, 'ok', re.finding.summary);
  assert.is(re.finding.evidence!.unnormalised, 0);
});

af('repairWebsiteUrl fixes the usual slips and refuses private hosts', () => {
  const ok = (raw: string) => {
    const r = repairWebsiteUrl(raw);
    return r.ok ? r.url : undefined;
  };
  assert.is(ok('"<www.a-shop.com>",'), 'https://www.a-shop.com/');
  assert.is(ok('https:/fix.com/x'), 'https://fix.com/x');
  assert.is(ok('hhttps://fix.com'), 'https://fix.com/');
  assert.is(ok('www. spaced .com'), 'https://www.spaced.com/');
  assert.is(ok('a-shop.com, b-shop.com'), 'https://a-shop.com/');
  assert.is(ok('www.comma,com'), 'https://www.comma.com/');
  assert.is(ok('https://www.fine.com/'), 'https://www.fine.com/');
  assert.is(repairWebsiteUrl('https://www.fine.com/').ok && (repairWebsiteUrl('https://www.fine.com/') as { changed: boolean }).changed, false);
  for (const bad of ['http://localhost/x', 'ftp://files.com', 'not a url', 'http://192.168.1.1/', 'shop.internal']) assert.is(ok(bad), undefined, bad);
});

af('failed assessments: evidence lists the errors; retry-failed re-queues them all with attempts reset', async (ctx) => {
  await seedHealthy(ctx);
  const failed: number[] = [];
  for (let i = 0; i < 4; i++) {
    const id = await business(ctx, { status: 'assessment_failed', attempts: i < 2 ? 1 : 3 });
    failed.push(id);
    await result(ctx, id, 'failed', i < 3 ? 'pagespeed: HTTP 500 backendError' : 'deadline exceeded');
  }
  const d = await diagnose(runbook, ctx.rb);
  assert.equal(causes(d), ['failed-assessments']);
  const f = finding(d, 'failed-results');
  assert.is(f.status, 'problem', f.summary); // 4 of 7 results in 24 h failed
  assert.is(f.evidence!.failedBusinesses, 4);
  assert.is(f.evidence!.retryable, 2);
  assert.is(f.evidence!.attemptsExhausted, 2);
  assert.equal(f.evidence!.topErrors, [
    { error: 'pagespeed: HTTP 500 backendError', count: 3 },
    { error: 'deadline exceeded', count: 1 },
  ]);

  const out = await remediation('retry-failed').run(ctx.rb, {}, 'test:U3');
  assert.match(out.summary, '4 failed assessment(s) re-queued');
  const rows = await sql<{ status: string; assessment_attempts: number }>(
    ctx,
    `select status, assessment_attempts from businesses where id in (${failed.join(',')})`,
  );
  assert.ok(rows.every((r) => r.status === 'assessment_pending' && r.assessment_attempts === 0), JSON.stringify(rows));
  const re = await recheck(ctx, 'retry-failed');
  assert.is(re.finding.evidence!.failedBusinesses, 0);
});

af('backlog: root cause assessment-backlog; a smaller batch lowers capacity; a run now assesses what one run can', async (ctx) => {
  // 30 businesses waiting for two hours, one of them under a live claim (a worker has it)
  for (let i = 0; i < 29; i++) await business(ctx, { changedAgoMs: 120 * MIN });
  await business(ctx, { changedAgoMs: 120 * MIN, claimedUntil: new Date(Date.now() + 10 * MIN) });
  let d = await diagnose(runbook, ctx.rb);
  assert.equal(causes(d), ['assessment-backlog']);
  const stuck = finding(d, 'stuck-pending');
  assert.is(stuck.status, 'problem');
  assert.is(stuck.evidence!.stuck, 29, 'the claimed one is not stuck');
  assert.is(stuck.evidence!.oldestMinutes, 120);
  assert.is((stuck.evidence!.sampleIds as number[]).length, 5);
  assert.is(finding(d, 'coordinator').evidence!.claimed, 1);
  assert.is(finding(d, 'coordinator').evidence!.backlog, false, '30 fit in one run of 10 × 20');

  const lower = remediation('lower-assessment-batch');
  assert.equal(lower.defaultInput!(findings(d)), { value: 10 });
  const out = await lower.run(ctx.rb, { value: 2 }, 'test:U4');
  assert.match(out.summary, 'set to 2 (was 20)');
  const entry = await getSettingEntry<number>(ctx.db.orm.em.fork(), 'pipeline.assessment_batch_size');
  assert.equal([entry?.value, entry?.updatedBy], [2, 'test:U4']);
  const c = await recheck(ctx, 'lower-assessment-batch');
  assert.is(c.finding.status, 'problem', 'now 30 waiting exceed 10 batches of 2');
  assert.is(c.finding.evidence!.batchSize, 2);
  assert.is(c.finding.evidence!.capacityPerRun, 20);
  assert.is(c.finding.evidence!.backlog, true);

  // the claim's lease runs out; a run now takes 10 batches of 2
  await sql(ctx, 'update businesses set claimed_until = null');
  const run = await remediation('run-pipeline-now').run(ctx.rb, {}, 'test:U5');
  assert.match(run.summary, 'Pipeline started');
  const [left] = await sql<{ n: number }>(ctx, "select count(*)::int as n from businesses where status = 'assessment_pending'");
  assert.is(left!.n, 10);
  d = await diagnose(runbook, ctx.rb);
  assert.is(finding(d, 'coordinator').evidence!.pending, 10);
  assert.is(finding(d, 'coordinator').evidence!.backlog, false);
});

af.run();
