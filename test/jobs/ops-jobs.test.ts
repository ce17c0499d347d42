/**
 * The scheduled operations jobs on a real database and sandbox: the health check posts only on change, the quota
 * reset resets, reconciliation replays missed Stripe events and reports silent emails, weekly maintenance
 * vacuums and reports index use, the monthly report computes growth against the stored sizes, and the quarterly
 * review computes MTTA from seeded incidents (also in worker mode: no in-process context, its own pool).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { sandboxAdmin } from '../../domain/sandbox/index.js';
import { getSetting, getSettingEntry, setSetting } from '../../domain/settings.js';
import { quotaSummary } from '../../domain/targeting/quota.js';
import { seedDemoTargetsIfEmpty } from '../../domain/targeting/seed.js';
import healthCheck, { HEALTH_CHECK_JOB, HEALTH_LAST_SETTING, type StoredHealth } from '../../jobs/health-check.js';
import { jobContext, mainJobServices, withOwnJobContext } from '../../jobs/job-context.js';
import maintenanceWeekly, { MAINTENANCE_WEEKLY_JOB } from '../../jobs/maintenance-weekly.js';
import optimizationMonthly, { OPTIMIZATION_MONTHLY_JOB, TABLE_SIZES_SETTING, type StoredTableSizes } from '../../jobs/optimization-monthly.js';
import quotaReset, { QUOTA_RESET_JOB } from '../../jobs/quota-reset.js';
import reconciliation, { RECONCILIATION_JOB } from '../../jobs/reconciliation.js';
import reviewQuarterly, { previousQuarter, REVIEW_QUARTERLY_JOB } from '../../jobs/review-quarterly.js';
import type { JobData, JobServices, JobStatus } from '../../jobs/job-types.js';
import { eventText } from '../../alerts/format.js';
import { DB_KIND } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { business, checkout, opsEvents, purchase, reset, setUp, tearDown, type Ctx } from '../storefront/harness.js';

const t = suite<Ctx>(`ops jobs: health, quota, reconciliation, maintenance, reviews (${DB_KIND})`);
t.before(async (ctx) => {
  await setUp(ctx);
  const s = ctx.services;
  // event-loop lag pinned: the check's verdict must not depend on the CI machine's load
  jobs = mainJobServices({ em: () => s.orm.em.fork(), config: s.config, clock: s.clock, logger: s.logger, runbooks: runbookContext(s, { probes: { eventLoopLagMs: () => 0 } }) });
});
t.after(async (ctx) => {
  await tearDown(ctx);
});
t.before.each((ctx) => reset(ctx));

const statuses: JobStatus[] = [];
const report = (s: JobStatus) => void statuses.push(s);
/** The service's job services (as bot/main.ts builds them), handed to every in-process run below. */
let jobs: JobServices;
/** The context of an in-process run of `job` with `data`. */
const inProcess = (job: string, data: JobData) => jobContext(jobs, job, data, report);
const alertsEventText = (type: string, payload: Record<string, unknown>) => eventText({ type, severity: 'info', payload });
const sql = <T = Record<string, unknown>>(ctx: Ctx, q: string, params: unknown[] = []) => ctx.db.orm.em.getConnection().execute<T[]>(q, params);

t('catalog constants: names match files, crons as specified', () => {
  const jobs = [HEALTH_CHECK_JOB, QUOTA_RESET_JOB, RECONCILIATION_JOB, MAINTENANCE_WEEKLY_JOB, OPTIMIZATION_MONTHLY_JOB, REVIEW_QUARTERLY_JOB];
  assert.equal(
    jobs.map((j) => [j.name, j.cron]),
    [
      ['health-check', '* * * * *'],
      ['quota-reset', '0 0 * * *'],
      ['reconciliation', '15 * * * *'],
      ['maintenance-weekly', '0 3 * * 0'],
      ['optimization-monthly', '0 5 1 * *'],
      ['review-quarterly', '0 9 1 1,4,7,10 *'],
    ],
  );
  for (const j of jobs) assert.is(j.file, j.name);
  assert.is(HEALTH_CHECK_JOB.inProcess, true);
});

