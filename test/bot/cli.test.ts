import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Business, JobRun, Target } from '../../db/entities/index.js';
import { openDatabase, type Database } from '../../db/orm.js';
import { PIPELINE_JOB, type PipelineStatus } from '../../domain/status.js';
import { freshDatabase } from '../helpers/db.js';
import { ON_POSTGRES, testIf } from '../helpers/preconditions.js';

const ROOT = resolve(import.meta.dirname, '../..');
const TSX = join(ROOT, 'node_modules/.bin/tsx');

/** Environment for the child: no inherited DATABASE_URL / DATA_DIR / PORT unless given. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'test', LOG_LEVEL: 'silent' };
  return { ...env, ...extra };
}

/** Runs `tsx bot/cli.ts <args>` asynchronously (the embedded server may live in this process and must keep serving). */
function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(TSX, ['bot/cli-main.ts', ...args], { cwd: ROOT, env, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

async function seed(db: Database): Promise<void> {
  const em = db.orm.em.fork();
  const startedAt = new Date('2026-03-01T02:00:00Z');
  em.create(JobRun, {
    job: PIPELINE_JOB,
    status: 'succeeded',
    trigger: 'schedule',
    startedAt,
    heartbeatAt: startedAt,
    finishedAt: new Date('2026-03-01T02:04:30Z'),
    counts: { sourced: 12, assessed: 11, emailed: 2 },
  });
  em.create(Target, { location: 'Denver, CO', category: 'roofing' });
  for (let i = 0; i < 3; i++) em.create(Business, { yelpId: `cli-${i}`, name: `Biz ${i}`, status: i === 0 ? 'scored' : 'new' });
  await em.flush();
}

function checkJson(stdout: string): void {
  const status = JSON.parse(stdout) as PipelineStatus;
  assert.is(status.runs.length, 1);
  assert.is(status.runs[0]!.status, 'succeeded');
  assert.is(status.runs[0]!.durationMs, 270_000);
  assert.equal(status.runs[0]!.counts, { sourced: 12, assessed: 11, emailed: 2 });
  assert.is(status.businessesByStatus.new, 2);
  assert.is(status.businessesByStatus.scored, 1);
  assert.is(status.businessesByStatus.suppressed, 0);
  assert.is(status.activeTargets, 1);
}

const test = suite('lf CLI');

test('an invalid config value exits 2 and names the variable', async () => {
  const res = await runCli(['status'], childEnv({ PORT: 'abc', DATABASE_URL: 'postgres://nowhere.invalid/x' }));
  assert.is(res.code, 2);
  assert.match(res.stderr, /PORT/);
  assert.is(res.stdout, '');
});

test('an unknown command prints help and exits 2; help exits 0', async () => {
  const bad = await runCli(['frobnicate'], childEnv({}));
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /unknown command "frobnicate"/);
  assert.match(bad.stderr, /lf help/);
  const help = await runCli(['help'], childEnv({}));
  assert.is(help.code, 0);
  assert.match(help.stdout, /Usage: lf <command> \[arguments\] \[--json\]/);
});

testIf(test, ON_POSTGRES, 'needs DATABASE_URL')('status --json against DATABASE_URL prints the snapshot', async () => {
  const url = process.env.DATABASE_URL!;
  const db = await freshDatabase({ url });
  try {
    await seed(db);
  } finally {
    await db.close();
  }
  const res = await runCli(['status', '--json'], childEnv({ DATABASE_URL: url }));
  assert.is(res.code, 0, res.stderr);
  checkJson(res.stdout);
  const text = await runCli(['status'], childEnv({ DATABASE_URL: url }));
  assert.is(text.code, 0, text.stderr);
  assert.match(text.stdout, /#1 +│ succeeded/);
  assert.match(text.stdout, /4m 30s/);
});

test('status --json on an embedded DATA_DIR: through a running server lock, then opening the folder itself', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'lf-cli-'));
  try {
    // this process plays `npm start`: it holds the folder's lock and serves PGlite on a loopback port
    const live = await openDatabase({ url: undefined, dataDir, poolMax: 2, migrate: true });
    try {
      await seed(live);
      const viaLock = await runCli(['status', '--json'], childEnv({ DATA_DIR: dataDir }));
      assert.is(viaLock.code, 0, viaLock.stderr);
      checkJson(viaLock.stdout);
    } finally {
      await live.close();
    }
    const direct = await runCli(['status', '--json'], childEnv({ DATA_DIR: dataDir }));
    assert.is(direct.code, 0, direct.stderr);
    checkJson(direct.stdout);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test.run();
