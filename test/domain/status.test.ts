import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { Business, EMAIL_STATUSES, Email, JobRun, Target } from '../../db/entities/index.js';
import { ManualClock } from '../../domain/clock.js';
import { getPipelineStatus, PIPELINE_JOB } from '../../domain/status.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';

const test = suite<{ db: Database }>(`getPipelineStatus (${DB_KIND})`);

test.before(async (ctx) => {
  ctx.db = await freshDatabase();
});
test.after(async (ctx) => {
  await ctx.db?.close();
});
test.before.each(async (ctx) => {
  await truncateAll(ctx.db);
});

/** Seeds 7 pipeline runs (one per day, the newest still running), one other job's run, businesses, emails, targets. */
async function seed(db: Database): Promise<void> {
  const em = db.orm.em.fork();
  for (let day = 1; day <= 7; day++) {
    const startedAt = new Date(Date.UTC(2026, 0, day, 2, 0, 0));
    const running = day === 7;
    em.create(JobRun, {
      job: PIPELINE_JOB,
      status: running ? 'running' : day === 6 ? 'failed' : 'succeeded',
      trigger: day === 5 ? 'manual' : 'schedule',
      startedAt,
      heartbeatAt: startedAt,
      finishedAt: running ? null : new Date(startedAt.getTime() + 90_000 + day),
      counts: running ? {} : { sourced: 20, assessed: 18 - day, emailed: 3 },
      error: day === 6 ? 'yelp search: 429 TOO_MANY_REQUESTS_PER_SECOND' : null,
    });
  }
  em.create(JobRun, { job: 'retention', status: 'succeeded', startedAt: new Date(Date.UTC(2026, 0, 8)), heartbeatAt: new Date() });
  const target = em.create(Target, { location: 'Austin, TX', category: 'plumbing' });
  em.create(Target, { location: 'Austin, TX', category: 'hvac', active: false });
  em.create(Target, { location: 'Boston, MA', category: 'plumbing' });
  const statuses = ['new', 'new', 'new', 'assessed', 'emailed', 'emailed'] as const;
  const businesses = statuses.map((status, i) => em.create(Business, { yelpId: `yelp-${i}`, name: `Biz ${i}`, status, target }));
  for (const [i, business] of businesses.slice(4).entries()) {
    em.create(Email, {
      business,
      campaign: 'c1',
      toAddress: `owner${i}@example.com`,
      subject: 'Your site',
      body: 'Hello',
      spamScore: 10,
      status: i === 0 ? 'delivered' : 'bounced',
    });
  }
  await em.flush();
}

test('returns the last 5 daily-pipeline runs, newest first, with durations, counts and errors', async ({ db }) => {
  await seed(db);
  const status = await getPipelineStatus(db.orm.em.fork(), { clock: new ManualClock('2026-01-07T03:00:00Z') });
  assert.equal(status.generatedAt, '2026-01-07T03:00:00.000Z');
  assert.equal(status.runs.length, 5);
  assert.equal(status.runs.map((r) => r.startedAt.slice(0, 10)), ['2026-01-07', '2026-01-06', '2026-01-05', '2026-01-04', '2026-01-03']);
  const [running, failed, manual] = status.runs;
  assert.equal(running!.status, 'running');
  assert.equal(running!.finishedAt, null);
  assert.equal(running!.durationMs, null);
  assert.equal(running!.counts, {});
  assert.equal(failed!.status, 'failed');
  assert.equal(failed!.error, 'yelp search: 429 TOO_MANY_REQUESTS_PER_SECOND');
  assert.equal(failed!.durationMs, 90_006);
  assert.equal(failed!.counts, { sourced: 20, assessed: 12, emailed: 3 });
  assert.equal(manual!.trigger, 'manual');
  assert.type(manual!.id, 'number');
});

test('counts businesses and emails by every known status, zeros included, and active targets', async ({ db }) => {
  await seed(db);
  const status = await getPipelineStatus(db.orm.em.fork());
  assert.equal(status.businessesByStatus, {
    new: 3,
    assessment_pending: 0,
    assessed: 1,
    assessment_failed: 0,
    scored: 0,
    email_pending: 0,
    emailed: 2,
    suppressed: 0,
    skipped: 0,
  });
  assert.equal(status.businessesTotal, 6);
  assert.equal(status.emailsByStatus.delivered, 1);
  assert.equal(status.emailsByStatus.bounced, 1);
  assert.equal(status.emailsByStatus.pending, 0);
  assert.equal(Object.keys(status.emailsByStatus).length, EMAIL_STATUSES.length);
  assert.equal(status.emailsTotal, 2);
  assert.equal(status.activeTargets, 2);
});

test('an empty database gives no runs and all-zero counts', async ({ db }) => {
  const status = await getPipelineStatus(db.orm.em.fork());
  assert.equal(status.runs, []);
  assert.equal(status.businessesTotal, 0);
  assert.ok(Object.values(status.businessesByStatus).every((n) => n === 0));
  assert.equal(status.activeTargets, 0);
  assert.ok(!Number.isNaN(Date.parse(status.generatedAt)));
});


test.run();