t('health check: first run posts, the same status again posts nothing, a Yelp key fault posts "worse"', async (ctx) => {
  const first = await healthCheck(inProcess('health-check', { env: {}, now: '2026-05-01T10:00:00Z' }));
  assert.is(first.status, 'ok', JSON.stringify(first.diagnostics));
  assert.equal(Object.keys(first.diagnostics).sort(), ['database', 'health', 'integrations']);
  assert.is(first.changed, true);
  assert.is(first.direction, 'initial');
  let events = await opsEvents(ctx, 'health.changed');
  assert.is(events.length, 1);
  assert.is(events[0]!.severity, 'info');
  const stored = await getSetting<StoredHealth>(ctx.db.orm.em.fork(), HEALTH_LAST_SETTING);
  assert.equal([stored?.at, stored?.status, stored?.diagnostics.integrations], ['2026-05-01T10:00:00.000Z', 'ok', 'ok']);

  const second = await healthCheck(inProcess('health-check', { env: {}, now: '2026-05-01T10:01:00Z' }));
  assert.equal([second.status, second.changed, second.posted], ['ok', false, false]);
  assert.is((await opsEvents(ctx, 'health.changed')).length, 1, 'no post without a change');
  assert.is((await getSetting<StoredHealth>(ctx.db.orm.em.fork(), HEALTH_LAST_SETTING))?.at, '2026-05-01T10:01:00.000Z');

  await sandboxAdmin(ctx.sandbox.url).setFault('yelp', { fault: 'invalid_key' });
  const third = await healthCheck(inProcess('health-check', { env: {}, now: '2026-05-01T10:02:00Z' }));
  assert.equal([third.status, third.previous, third.direction, third.posted], ['problem', 'ok', 'worse', true]);
  assert.is(third.diagnostics.integrations, 'problem');
  events = await opsEvents(ctx, 'health.changed');
  assert.is(events.length, 2);
  const worse = events.find((e) => e.payload.direction === 'worse')!;
  assert.is(worse.severity, 'warning');
  assert.is(worse.dedup_key, 'health.changed:ok->problem:2026-05-01T10:02');
  assert.match(alertsEventText('health.changed', worse.payload), /Health got worse: ok → problem\. integrations problem: .*Yelp/);

  // the same transition re-run in the same minute (a second replica) records nothing new
  await setSetting(ctx.db.orm.em.fork(), HEALTH_LAST_SETTING, { ...stored, status: 'ok' }, 'test');
  const again = await healthCheck(inProcess('health-check', { env: {}, now: '2026-05-01T10:02:30Z' }));
  assert.equal([again.changed, again.posted], [true, false]);
  assert.is((await opsEvents(ctx, 'health.changed')).length, 2);
});

t('quota reset: used-today back to 0, audited as system:quota-reset, quota.reset recorded once a day', async (ctx) => {
  const em = ctx.db.orm.em.fork();
  await seedDemoTargetsIfEmpty(em, new Date());
  const [target] = await sql<{ id: number }>(ctx, 'select id from targets where active order by priority desc, id limit 1');
  const b = await business(ctx);
  await sql(ctx, 'update businesses set target_id = ?, created_at = now() - interval \'1 minute\' where id = ?', [target!.id, b]);
  assert.is((await quotaSummary(em, new Date())).totalUsed, 1);

  const r = await quotaReset(inProcess('quota-reset', { env: {} }));
  assert.is(r.status, 'reset');
  assert.is(r.usedBefore, 1);
  assert.ok(r.targets > 0);
  const after = await quotaSummary(ctx.db.orm.em.fork(), new Date(Date.now() + 10));
  assert.is(after.totalUsed, 0);
  assert.is(after.totalAvailable, after.totalQuota);
  assert.is((await getSettingEntry(ctx.db.orm.em.fork(), 'targeting.quota_reset_at'))?.updatedBy, 'system:quota-reset');
  await quotaReset(inProcess('quota-reset', { env: {} }));
  const events = await opsEvents(ctx, 'quota.reset');
  assert.is(events.length, 1, 'once per day');
  assert.is(events[0]!.severity, 'info');
});

