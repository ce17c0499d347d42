import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { freePort, runTs, type Child } from '../helpers/process.js';

// The acceptance path of `npm start` with an empty environment: embedded database in a data folder, every
// provider on the sandbox, the status posts on the console.
const main = suite<{ dir: string; port: number; app?: Child }>('npm start (bot/main.ts) with an empty environment');

main.before(async (ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'lf-main-'));
  ctx.port = await freePort();
});
main.after(async (ctx) => {
  if (ctx.app && ctx.app.proc.exitCode === null) {
    ctx.app.proc.kill('SIGKILL');
    await ctx.app.exited;
  }
  rmSync(ctx.dir, { recursive: true, force: true });
});

main('runs a pipeline through every stage, posts status to the console, serves metrics, refuses a second start and stops on SIGINT', async (ctx) => {
  const env = { DATA_DIR: ctx.dir, PORT: String(ctx.port) };
  const app = (ctx.app = runTs('bot/main.ts', [], env));
  const [finished] = await app.waitFor(/\[slack #leadfactory-status\] .*Pipeline run #1 finished[^\n]*/, 60_000);
  for (const stage of ['sourced', 'assessed', 'scored', 'personalized', 'emailed']) {
    const m = finished.match(new RegExp(`${stage} (\\d+)`));
    assert.ok(m && Number(m[1]) > 0, `${stage} > 0 in: ${finished}`);
  }
  assert.match(app.output(), '[slack #leadfactory-status] :large_blue_circle: Pipeline run #1 started (start).');

  const metrics = await (await fetch(`http://127.0.0.1:${ctx.port}/metrics`)).text();
  const sourced = metrics.match(/leadfactory_pipeline_businesses_processed_total\{stage="sourced"\} (\d+)/);
  assert.ok(sourced && Number(sourced[1]) > 0, 'the counter is above 0');
  assert.match(metrics, 'process_cpu_user_seconds_total');
  assert.is((await fetch(`http://127.0.0.1:${ctx.port}/healthz`)).status, 200);
  assert.is((await fetch(`http://127.0.0.1:${ctx.port}/readyz`)).status, 200);

  const second = runTs('bot/main.ts', [], { ...env, PORT: String(await freePort()) });
  const code = await second.exited;
  assert.is(code, 1);
  assert.match(second.output(), join(ctx.dir, 'pglite.lock'));
  assert.match(second.output(), 'in use by process');

  const t0 = Date.now();
  app.proc.kill('SIGINT');
  assert.is(await app.exited, 0);
  assert.ok(Date.now() - t0 < 10_000, `exited in ${Date.now() - t0} ms`);
});

main('a malformed config value is reported by name and nothing starts', async (ctx) => {
  const bad = runTs('bot/main.ts', [], { DATA_DIR: ctx.dir, PORT: 'abc', YELP_BATCH_SIZE: '500' });
  assert.is(await bad.exited, 2);
  assert.match(bad.output(), 'PORT');
  assert.match(bad.output(), 'YELP_BATCH_SIZE');
});

main.run();
