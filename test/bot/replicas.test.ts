/**
 * Two `npm start` replicas on one PostgreSQL (issue #7): both serve HTTP, exactly one runs the scheduler; when the
 * leader is killed (SIGKILL: no clean shutdown, its session simply ends), the standby takes over within the retry
 * period plus connection detection, and no job run is doubled meanwhile (one running run per job, at most).
 */
import { execSync } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { DB_KIND, freshDatabase } from '../helpers/db.js';
import { ON_POSTGRES, testIf } from '../helpers/preconditions.js';
import { freePort, runTs, type Child } from '../helpers/process.js';

const test = suite<{ db: Database; children: Child[] }>(`two replicas, one scheduler (${DB_KIND})`);
test.before(async (ctx) => {
  ctx.children = [];
  if (!ON_POSTGRES) return;
  ctx.db = await freshDatabase();
});
test.after(async (ctx) => {
  for (const c of ctx.children) {
    execSync(`pkill -KILL -P ${c.proc.pid} || true`);
    c.proc.kill('SIGKILL');
  }
  await ctx.db?.close();
});

const onServer = testIf(test, ON_POSTGRES, 'needs DATABASE_URL: a second process cannot open the embedded database folder');

onServer('the standby takes over when the leader dies; both serve HTTP; no job runs twice', async (ctx) => {
  const env = { DATABASE_URL: ctx.db.url, LOG_LEVEL: 'info', RUN_ON_START: 'false', NODE_ENV: 'development' };
  const portA = await freePort();
  const a = runTs('bot/main.ts', [], { ...env, PORT: String(portA) });
  ctx.children.push(a);
  await a.waitFor(/scheduler started/, 60_000);
  const portB = await freePort();
  const b = runTs('bot/main.ts', [], { ...env, PORT: String(portB) });
  ctx.children.push(b);
  await b.waitFor(/another replica runs the scheduler/, 60_000);
  for (const port of [portA, portB]) assert.is((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200, `replica on ${port} serves HTTP`);
  assert.not.match(b.output(), /scheduler started/, 'the standby does not schedule');

  const killedAt = Date.now();
  // tsx runs the app in a child node process: kill that one (SIGKILL cannot be forwarded), then the wrapper
  execSync(`pkill -KILL -P ${a.proc.pid} || true`);
  a.proc.kill('SIGKILL');
  await b.waitFor(/elected scheduler leader[\s\S]*scheduler started/, 45_000);
  const tookMs = Date.now() - killedAt;
  assert.ok(tookMs <= 30_000, `took over in ${tookMs} ms (goal: within 30 s)`);
  const [running] = await ctx.db.orm.em
    .getConnection()
    .execute<{ n: number }[]>(`select count(*)::int as n from (select job from job_runs where status = 'running' group by job having count(*) > 1) x`);
  assert.is(running?.n, 0, 'never two running runs of one job');
  b.proc.kill('SIGINT');
  await b.exited;
});

test.run();
