/**
 * Job runs and their watchdog: the scheduler records runs of the jobs it tracks (heartbeat, duration, counts,
 * outcome); the watchdog reports a missed run, a late run and a stuck run from each job's own schedule, each once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMetrics } from '../../alerts/metrics.js';
import type { Database } from '../../db/orm.js';
import { loadConfig } from '../../domain/config.js';
import { createLogger } from '../../domain/logger.js';
import { startScheduler } from '../../jobs/scheduler.js';
import { GRACE_MS, watchJobs } from '../../jobs/watchdog.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { ON_POSTGRES, testIf } from '../helpers/preconditions.js';

const test = suite<{ db: Database }>(`job runs and the watchdog (${DB_KIND})`);
test.before(async (ctx) => {
  ctx.db = await freshDatabase();
});
test.after(async (ctx) => {
  await ctx.db.close();
});
test.before.each(async (ctx) => {
  await truncateAll(ctx.db);
});

const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', PIPELINE_CRON: '0 2 * * *' });
/** The daily pipeline's findings only (the catalog watches other jobs too). */
async function watch(em: EntityManager, at: Date) {
  const f = await watchJobs(em, config, at);
  const mine = <T extends { job: string }>(xs: T[]) => xs.filter((x) => x.job === 'daily-pipeline');
  return { missed: mine(f.missed), late: mine(f.late), stuck: mine(f.stuck) };
}

const events = async (db: Database) =>
  db.orm.em.getConnection().execute<{ type: string; payload: Record<string, unknown> }[]>(`select type, payload from ops_events where type like 'job.%' and payload->>'job' = 'daily-pipeline' order by id`);

test('missed, late and stuck runs are each reported once, from the job’s own schedule', async (ctx) => {
  const em = () => ctx.db.orm.em.fork();
  const at = (iso: string) => new Date(iso);
  // first pass: the watchdog starts watching; nothing is owed yet
  assert.equal(await watch(em(), at('2026-11-29T01:00:00Z')), { missed: [], late: [], stuck: [] });
  // 02:00 fired, no run by 02:11 → missed, once
  const before = await watch(em(), at('2026-11-29T02:05:00Z'));
  assert.equal(before.missed, [], `not before the grace of ${GRACE_MS / 60000} min`);
  const missed = await watch(em(), at('2026-11-29T02:11:00Z'));
  assert.equal(missed.missed, [{ job: 'daily-pipeline', dueAt: '2026-11-29T02:00:00.000Z' }]);
  assert.equal((await watch(em(), at('2026-11-29T02:12:00Z'))).missed, [], 'reported once');
  // next day: a run starting at 02:20 is late; it stops beating → stuck
  await ctx.db.orm.em
    .getConnection()
    .execute(`insert into job_runs (job, status, trigger, started_at, heartbeat_at, counts) values ('daily-pipeline', 'running', 'schedule', ?, ?, '{}')`, [
      at('2026-11-30T02:20:00Z'),
      at('2026-11-30T02:21:00Z'),
    ]);
  const late = await watch(em(), at('2026-11-30T02:30:00Z'));
  assert.equal(late.late, [{ job: 'daily-pipeline', dueAt: '2026-11-30T02:00:00.000Z', startedAt: '2026-11-30T02:20:00.000Z' }]);
  assert.equal(late.stuck, []);
  const stuck = await watch(em(), at('2026-11-30T02:40:00Z'));
  assert.is(stuck.stuck.length, 1);
  assert.equal((await watch(em(), at('2026-11-30T02:45:00Z'))).stuck, [], 'reported once');
  assert.equal((await events(ctx.db)).map((e) => e.type), ['job.missed', 'job.late', 'job.stuck']);
});

test('a paused job is not reported missed', async (ctx) => {
  const em = () => ctx.db.orm.em.fork();
  await watch(em(), new Date('2026-11-29T01:00:00Z'));
  await ctx.db.orm.em.getConnection().execute(`insert into settings (key, value, updated_at, updated_by) values ('jobs.paused.daily-pipeline', 'true', now(), 'test')`);
  assert.equal((await watch(em(), new Date('2026-11-29T03:00:00Z'))).missed, []);
});

testIf(test, ON_POSTGRES, 'needs DATABASE_URL: the tracked job here is the pg_dump backup, which needs a server pg_dump can read')('the scheduler records runs of the jobs it tracks: outcome, duration, counts', async (ctx) => {
  const dir = mkdtempSync(join(tmpdir(), 'lf-backup-'));
  try {
    const cfg = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: ctx.db.url, BACKUP_DIR: dir, JOBS_IN_PROCESS: 'true' });
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const s = await startScheduler({
      config: cfg,
      logger: createLogger('silent'),
      metrics: createMetrics(),
      orm: ctx.db.orm,
      clock: { now: () => new Date() },
      jobEnv: { DATABASE_URL: ctx.db.url, BACKUP_DIR: dir, LOG_LEVEL: 'silent' },
      onJobDone: (name) => name === 'backup' && done(),
    });
    try {
      assert.ok(await s.runNow('backup', 'manual:test'));
      await finished;
      await new Promise((r) => setTimeout(r, 200)); // the close is written right after the result
    } finally {
      await s.stop(2000);
    }
    const [run] = await ctx.db.orm.em
      .getConnection()
      .execute<{ status: string; trigger: string; finished_at: Date | null; counts: Record<string, number> }[]>(`select status, trigger, finished_at, counts from job_runs where job = 'backup'`);
    assert.is(run?.status, 'succeeded');
    assert.is(run?.trigger, 'manual:test');
    assert.ok(run?.finished_at, 'duration recorded');
    assert.ok((run?.counts.bytes ?? 0) > 0, `counts recorded: ${JSON.stringify(run?.counts)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
