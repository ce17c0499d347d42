/**
 * Acceptance (issue #13): a database outage during the email stage. The service is a child process running the real
 * pipeline (bot/main.ts, RUN_ON_START) against a sandbox owned by this test; its DATABASE_URL goes through a TCP
 * proxy (test/helpers/tcp-proxy.ts) that cuts every connection and resets new ones for `LF_OUTAGE_SECONDS` (60 by
 * default, the acceptance length) once the first email went out. The run must finish when the database is back,
 * every email exactly once, nothing left `sending`, `pending` or `running`; `/lf status` must answer within 3 s
 * during the outage. Prints the figures.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { startSandbox, type Sandbox } from '../../domain/sandbox/index.js';
import { freshDatabase } from '../helpers/db.js';
import { duplicates, pipelineFigures, recordSends, startService, until, type SendLog } from '../helpers/pipeline-child.js';
import { ON_POSTGRES, testIf } from '../helpers/preconditions.js';
import type { Child } from '../helpers/process.js';
import { signSlackRequest, slashCommandBody, startFakeSlackApi, type FakeSlackApi } from '../helpers/slack.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

type Ctx = { db: Database; sandbox: Sandbox; log: SendLog; proxy: TcpProxy; fake: FakeSlackApi; child?: Child };
const t = suite<Ctx>('database outage during the email stage (postgres)');
const it = testIf(t, ON_POSTGRES, 'needs DATABASE_URL: the outage is cut between the service and a real PostgreSQL');

const OUTAGE_SECONDS = Number(process.env.LF_OUTAGE_SECONDS ?? 60);
const SECRET = 'outage-test-signing-secret';

t.before(async (ctx) => {
  if (!ON_POSTGRES) return;
  ctx.db = await freshDatabase();
  ctx.sandbox = await startSandbox({ seed: 17 });
  ctx.log = recordSends(ctx.sandbox, 200);
  ctx.proxy = await startTcpProxy(ctx.db.url);
  ctx.fake = await startFakeSlackApi();
});
t.after(async (ctx) => {
  if (ctx.child && ctx.child.proc.exitCode === null && ctx.child.proc.signalCode === null) ctx.child.proc.kill('SIGKILL');
  await ctx.proxy?.close();
  await ctx.fake?.close();
  await ctx.sandbox?.close();
  await ctx.db?.close();
});

it(`a ${OUTAGE_SECONDS} s outage mid-stage is waited out: the run finishes, every email exactly once; /lf status answers within 3 s`, async (ctx) => {
  const { child, port } = await startService({
    DATABASE_URL: ctx.proxy.url,
    SANDBOX_URL: ctx.sandbox.url,
    RUN_ON_START: 'true',
    EMAIL_BATCH_SIZE: '4',
    EMAIL_CONCURRENCY: '1',
    SLACK_SIGNING_SECRET: SECRET,
    SLACK_BOT_TOKEN: 'xoxb-outage-test',
    SLACK_API_URL: ctx.fake.url,
  });
  ctx.child = child;
  await until(async () => ctx.log.sends.length > 0, 180_000, 'the email stage sends its first email');
  const cutAt = Date.now();
  const sentBefore = ctx.log.sends.length;
  ctx.proxy.cut();
  const outage = new Promise<void>((r) => setTimeout(() => (ctx.proxy.restore(), r()), OUTAGE_SECONDS * 1000));
  await new Promise((r) => setTimeout(r, Math.min(5000, (OUTAGE_SECONDS * 1000) / 2)));
  // /lf status during the outage
  const body = slashCommandBody('status', 'U0VIEWER', ctx.fake.responseUrl('status-1'));
  const t0 = Date.now();
  const ack = await fetch(`http://127.0.0.1:${port}/slack/events`, { method: 'POST', body, headers: signSlackRequest(SECRET, body) });
  const answer = await ctx.fake.waitFor((c) => c.kind === 'response_url' && c.method === 'status-1', 10_000).catch(() => undefined);
  const statusMs = (answer?.at ?? Date.now()) - t0;
  const statusText = answer ? `${String(answer.body.text ?? '')} ${JSON.stringify(answer.body.blocks ?? [])}` : '(no answer)';
  await outage;
  const restoredAt = Date.now();
  await until(async () => /pipeline run finished/.test(child.output()), 300_000, 'the run finishes after the outage');
  const finishedAt = Date.now();
  child.proc.kill('SIGINT');
  await child.exited;
  const f = await pipelineFigures(ctx.db);
  const recipients = new Set(ctx.log.sends.map((s) => s.to));
  const finished = child.output().split('\n').find((l) => l.includes('"msg":"pipeline run finished"')) ?? '';
  console.log(
    `  outage ${OUTAGE_SECONDS} s cut after ${sentBefore} sends; /lf status answered in ${statusMs} ms (ack ${ack.status}): ${statusText.slice(0, 300)}\n` +
      `  run finished ${finishedAt - restoredAt} ms after the database returned (${finishedAt - cutAt} ms after the cut); ` +
      `sends ${ctx.log.sends.length} to ${recipients.size} recipients, duplicates ${duplicates(ctx.log).length}; emails ${JSON.stringify(f.byStatus)}; running runs ${f.running}\n` +
      `  ${finished.slice(0, 400)}`,
  );
  assert.match(finished, /"status":"succeeded"/, 'the run succeeded');
  assert.equal(duplicates(ctx.log), [], 'no recipient got two emails');
  assert.is(f.byStatus.sending ?? 0, 0);
  assert.is(f.byStatus.pending ?? 0, 0);
  assert.is(f.running, 0);
  assert.is(f.byStatus.sent ?? 0, recipients.size, 'every sent email reached the sandbox once');
  assert.ok(answer, '/lf status answered during the outage');
  assert.ok(statusMs <= 3000, `/lf status answered in ${statusMs} ms`);
});

t.run();