t('reconciliation: replays Stripe events the webhook missed and reports emails sent > 24 h ago with no event', async (ctx) => {
  // nothing to do: no event
  const clean = await reconciliation(inProcess('reconciliation', { env: {} }));
  assert.is(clean.status, 'clean');
  assert.is((await opsEvents(ctx, 'reconciliation.done')).length, 0);

  // a purchase paid on Stripe whose webhooks never arrived
  const c = await checkout(ctx);
  const res = await fetch(`${ctx.sandbox.url}/sandbox/stripe/checkout`, { method: 'POST', body: JSON.stringify({ session: c.sessionId, outcome: 'paid' }) });
  assert.is(res.status, 200);
  assert.is((await purchase(ctx, c.purchaseId)).status, 'pending');
  // emails: one silent for 25 h, one with a delivered event, one sent only 2 h ago
  const b = await business(ctx);
  const email = async (hoursAgo: number) => {
    const [row] = await sql<{ id: number }>(
      ctx,
      `insert into emails (business_id, campaign, to_address, subject, body, spam_score, status, sent_at, created_at, updated_at)
       values (?, ?, 'x@example.com', 's', 'b', 0, 'sent', now() - make_interval(hours => ?), now(), now()) returning id`,
      [b, `c${hoursAgo}`, hoursAgo],
    );
    return row!.id;
  };
  const silent = await email(25);
  const delivered = await email(30);
  await email(2);
  await sql(ctx, `insert into email_events (dedup_key, email_id, event, occurred_at, received_at, payload) values ('k1', ?, 'delivered', now(), now(), '{}')`, [delivered]);

  const r = await reconciliation(inProcess('reconciliation', { env: {} }));
  assert.is(r.status, 'found');
  assert.ok('missing' in r.stripe && r.stripe.missing >= 2 && r.stripe.failed === 0, JSON.stringify(r.stripe));
  assert.is((await purchase(ctx, c.purchaseId)).status, 'paid', 'missed webhook applied');
  assert.equal([r.sendgrid.silent, r.sendgrid.emailIds], [1, [silent]]);
  const events = await opsEvents(ctx, 'reconciliation.done');
  assert.is(events.length, 1);
  assert.is(events[0]!.severity, 'warning');
  assert.match(alertsEventText('reconciliation.done', events[0]!.payload), /missed webhook events replayed.*1 emails sent over 24 h ago/);
  // read-only for SendGrid: the email is untouched
  const [row] = await sql<{ status: string }>(ctx, 'select status from emails where id = ?', [silent]);
  assert.is(row!.status, 'sent');
  // replayed once: a second pass finds nothing missing
  const second = await reconciliation(inProcess('reconciliation', { env: {}, now: new Date(Date.now() + 3_600_000).toISOString() }));
  assert.ok('missing' in second.stripe && second.stripe.missing === 0);
});

