/**
 * The `/lf` subcommands from a terminal (`tsx bot/cli.ts …` as a child process against the test database):
 * tables and `--json`, a remediation through `fix` with the CLI role, a refusal for a viewer CLI role, job pause,
 * and the audit rows they leave.
 */
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Target } from '../../db/entities/index.js';
import type { Database } from '../../db/orm.js';
import { getSetting } from '../../domain/settings.js';
import { YELP_BATCH_SIZE_SETTING } from '../../domain/targeting/batch-size.js';
import { recentAudit } from '../../runbooks/actions.js';
import { HEALTH_LAST_SETTING } from '../../jobs/health-check.js';
import { freshDatabase, sharedEmbeddedUrl } from '../helpers/db.js';

const ROOT = resolve(import.meta.dirname, '../..');
const TSX = join(ROOT, 'node_modules/.bin/tsx');

function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(TSX, ['bot/cli.ts', ...args], { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'test', ...env }, timeout: 90_000 }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const test = suite<{ db: Database; env: Record<string, string> }>('lf CLI: /lf subcommands in a terminal');

test.before(async (ctx) => {
  ctx.db = await freshDatabase();
  const url = process.env.DATABASE_URL ?? (await sharedEmbeddedUrl());
  ctx.env = { DATABASE_URL: url, SANDBOX_PORT: '0' };
  const em = ctx.db.orm.em.fork();
  em.create(Target, { location: 'Denver, CO', category: 'roofing', dailyQuota: 0 });
  await em.flush();
});

test.after(async (ctx) => {
  await ctx.db?.close();
});

test('diagnose prints a findings table, the root cause and the fix command', async (ctx) => {
  const r = await cli(['diagnose', 'pipeline'], ctx.env);
  assert.is(r.code, 1, `a PROBLEM finding exits 1 (bot/cli-exit.ts)\n${r.stderr}`);
  assert.match(r.stdout, /Pipeline not processing \(pipeline-not-processing\)/);
  assert.match(r.stdout, /│ status/);
  assert.match(r.stdout, /Root cause: .*quota/i);
  assert.match(r.stdout, /npm run lf -- fix pipeline-not-processing reset-quotas/);
});

test('--json gives the diagnosis as data', async (ctx) => {
  const r = await cli(['ratelimits', '--json'], ctx.env);
  assert.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { kind: string; diagnosis: { results: { id: string; finding: { status: string } }[] } };
  assert.is(out.kind, 'diagnosis');
  assert.equal(out.diagnosis.results.map((x) => x.id), ['rate-limits']);
});

test('breakers --json gives the five breaker cards as data; the table names each state', async (ctx) => {
  const r = await cli(['breakers', '--json'], ctx.env);
  assert.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { kind: string; asOf: string; cards: { provider: string; state: string; failureThreshold: number }[] };
  assert.is(out.kind, 'breakers');
  assert.equal(out.cards.map((c) => [c.provider, c.state]), [['yelp', 'closed'], ['pagespeed', 'closed'], ['openai', 'closed'], ['sendgrid', 'closed'], ['stripe', 'closed']]);
  assert.ok(out.cards.every((c) => c.failureThreshold > 0));
  const t = await cli(['breakers'], ctx.env);
  assert.is(t.code, 0, t.stderr);
  assert.match(t.stdout, /│ provider\s*│ state/);
  assert.match(t.stdout, /Stripe\s*│ closed/);
  const bad = await cli(['breakers', 'yelp'], ctx.env);
  assert.is(bad.code, 2, `an argument is a usage error\n${bad.stdout}${bad.stderr}`);
});

test('fix runs a remediation as cli:<user> with LF_CLI_ROLE and audits it; a viewer CLI role is refused with exit 1', async (ctx) => {
  const refused = await cli(['fix', 'pipeline', 'lower-yelp-batch-size', 'value=12'], { ...ctx.env, LF_CLI_ROLE: 'viewer' });
  assert.is(refused.code, 1);
  assert.match(refused.stdout, /needs the operator role/);
  const ok = await cli(['fix', 'pipeline', 'lower-yelp-batch-size', 'value=12'], { ...ctx.env, LF_CLI_ROLE: 'operator' });
  assert.is(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /succeeded/);
  assert.match(ok.stdout, /verified: (Fixed|Not fixed yet|Nothing to fix) — /);
  assert.is(await getSetting(ctx.db.orm.em.fork(), YELP_BATCH_SIZE_SETTING), 12);
  const rows = await recentAudit(ctx.db.orm.em.fork(), { action: 'remediation:pipeline-not-processing/lower-yelp-batch-size' });
  assert.is(rows[0]?.outcome, 'succeeded');
  assert.is(rows[0]?.source, 'cli');
  assert.match(rows[0]?.actor ?? '', /^cli:/);
  assert.is(rows[1]?.outcome, 'refused');
});

test('pause shows in jobs; an unknown remediation or command exits 2 (usage) with the reason and help', async (ctx) => {
  assert.is((await cli(['pause', 'daily-pipeline'], ctx.env)).code, 0);
  const jobs = await cli(['jobs'], ctx.env);
  assert.match(jobs.stdout, /daily-pipeline/);
  assert.match(jobs.stdout, /paused/);
  const bad = await cli(['fix', 'pipeline', 'no-such-fix'], ctx.env);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /unknown remediation "no-such-fix"/);
  const unknown = await cli(['frobnicate'], ctx.env);
  assert.is(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate" \(lf help lists them\)/);
});

test('run starts a job that needs the runbook context (the health check) in this process, with the CLI\'s own', async (ctx) => {
  const r = await cli(['run', 'health-check'], ctx.env);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /health-check ran in this process/);
  const stored = await getSetting<{ status: string; diagnostics: Record<string, string> }>(ctx.db.orm.em.fork(), HEALTH_LAST_SETTING);
  assert.ok(stored && ['ok', 'warning', 'problem'].includes(stored.status), JSON.stringify(stored));
  assert.ok(Object.keys(stored!.diagnostics).length > 0, 'the quick diagnostics ran');
});

test.run();
