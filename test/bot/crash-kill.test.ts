/**
 * Acceptance (issue #13): `kill -9` of the service at ≥ 5 random points of the email stage, then a restart. The
 * service is a child process running the real pipeline (bot/main.ts, RUN_ON_START) against a sandbox owned by this
 * test, on the real PostgreSQL. After the last restart, within one lease time, every drafted email has reached the
 * sandbox exactly once per recipient, no email is left `sending`, no run `running`, and no second restart is needed.
 * Prints the figures (kills, sends per kill, time to finish).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { startSandbox, type Sandbox } from '../../domain/sandbox/index.js';
import { freshDatabase } from '../helpers/db.js';
import { duplicates, pipelineFigures, recordSends, startService, until, type SendLog } from '../helpers/pipeline-child.js';
import { ON_POSTGRES, testIf } from '../helpers/preconditions.js';
import type { Child } from '../helpers/process.js';

type Ctx = { db: Database; sandbox: Sandbox; log: SendLog; children: Child[] };
const t = suite<Ctx>('kill -9 during the email stage, restart (postgres)');
const it = testIf(t, ON_POSTGRES, 'needs DATABASE_URL: a killed process and its restart share one PostgreSQL');

const KILLS = 5;
/** The default lease (LEASE_SECONDS): the restart's whole run — start-up, sourcing, assessment, the sends — fits in it. */
const LEASE_SECONDS = 120;

t.before(async (ctx) => {
  ctx.children = [];
  if (!ON_POSTGRES) return;
  ctx.db = await freshDatabase();
  ctx.sandbox = await startSandbox({ seed: 13 });
  ctx.log = recordSends(ctx.sandbox, 250);
});
t.after(async (ctx) => {
  for (const c of ctx.children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
  await ctx.sandbox?.close();
  await ctx.db?.close();
});

it(`every drafted email reaches SendGrid exactly once after ${KILLS} kills; nothing left sending or running`, async (ctx) => {
  const env = {
    DATABASE_URL: ctx.db.url,
    SANDBOX_URL: ctx.sandbox.url,
    RUN_ON_START: 'true',
    LEASE_SECONDS: String(LEASE_SECONDS),
    SENDGRID_ACTIVITY_SETTLE_SECONDS: '2',
    EMAIL_BATCH_SIZE: '4',
    EMAIL_CONCURRENCY: '1',
  };
  const figures: string[] = [];
  for (let k = 1; k <= KILLS; k++) {
    const before = ctx.log.sends.length;
    const { child } = await startService(env);
    ctx.children.push(child);
    await until(async () => ctx.log.sends.length > before, 120_000, `child ${k} sends its first email`);
    const pause = Math.round(Math.random() * 1500);
    await new Promise((r) => setTimeout(r, pause));
    child.proc.kill('SIGKILL');
    await child.exited;
    const f = await pipelineFigures(ctx.db);
    figures.push(`kill ${k}: ${pause} ms after its first send; sends so far ${ctx.log.sends.length}; emails ${JSON.stringify(f.byStatus)}`);
  }
  const restartedAt = Date.now();
  const { child } = await startService(env);
  ctx.children.push(child);
  let done: Awaited<ReturnType<typeof pipelineFigures>> | undefined;
  await until(
    async () => {
      const f = await pipelineFigures(ctx.db);
      done = f;
      return f.running === 0 && (f.byStatus.sending ?? 0) === 0 && (f.byStatus.pending ?? 0) === 0 && /pipeline run finished/.test(child.output());
    },
    180_000,
    'the restarted service finishes the run',
  );
  const tookMs = Date.now() - restartedAt;
  child.proc.kill('SIGINT');
  await child.exited;
  const f = await pipelineFigures(ctx.db);
  const recipients = new Set(ctx.log.sends.map((s) => s.to));
  for (const line of figures) console.log(`  ${line}`);
  console.log(
    `  after the restart: finished in ${tookMs} ms (lease ${LEASE_SECONDS} s); drafted ${f.drafted}; sent ${f.byStatus.sent ?? 0}; ` +
      `sandbox sends ${ctx.log.sends.length} to ${recipients.size} recipients; duplicates ${duplicates(ctx.log).length}; emails ${JSON.stringify(f.byStatus)}`,
  );
  assert.equal(duplicates(ctx.log), [], 'no recipient got two emails');
  assert.is(f.byStatus.sending ?? 0, 0, 'nothing left sending');
  assert.is(f.byStatus.pending ?? 0, 0, 'nothing left pending');
  assert.is(f.running, 0, 'no run left running');
  assert.is(f.byStatus.sent ?? 0, recipients.size, 'every sent email reached the sandbox, once');
  assert.is(f.drafted, (f.byStatus.sent ?? 0) + (f.byStatus.failed ?? 0) + (f.byStatus.suppressed ?? 0), 'every drafted email settled');
  assert.ok(tookMs <= LEASE_SECONDS * 1000, `finished within one lease after the restart (${tookMs} ms)`);
  assert.ok(done);
});

t.run();
