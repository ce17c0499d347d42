/**
 * `.env` loading (domain/env-file.ts) and `.env.example` as a working env file: parsed with Node's own parser (the
 * one `process.loadEnvFile` uses), it is a valid configuration as it is, with `#` values (channels, the postal
 * address) whole; a `.env` in the working directory is loaded by the CLI, and the environment wins over it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../../domain/config.js';
import { envFilePath, loadEnvFile } from '../../domain/env-file.js';
import { ON_POSTGRES, testIf } from '../helpers/preconditions.js';
import { ROOT } from '../helpers/process.js';

const TSX = join(ROOT, 'node_modules/.bin/tsx');
const test = suite('.env');

test('.env.example parses and is a valid configuration as it is; # values are whole', () => {
  const env = parseEnv(readFileSync(join(ROOT, '.env.example'), 'utf8'));
  assert.is(env.RUN_ON_START, '', 'listed empty, meaning the default');
  const config = loadConfig(env);
  assert.is(config.slack.statusChannel, '#leadfactory-status');
  assert.is(config.alerting.alertsChannel, '#leadfactory-alerts');
  assert.is(config.alerting.incidentsChannel, '#leadfactory-incidents');
  assert.is(config.delivery.postalAddress, 'LeadFactory, 548 Market St #1000, San Francisco, CA 94104, USA');
  assert.is(config.pipeline.cron, '0 2 * * *');
  assert.is(config.pipeline.runOnStart, true);
  assert.is(config.port, 3000);
});

test('every key of .env.example is one the configuration reads (no stale or misspelt key)', () => {
  const keys = Object.keys(parseEnv(readFileSync(join(ROOT, '.env.example'), 'utf8')));
  const sources = ['domain/config.ts', 'domain/gateway/config.ts', 'domain/delivery/config.ts', 'domain/storefront/config.ts', 'domain/pipeline/config.ts', 'domain/alerting/config.ts', 'domain/recovery/config.ts', 'domain/oncall/config.ts']
    .map((f) => { try { return readFileSync(join(ROOT, f), 'utf8'); } catch { return ''; } })
    .join('\n');
  const unread = keys.filter((k) => !sources.includes(k.replace(/_(DAILY|MONTHLY)_USD$/, '')) && !sources.includes(k));
  assert.equal(unread, []);
});

test('loadEnvFile: loads .env from the directory, keeps variables already set, ENV_FILE names another file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lf-env-'));
  try {
    writeFileSync(join(dir, '.env'), 'LF_ENV_TEST_A=from-file\nLF_ENV_TEST_B="#channel" # comment\n');
    process.env.LF_ENV_TEST_A = 'from-env';
    assert.is(loadEnvFile({}, dir), join(dir, '.env'));
    assert.is(process.env.LF_ENV_TEST_A, 'from-env');
    assert.is(process.env.LF_ENV_TEST_B, '#channel');
    assert.is(envFilePath({ ENV_FILE: 'prod.env' }, dir), join(dir, 'prod.env'));
    assert.throws(() => loadEnvFile({ ENV_FILE: 'missing.env' }, dir), /ENV_FILE: .*missing\.env does not exist/);
    assert.is(loadEnvFile({}, join(dir, 'nowhere')), undefined);
  } finally {
    delete process.env.LF_ENV_TEST_A;
    delete process.env.LF_ENV_TEST_B;
    rmSync(dir, { recursive: true, force: true });
  }
});

function lf(args: string[], cwd: string, env: Record<string, string>): Promise<{ code: number; stderr: string; stdout: string }> {
  return new Promise((done) => {
    const base = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'silent' };
    execFile(TSX, [join(ROOT, 'bot/cli-main.ts'), ...args], { cwd, env: { ...base, ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

testIf(test, ON_POSTGRES, 'needs DATABASE_URL: the CLI child reads that database')('the CLI loads .env from its working directory; the environment wins over it', async () => {
  const url = process.env.DATABASE_URL!;
  const dir = mkdtempSync(join(tmpdir(), 'lf-env-cli-'));
  try {
    writeFileSync(join(dir, '.env'), `DATABASE_URL=${url}\nLF_CLI_ROLE=boss\n`);
    const bad = await lf(['status'], dir, {});
    assert.is(bad.code, 2, 'the .env value was read');
    assert.match(bad.stderr, /LF_CLI_ROLE/);
    const good = await lf(['status', '--json'], dir, { LF_CLI_ROLE: 'viewer' });
    assert.is(good.code, 0, good.stderr);
    assert.ok(JSON.parse(good.stdout).generatedAt, 'status read through the DATABASE_URL from .env');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
