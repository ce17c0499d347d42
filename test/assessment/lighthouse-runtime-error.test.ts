/**
 * PageSpeed answering 200 with `lighthouseResult.runtimeError` (Lighthouse could not load the page): the sandbox's
 * `runtime_error` fault serves PSI's format; the adapter raises LighthouseRuntimeError with Lighthouse's code; the
 * pipeline fails the assessment with that code and never scores or emails the business; the assessment runbook
 * counts failures by code. Real PostgreSQL (DATABASE_URL) or the embedded database, the real adapters on the sandbox.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { LighthouseRuntimeError, ProviderError } from '../../domain/errors.js';
import { countsAsFailure } from '../../domain/gateway/breaker.js';
import { lighthouseRuntimeError } from '../../domain/providers/pagespeed/http.js';
import { runPipeline } from '../../domain/pipeline/run.js';
import { sandboxAdmin } from '../../domain/sandbox/index.js';
import { withRuntimeError } from '../../domain/sandbox/lighthouse-runtime-error.js';
import { HAVE_REAL_FIXTURES, NO_FIXTURES, REAL_FIXTURES } from '../helpers/fixtures.js';
import { testIf } from '../helpers/preconditions.js';
import { scoreAssessed } from '../../domain/scoring/score.js';
import { personalizeScored } from '../../domain/personalization/draft.js';
import { unmeasuredReason } from '../../domain/assessment/measurement.js';
import type { Services } from '../../domain/services.js';
import { seedDemoTargetsIfEmpty } from '../../domain/targeting/seed.js';
import { runView } from '../../bot/commands/execute.js';
import { findRunbook } from '../../runbooks/index.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { pipelineDeps, testServices } from '../helpers/services.js';
import { runbookContext } from '../helpers/runbooks.js';

type Ctx = { db: Database; services: Services };
const t = suite<Ctx>(`PageSpeed 200 with lighthouseResult.runtimeError (${DB_KIND})`);

t.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.services = await testServices(ctx.db, { YELP_BATCH_SIZE: '5' });
});
t.after(async (ctx) => {
  await ctx.services.close();
  await ctx.db.close();
});
t.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  await sandboxAdmin(ctx.services.sandboxUrl!).clearFaults();
});

const sql = async <T>(ctx: Ctx, q: string, p: unknown[] = []) => ctx.db.orm.em.getConnection().execute<T[]>(q, p);

t('the sandbox fault is a 200 in PSI format: runtimeError {code, message}, null scores, errored audits', async (ctx) => {
  const admin = sandboxAdmin(ctx.services.sandboxUrl!);
  await admin.setFault('pagespeed', { fault: 'runtime_error' });
  const res = await fetch(`${ctx.services.sandboxUrl}/pagespeed/pagespeedonline/v5/runPagespeed?url=https://a.example.com/&category=PERFORMANCE&category=SEO`);
  assert.is(res.status, 200);
  const body = (await res.json()) as { kind: string; lighthouseResult: Record<string, any> };
  assert.is(body.kind, 'pagespeedonline#result');
  assert.is(body.lighthouseResult.runtimeError.code, 'FAILED_DOCUMENT_REQUEST');
  assert.match(body.lighthouseResult.runtimeError.message, /unable to reliably load the page/);
  assert.is(body.lighthouseResult.categories.performance.score, null);
  assert.is(body.lighthouseResult.audits['largest-contentful-paint'].scoreDisplayMode, 'error');
  assert.equal(lighthouseRuntimeError(body), body.lighthouseResult.runtimeError);
  // a fault for another provider, or an unknown code, is refused
  await admin.setFault('yelp', { fault: 'runtime_error' }).then(
    () => assert.unreachable('runtime_error is PageSpeed only'),
    (err: unknown) => assert.match(String(err), /PageSpeed/),
  );
});

testIf(t, HAVE_REAL_FIXTURES, NO_FIXTURES)('the message matches the recorded PSI FAILED_DOCUMENT_REQUEST error (../shared/fixtures/real)', () => {
  const recorded = readFileSync(join(REAL_FIXTURES, 'pagespeed/error.400.lighthouse-failed-document-request.lighthouse-16900.json'), 'utf8');
  const msg = (JSON.parse(recorded) as { error: { message: string } }).error.message;
  const ours = withRuntimeError({ lighthouseResult: { categories: {}, audits: {} } }) as { lighthouseResult: { runtimeError: { message: string } } };
  assert.ok(msg.endsWith(ours.lighthouseResult.runtimeError.message), `${msg} ends with ours`);
  // NO_ERROR (older Lighthouse wrote it on every result) is not an error
  assert.is(lighthouseRuntimeError({ lighthouseResult: { runtimeError: { code: 'NO_ERROR', message: '' } } }), undefined);
});

t('the adapter raises LighthouseRuntimeError with the code; it does not count against the breaker', async (ctx) => {
  await sandboxAdmin(ctx.services.sandboxUrl!).setFault('pagespeed', { fault: 'runtime_error', code: 'NO_FCP' });
  let err: unknown;
  try {
    await ctx.services.rawProviders.pagespeed.run('https://joes.example.com/');
  } catch (e) {
    err = e;
  }
  assert.instance(err, LighthouseRuntimeError);
  const e = err as LighthouseRuntimeError;
  assert.is(e.lighthouseCode, 'NO_FCP');
  assert.is(e.status, 200);
  assert.is(e.retryable, false);
  assert.is(countsAsFailure(e), false);
  assert.is(countsAsFailure(new ProviderError({ provider: 'pagespeed', operation: 'runPagespeed', status: 503, message: 'x', retryable: true })), true);
});

t('pipeline: assessment_failed with the code, never scored, no email drafted or sent; the runbook counts by code', async (ctx) => {
  await seedDemoTargetsIfEmpty(ctx.db.orm.em.fork(), ctx.services.clock.now());
  const admin = sandboxAdmin(ctx.services.sandboxUrl!);
  await admin.setFault('pagespeed', { fault: 'runtime_error' });
  await admin.resetStats();
  const summary = await runPipeline(pipelineDeps(ctx.services), { trigger: 'test' });
  assert.is(summary.status, 'succeeded', summary.error);
  const stats = await admin.stats();
  const [biz] = await sql<{ n: number; failed: number; scored: number }>(
    ctx,
    `select count(*)::int as n, count(*) filter (where status = 'assessment_failed')::int as failed,
            count(*) filter (where score is not null)::int as scored from businesses`,
  );
  const results = await sql<{ status: string; error_code: string | null; error_message: string | null; performance_score: number | null }>(
    ctx,
    'select status, error_code, error_message, performance_score from assessment_results',
  );
  const [emails] = await sql<{ n: number }>(ctx, 'select count(*)::int as n from emails');
  console.log(
    `  figures: ${biz!.n} businesses sourced, ${stats.faulted.pagespeed} PageSpeed 200s with runtimeError, ` +
      `${biz!.failed} assessment_failed, ${results.filter((r) => r.error_code === 'FAILED_DOCUMENT_REQUEST').length} results with FAILED_DOCUMENT_REQUEST, ` +
      `${biz!.scored} scored, ${emails!.n} emails, ${stats.requests.sendgrid} SendGrid requests`,
  );
  assert.ok(biz!.n > 0, 'businesses were sourced');
  assert.ok(results.length > 0, 'assessments ran');
  assert.is(biz!.failed, results.length, 'every assessed business is assessment_failed (the others had no website)');
  const [later] = await sql<{ n: number }>(ctx, "select count(*)::int as n from businesses where status in ('assessed', 'scored', 'email_pending', 'emailed')");
  assert.is(later!.n, 0, 'no business went past assessment');
  assert.is(biz!.scored, 0, 'none scored');
  assert.is(emails!.n, 0, 'no email drafted');
  assert.is(stats.requests.sendgrid, 0, 'nothing sent to SendGrid');
  for (const r of results) {
    assert.is(r.status, 'failed');
    assert.is(r.error_code, 'FAILED_DOCUMENT_REQUEST');
    assert.match(r.error_message ?? '', /FAILED_DOCUMENT_REQUEST: Lighthouse was unable to reliably load the page/);
    assert.is(r.performance_score, null);
  }
  const rb = findRunbook('assessment-failures')!;
  const view = await runView(runbookContext(ctx.services), rb, ['failed-results']);
  const f = view.diagnosis.results.find((r) => r.id === 'failed-results')!.finding;
  assert.equal(f.evidence?.lighthouseErrors24h, { FAILED_DOCUMENT_REQUEST: results.length });
  assert.match(f.summary, /FAILED_DOCUMENT_REQUEST ×/);
});

t('guards: a stored result without a measurement is neither scored nor emailed (older rows, other paths)', async (ctx) => {
  const now = new Date();
  const [b] = await sql<{ id: number }>(
    ctx,
    `insert into businesses (yelp_id, name, website, status, created_at, updated_at)
     values ('y-guard', 'Guard Cafe', 'https://guard.example.com/', 'assessed', ?, ?) returning id`,
    [now, now],
  );
  const insertResult = (status: string) =>
    sql(ctx, `insert into assessment_results (business_id, status, url, metrics, opportunities, recommendations, assessors, created_at)
              values (?, ?, 'https://guard.example.com/', '{}', '[]', '[]', '{}', ?)`, [b!.id, status, now]);
  await insertResult('completed'); // "completed" with every score null: what the old code stored for a runtimeError
  const deps = pipelineDeps(ctx.services);
  assert.is(await scoreAssessed(deps), 0, 'scoring refuses it');
  let [row] = await sql<{ status: string; score: number | null }>(ctx, 'select status, score from businesses where id = ?', [b!.id]);
  assert.is(row!.status, 'assessment_failed');
  assert.is(row!.score, null);
  // the email step guards on its own: a business that reached `scored` anyway gets no email
  await sql(ctx, "update businesses set status = 'scored', score = 55 where id = ?", [b!.id]);
  const drafted = await personalizeScored(pipelineDeps(ctx.services));
  assert.equal(drafted, { personalized: 0, held: 0 });
  [row] = await sql<{ status: string; score: number | null }>(ctx, 'select status, score from businesses where id = ?', [b!.id]);
  assert.is(row!.status, 'assessment_failed');
  const [emails] = await sql<{ n: number }>(ctx, 'select count(*)::int as n from emails where business_id = ?', [b!.id]);
  assert.is(emails!.n, 0);
  assert.ok(unmeasuredReason({ status: 'partial', errorCode: null, performanceScore: 40, accessibilityScore: null, bestPracticesScore: null, seoScore: null }) === undefined, 'a partial result with scores is usable');
});

t.run();
