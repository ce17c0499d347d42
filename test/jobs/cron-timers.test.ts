/**
 * The scheduler's parts that need no database: cron timers fire on their schedule and stop; the in-process runner
 * runs one run per job, reports its outcome, and forgets a cancelled run (its late outcome ignored, its signal aborted).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { armCronTimers } from '../../jobs/cron-timers.js';
import { createInProcessRunner } from '../../jobs/in-process-runner.js';
import type { JobContext, JobContextSource, JobMessage } from '../../jobs/job-types.js';

const test = suite('scheduler parts: cron timers and the in-process runner');

test('a cron timer fires at its fire times and not after stop', async () => {
  const fired: string[] = [];
  const timers = armCronTimers([{ name: 'tick', cron: '* * * * * *' }, { name: 'bad', cron: 'not a cron' }], (n) => fired.push(n));
  assert.is(timers.size(), 1, 'an invalid cron arms nothing');
  const until = Date.now() + 2500;
  while (fired.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  assert.ok(fired.length >= 2, 'fired every second');
  timers.stop();
  const n = fired.length;
  await new Promise((r) => setTimeout(r, 1200));
  assert.is(fired.length, n, 'nothing fires after stop');
  assert.is(timers.size(), 0);
});

test('the in-process runner runs one run per job, reports it, and ignores a cancelled run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lf-runner-'));
  const file = join(dir, 'job.mjs');
  writeFileSync(
    file,
    `export default async ({ data, report }, signal) => {
       report({ kind: 'progress', stage: 'x', n: 1 });
       await new Promise((r) => setTimeout(r, data.ms));
       return { status: 'succeeded', aborted: signal.aborted };
     };`,
  );
  const seen: [string, JobMessage][] = [];
  // this job reads only its data and reporter: no database, no services in its context
  const contexts: JobContextSource = async (job, data, report) => ({ ctx: { job, data, report } as JobContext, close: async () => undefined });
  const runner = createInProcessRunner((name, m) => seen.push([name, m]), contexts);
  assert.ok(runner.start('a', file, { env: {}, ms: 50 }));
  assert.not.ok(runner.start('a', file, { env: {}, ms: 50 }), 'no second run of a running job');
  assert.ok(runner.has('a'));
  for (let i = 0; i < 200 && runner.has('a'); i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(seen, [
    ['a', { type: 'status', kind: 'progress', stage: 'x', n: 1 }],
    ['a', { type: 'result', result: { status: 'succeeded', aborted: false } }],
  ]);
  seen.length = 0;
  assert.ok(runner.start('b', file, { env: {}, ms: 200 }));
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(runner.cancel('b'));
  assert.not.ok(runner.has('b'), 'a cancelled run is forgotten at once');
  assert.not.ok(runner.cancel('b'));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(seen.map(([, m]) => m.type), ['status'], 'the cancelled run’s result is ignored');
  assert.ok(runner.start('c', file, { env: {}, ms: 300 }, 50));
  await new Promise((r) => setTimeout(r, 100));
  assert.not.ok(runner.has('c'), 'a run past its timeout is cancelled');
  await new Promise((r) => setTimeout(r, 300)); // the job's own timer ends
  assert.equal(seen.map(([, m]) => m.type), ['status', 'status'], 'its late result is ignored too');
});

test.run();