t('weekly maintenance: retention, VACUUM ANALYZE of our tables and an index usage report as maintenance.weekly', async (ctx) => {
  // finished delivery rows past retention go; recent ones and pending work stay
  const old = '2026-03-01T00:00:00Z';
  const recent = '2026-05-01T00:00:00Z';
  await sql(ctx, `insert into webhook_inbox (provider, event_id, type, payload, received_at, processed_at) values
    ('stripe', 'evt_old', 'checkout.session.completed', '{}', ?, ?), ('stripe', 'evt_recent', 'x', '{}', ?, ?), ('stripe', 'evt_pending', 'x', '{}', ?, null)`, [old, old, recent, recent, old]);
  await sql(ctx, `insert into slack_outbox (dedup_key, kind, channel, text, created_at, sent_at) values
    ('old', 'post', 'C1', 'old', ?, ?), ('recent', 'post', 'C1', 'recent', ?, ?), ('unsent', 'post', 'C1', 'unsent', ?, null)`, [old, old, recent, recent, old]);
  await sql(ctx, `insert into ops_events (type, dedup_key, created_at, posted_at) values
    ('x', 'ev-old', '2025-12-01T00:00:00Z', '2025-12-01T00:00:00Z'), ('x', 'ev-recent', ?, ?), ('x', 'ev-unposted', '2025-12-01T00:00:00Z', null)`, [old, old]);
  const r = await maintenanceWeekly(inProcess('maintenance-weekly', { env: {}, now: '2026-05-03T03:00:00Z' }));
  assert.equal(r.pruned, { webhookInbox: 1, slackOutbox: 1, opsEvents: 1 });
  assert.equal((await sql<{ event_id: string }>(ctx, 'select event_id from webhook_inbox order by event_id')).map((x) => x.event_id), ['evt_pending', 'evt_recent']);
  assert.equal((await sql<{ dedup_key: string }>(ctx, 'select dedup_key from slack_outbox order by dedup_key')).map((x) => x.dedup_key), ['recent', 'unsent']);
  assert.equal((await sql<{ dedup_key: string }>(ctx, `select dedup_key from ops_events where type = 'x' order by dedup_key`)).map((x) => x.dedup_key), ['ev-recent', 'ev-unposted']);
  assert.is(r.status, 'done', JSON.stringify(r.failed));
  assert.ok(r.vacuumed.includes('businesses') && r.vacuumed.includes('ops_events'));
  assert.ok(r.unusedIndexes.length > 0, 'a fresh database has unscanned indexes');
  assert.ok(r.unusedIndexes.every((i) => !/_pkey$/.test(i.index)), 'primary keys are not reported');
  let vacuumed = false;
  for (let i = 0; i < 20 && !vacuumed; i++) {
    const [s] = await sql<{ v: Date | null; a: Date | null }>(ctx, `select last_vacuum as v, last_analyze as a from pg_stat_user_tables where relname = 'businesses' and schemaname = current_schema()`);
    vacuumed = Boolean(s?.v && s?.a);
    if (!vacuumed) await new Promise((res) => setTimeout(res, 100));
  }
  assert.ok(vacuumed, 'pg_stat_user_tables shows the manual vacuum and analyze');
  const events = await opsEvents(ctx, 'maintenance.weekly');
  assert.is(events.length, 1);
  assert.is(events[0]!.dedup_key, 'maintenance.weekly:2026-05-03');
  assert.is(events[0]!.payload.vacuumed, r.vacuumed.length);
  assert.equal(events[0]!.payload.pruned, r.pruned);
  assert.match(alertsEventText('maintenance.weekly', events[0]!.payload), /VACUUM ANALYZE of \d+ tables .* Unused indexes: \w/);
});

t('monthly optimisation: growth against the stored sizes, then the new sizes are stored', async (ctx) => {
  const first = await optimizationMonthly(inProcess('optimization-monthly', { env: {}, now: '2026-04-01T05:00:00Z' }));
  assert.is(first.status, 'first');
  assert.is(first.totalBytesDelta, null);
  assert.ok(first.tables.length > 10 && first.tables.every((x) => x.bytesDelta === null));

  // pretend last month businesses was 8 KiB and 0 rows, and emails is unknown
  const stored = (await getSetting<StoredTableSizes>(ctx.db.orm.em.fork(), TABLE_SIZES_SETTING))!;
  assert.is(stored.at, '2026-04-01T05:00:00.000Z');
  const prevBusinesses = { bytes: 8192, rows: 0 };
  delete stored.tables.emails;
  await setSetting(ctx.db.orm.em.fork(), TABLE_SIZES_SETTING, { ...stored, tables: { ...stored.tables, businesses: prevBusinesses } }, 'test');
  for (let i = 0; i < 3; i++) await business(ctx);
  await sql(ctx, 'analyze businesses');

  const r = await optimizationMonthly(inProcess('optimization-monthly', { env: {}, now: '2026-05-01T05:00:00Z' }));
  assert.is(r.status, 'compared');
  assert.is(r.since, '2026-04-01T05:00:00.000Z');
  const b = r.tables.find((x) => x.table === 'businesses')!;
  assert.is(b.bytesDelta, b.bytes - 8192);
  assert.is(b.rowsDelta, 3);
  assert.is(b.bytesPct, Math.round(((b.bytes - 8192) / 8192) * 1000) / 10);
  assert.is(r.tables.find((x) => x.table === 'emails')!.bytesDelta, null);
  const events = await opsEvents(ctx, 'maintenance.monthly');
  assert.is(events.length, 2);
  const now = (await getSetting<StoredTableSizes>(ctx.db.orm.em.fork(), TABLE_SIZES_SETTING))!;
  assert.is(now.at, '2026-05-01T05:00:00.000Z');
  assert.equal(now.tables.businesses, { bytes: b.bytes, rows: b.rows });
  assert.match(alertsEventText('maintenance.monthly', events[1]!.payload), /Monthly table report: .* MB in \d+ tables \(.* since 2026-04-01\)/);
});

