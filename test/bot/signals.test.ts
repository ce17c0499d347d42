/**
 * Clean stops however the service was started: SIGTERM (what a container runtime or systemd sends) and SIGINT to
 * `npm start`'s own process reach the service (the start script `exec`s node, so no shell sits between them), the
 * service shuts down ("stopped"), and no process is left running, orphaned. `npm run start:prod` (the compiled
 * `node dist/bot/main.js`) is checked the same way when `npm run build` has been run.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { freshDatabase } from '../helpers/db.js';
import { freePort, ROOT } from '../helpers/process.js';
import { testIf } from '../helpers/preconditions.js';

const test = suite<{ db: Database }>('stopping npm start');

test.before(async (ctx) => {
  ctx.db = await freshDatabase();
});
test.after(async (ctx) => {
  await ctx.db.close();
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every descendant pid of `pid` (ps, as the test has no other view of the process tree). */
function descendants(pid: number): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' });
  const pairs = out.trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  const walk = (p: number) => {
    for (const [child, parent] of pairs) if (parent === p) {
      found.push(child);
      walk(child);
    }
  };
  walk(pid);
  return found;
}

async function waitGone(pids: number[], ms: number): Promise<number[]> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (pids.every((p) => !alive(p))) return [];
    await new Promise((r) => setTimeout(r, 100));
  }
  return pids.filter(alive);
}

async function startAndSignal(script: string, signal: NodeJS.Signals, url: string, when: RegExp = /http listening/): Promise<void> {
  const port = await freePort();
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DATABASE_URL: url, PORT: String(port), HOST: '127.0.0.1', RUN_ON_START: 'false', LOG_LEVEL: 'info', NODE_ENV: 'development' };
  const npm = spawn('npm', ['run', script], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  npm.stdout.on('data', (d: Buffer) => (out += d.toString()));
  npm.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((res) => npm.on('exit', (code, sig) => res(code ?? sig ?? -1)));
  try {
    const until = Date.now() + 90_000;
    while (!when.test(out)) {
      if (Date.now() > until || npm.exitCode !== null) throw new Error(`${script} did not start:\n${out.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const tree = descendants(npm.pid!);
    assert.ok(tree.length > 0, 'npm runs the service as its child');
    npm.kill(signal); // the signal goes to npm's own process, as a container runtime sends it
    const code = await exited;
    const left = await waitGone(tree, 15_000);
    assert.equal(left, [], `processes left running after ${signal} to npm: ${left.join(', ')}\n${out.slice(-2000)}`);
    assert.match(out, new RegExp(`"signal":"${signal}"`), `the service itself received the signal:\n${out.slice(-2000)}`);
    assert.match(out, /"msg":"stopped"/, `and shut down cleanly:\n${out.slice(-2000)}`);
    assert.ok(code === 0 || code === signal || code === 128 + (signal === 'SIGTERM' ? 15 : 2), `npm exit: ${code}`);
  } finally {
    for (const p of descendants(npm.pid!)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    if (npm.exitCode === null) npm.kill('SIGKILL');
  }
}

test('SIGTERM to npm start stops the service; nothing is orphaned', async (ctx) => {
  await startAndSignal('start', 'SIGTERM', ctx.db.url);
});

test('SIGTERM during start-up (database ready, HTTP not yet listening) stops what has started, cleanly', async (ctx) => {
  await startAndSignal('start', 'SIGTERM', ctx.db.url, /"msg":"database ready"/);
});

test('SIGINT to npm start stops the service; nothing is orphaned', async (ctx) => {
  await startAndSignal('start', 'SIGINT', ctx.db.url);
});

// .ci/run builds dist/ before the tests, so under CI this always runs
testIf(test, existsSync(join(ROOT, 'dist/bot/main.js')), 'dist/ is absent; `npm run build` first')('SIGTERM to npm run start:prod (compiled, node dist/bot/main.js)', async (ctx) => {
  await startAndSignal('start:prod', 'SIGTERM', ctx.db.url);
});

test.run();
