/**
 * Leader election over a PostgreSQL advisory lock: one leader at a time; a standby takes over when the leader
 * stops or its connection is killed (as when its process dies), and a leader that lost its connection steps down.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { createLogger } from '../../domain/logger.js';
import { startLeaderElection, type LeaderElection } from '../../jobs/leader.js';
import { DB_KIND, freshDatabase } from '../helpers/db.js';
import { ON_POSTGRES, testIf } from '../helpers/preconditions.js';

const test = suite<{ db: Database }>(`scheduler leader election (${DB_KIND})`);
test.before(async (ctx) => {
  ctx.db = await freshDatabase();
});
test.after(async (ctx) => {
  await ctx.db.close();
});

const logger = createLogger('silent');
const KEY = 0x7465737431n; // a test key, so a running service's lock is not touched

async function replica(url: string, log: string[], name: string): Promise<LeaderElection> {
  return startLeaderElection({
    url,
    logger,
    key: KEY,
    retryMs: 150,
    onElected: async () => void log.push(`${name}:elected`),
    onDemoted: async () => void log.push(`${name}:demoted`),
  });
}

const until = async (cond: () => boolean, ms = 20_000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
};

// PGlite serves every connection from one backend session, and advisory locks are per session; the embedded
// database is single-process anyway (its folder lock), so the service elects no leader there.
const onServer = testIf(test, ON_POSTGRES, 'needs DATABASE_URL: the embedded database has one backend session, so advisory locks cannot exclude');

onServer('one leader; the standby takes over when the leader stops', async (ctx) => {
  const log: string[] = [];
  const a = await replica(ctx.db.url, log, 'a');
  const b = await replica(ctx.db.url, log, 'b');
  try {
    assert.ok(a.isLeader());
    assert.not.ok(b.isLeader());
    await new Promise((r) => setTimeout(r, 400)); // several retries: still one leader
    assert.equal(log, ['a:elected']);
    await a.stop();
    await until(() => b.isLeader());
    assert.equal(log, ['a:elected', 'a:demoted', 'b:elected']);
  } finally {
    await a.stop();
    await b.stop();
  }
});

onServer('killing the leader connection: a live leader takes its lock back (or steps down); then exactly one leader', async (ctx) => {
  const log: string[] = [];
  const a = await replica(ctx.db.url, log, 'a');
  const b = await replica(ctx.db.url, log, 'b');
  try {
    assert.ok(a.isLeader());
    await ctx.db.orm.em
      .getConnection()
      .execute(`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'leadfactory-ops:leader' and pid in (select pid from pg_locks where locktype = 'advisory' and granted)`);
    // a's process is alive: it reconnects within a second and takes the lock back (its scheduler never stopped),
    // or steps down if b got the lock first; either way exactly one leads
    await new Promise((r) => setTimeout(r, 2500));
    await until(() => a.isLeader() !== b.isLeader());
    assert.ok(log[0] === 'a:elected' && (a.isLeader() ? !log.includes('a:demoted') : log.includes('a:demoted')), log.join(', '));
    for (let i = 0; i < 10; i++) {
      assert.not.ok(a.isLeader() && b.isLeader(), 'never two leaders');
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await a.stop();
    await b.stop();
  }
});

test.run();