t('quarterly review: incidents by severity and MTTA, alerts by name, job runs by status, spend — in worker mode too', async (ctx) => {
  assert.equal(previousQuarter(new Date('2026-01-01T09:00:00Z')).label, '2025-Q4');
  assert.equal(previousQuarter(new Date('2026-08-15T00:00:00Z')).label, '2026-Q2');
  const incident = (sev: string, declared: string, ackMin: number | null) =>
    sql(
      ctx,
      `insert into incidents (title, severity, status, declared_by, declared_at, acknowledged_at, updated_at)
       values ('t', ?, ?, 'test', ?::timestamptz, ?::timestamptz + make_interval(mins => ?), now())`,
      [sev, ackMin === null ? 'open' : 'acknowledged', declared, ackMin === null ? null : declared, ackMin ?? 0],
    );
  await incident('SEV1', '2026-02-01T10:00:00Z', 10);
  await incident('SEV2', '2026-03-01T10:00:00Z', 30);
  await incident('SEV2', '2026-03-02T10:00:00Z', null);
  await incident('SEV1', '2025-12-31T23:00:00Z', 100); // previous quarter: not counted
  for (const [name, at] of [['ProviderDown', '2026-01-05'], ['ProviderDown', '2026-02-05'], ['PipelineStalled', '2026-03-05'], ['PipelineStalled', '2026-04-05']])
    await sql(ctx, `insert into alerts (fingerprint, group_key, source, name, severity, status, starts_at, updated_at) values (?, 'g', 'rules', ?, 'warning', 'resolved', ?, now())`, [`${name}-${at}`, name, at]);
  for (const [status, at] of [['succeeded', '2026-01-02'], ['succeeded', '2026-01-03'], ['failed', '2026-02-02']])
    await sql(ctx, `insert into job_runs (job, status, started_at, heartbeat_at) values ('daily-pipeline', ?, ?, ?)`, [status, at, at]);
  for (const [provider, usd, at] of [['openai', '1.25', '2026-01-10'], ['openai', '0.75', '2026-02-10'], ['yelp', '0.5', '2026-03-10'], ['yelp', '9', '2026-04-02']])
    await sql(ctx, `insert into api_calls (provider, operation, outcome, latency_ms, cost_usd, created_at) values (?, 'op', 'ok', 1, ?, ?)`, [provider, usd, at]);

  // worker mode: no in-process context, a pool of its own from data.env
  const data = { env: { DATABASE_URL: ctx.db.url, LOG_LEVEL: 'silent', NODE_ENV: 'test' }, now: '2026-04-01T09:00:00Z' };
  const r = await withOwnJobContext('review-quarterly', data, report, 'database', reviewQuarterly);
  assert.is(r.quarter, '2026-Q1');
  assert.equal(r.incidents, { total: 3, bySeverity: { SEV1: 1, SEV2: 2 }, acknowledged: 2, mttaMinutes: 20, mttaBySeverity: { SEV1: 10, SEV2: 30 } });
  assert.equal(r.alertsFired, { ProviderDown: 2, PipelineStalled: 1 });
  assert.equal(r.jobRuns, { failed: 1, succeeded: 2 });
  assert.equal(r.spendUsd, { openai: 2, yelp: 0.5 });
  assert.is(r.totalSpendUsd, 2.5);
  const events = await opsEvents(ctx, 'review.quarterly');
  assert.is(events.length, 1);
  assert.is(events[0]!.dedup_key, 'review.quarterly:2026-Q1');
  assert.match(alertsEventText('review.quarterly', events[0]!.payload), /Quarterly review 2026-Q1: 3 incidents \(SEV1 1, SEV2 2\), mean time to acknowledge 20 min\. .*\$2\.50/);
});

t.run();
