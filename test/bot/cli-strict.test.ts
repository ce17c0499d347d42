/**
 * The `lf` CLI's argument strictness and exit codes (0 ok, 1 problems found, 2 usage or configuration, 3 database
 * or service unreachable), through the real entry (bot/cli-main.ts, as the `lf` bin runs it) as a child process.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { checkArgs, UsageError } from '../../bot/cli-args.js';
import { Business } from '../../db/entities/index.js';
import type { Database } from '../../db/orm.js';
import { freshDatabase } from '../helpers/db.js';
import { freePort, ROOT } from '../helpers/process.js';

const TSX = join(ROOT, 'node_modules/.bin/tsx');

function lf(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const base = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NODE_ENV: 'test', LOG_LEVEL: 'silent', PGLITE_PORT: '0' };
  return new Promise((done) => {
    execFile(TSX, ['bot/cli-main.ts', ...args], { cwd: ROOT, env: { ...base, ...env }, timeout: 120_000 }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const unit = suite('lf argument check (in-process)');

function usage(argv: string[]): string {
  try {
    checkArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) return err.message;
    throw err;
  }
  throw new Error(`no usage error for ${argv.join(' ')}`);
}

unit('unknown options, commands and subcommands are named, with the closest valid spelling', () => {
  assert.match(usage(['status', '--jsn']), /unknown option "--jsn" for lf status; did you mean "--json"\?/);
  assert.match(usage(['db', 'restore', '--backup', 'f.dump', '--jsn']), /unknown option "--jsn" for lf db restore; did you mean "--json"\?/);
  assert.match(usage(['db', 'restore', '--backup', 'f.dump', '--fresj']), /did you mean "--fresh"\?/);
  assert.match(usage(['stauts']), /unknown command "stauts"; did you mean "status"\?/);
  assert.match(usage(['db', 'verifyy']), /unknown db subcommand "verifyy"; did you mean "verify"\?/);
  assert.match(usage(['targets', 'ad']), /did you mean "add"\?/);
  assert.match(usage(['sandbox', 'fault', 'yelp', 'timeout', '--count', 'x']), /--count .* needs a whole number, got "x"/);
  assert.match(usage(['status', '-x']), /unknown option "-x"/);
  assert.match(usage(['status', '--json=yes']), /--json of lf status takes no value/);
});

unit('an option missing its value is named', () => {
  assert.match(usage(['db', 'backup', '--dir']), /option --dir of lf db backup needs a value/);
  assert.match(usage(['db', 'restore', '--backup', '--yes']), /option --backup of lf db restore needs a value/);
  assert.match(usage(['db', 'restore', '--backup=']), /option --backup of lf db restore needs a value/);
});

unit('valid command lines pass, values kept apart from words', () => {
  const a = checkArgs(['db', 'restore', '--backup', 'x.dump', '--fresh', '--yes', '--json']);
  assert.is(a.sub, 'restore');
  assert.equal([...a.options.entries()], [['backup', 'x.dump'], ['fresh', 'true'], ['yes', 'true'], ['json', 'true']]);
  assert.equal(a.words, ['db', 'restore']);
  assert.equal(checkArgs(['ask', 'why', 'no', 'emails?', '--offline']).options.get('offline'), 'true');
  assert.equal(checkArgs([]).command, 'help');
  assert.equal(checkArgs(['targets', 'add', 'location=Denver, CO', 'category=roofing']).words, ['targets', 'add', 'location=Denver, CO', 'category=roofing']);
});

unit.run();

const proc = suite<{ db: Database; url: string }>('lf exit codes (child process)');

proc.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.url = ctx.db.url;
});
proc.after(async (ctx) => {
  await ctx.db.close();
});

proc('2: an unknown flag (nothing runs), a missing value, an invalid configuration', async (ctx) => {
  const jsn = await lf(['status', '--jsn'], { DATABASE_URL: ctx.url });
  assert.is(jsn.code, 2);
  assert.match(jsn.stderr, /--jsn/);
  assert.match(jsn.stderr, /--json/);
  assert.is(jsn.stdout, '');
  const restore = await lf(['db', 'restore', '--backup'], { DATABASE_URL: ctx.url });
  assert.is(restore.code, 2);
  assert.match(restore.stderr, /--backup .*needs a value/);
  const config = await lf(['status'], { DATABASE_URL: ctx.url, LF_CLI_ROLE: 'boss' });
  assert.is(config.code, 2);
  assert.match(config.stderr, /LF_CLI_ROLE/);
});

proc('2: fix with an input typed without its value, or missing, never falls back to a default', async (ctx) => {
  const noValue = await lf(['fix', 'external-apis', 'set-rate-limit', 'provider=yelp', 'limit='], { DATABASE_URL: ctx.url });
  assert.is(noValue.code, 2, noValue.stderr);
  assert.match(noValue.stderr, /limit= needs a value/);
  const missing = await lf(['fix', 'external-apis', 'set-rate-limit', 'provider=yelp'], { DATABASE_URL: ctx.url });
  assert.is(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /set-rate-limit needs limit/);
  const rows = await ctx.db.orm.em.fork().getConnection().execute<{ n: number }[]>("select count(*)::int as n from audit_log where action like 'remediation:%' and outcome = 'succeeded'");
  assert.is(rows[0]!.n, 0, 'no remediation ran');
});

proc('3: the database unreachable; 0 then 1: db verify clean, then with a problem', async (ctx) => {
  const closed = await freePort();
  const down = await lf(['status'], { DATABASE_URL: `postgres://postgres@127.0.0.1:${closed}/x` });
  assert.is(down.code, 3, down.stderr);
  assert.match(down.stderr, /unreachable/);
  const downJobs = await lf(['jobs'], { DATABASE_URL: `postgres://postgres@127.0.0.1:${closed}/x` });
  assert.is(downJobs.code, 3, downJobs.stderr);

  const clean = await lf(['db', 'verify'], { DATABASE_URL: ctx.url });
  assert.is(clean.code, 0, clean.stderr + clean.stdout);
  const em = ctx.db.orm.em.fork();
  em.create(Business, { yelpId: 'strict-1', name: 'Emailed without an email', status: 'emailed' });
  await em.flush();
  const problem = await lf(['db', 'verify'], { DATABASE_URL: ctx.url });
  assert.is(problem.code, 1, problem.stderr + problem.stdout);
});

proc('targets add, edit, disable and list from the terminal; status fast path reads the same database', async (ctx) => {
  const add = await lf(['targets', 'add', 'location=Austin, TX', 'category=roofing', 'quota=30', 'priority=5'], { DATABASE_URL: ctx.url });
  assert.is(add.code, 0, add.stderr);
  const id = /Target #(\d+) added/.exec(add.stdout)?.[1];
  assert.ok(id, add.stdout);
  const edit = await lf(['targets', 'edit', id!, 'quota=40'], { DATABASE_URL: ctx.url });
  assert.is(edit.code, 0, edit.stderr);
  assert.match(edit.stdout, /quota 30 → 40/);
  const dup = await lf(['targets', 'add', 'location=Austin, TX', 'category=roofing'], { DATABASE_URL: ctx.url });
  assert.is(dup.code, 2);
  assert.match(dup.stderr, /already covers/);
  const disable = await lf(['targets', 'disable', id!], { DATABASE_URL: ctx.url });
  assert.is(disable.code, 0, disable.stderr);
  const list = await lf(['targets', 'list', '--json'], { DATABASE_URL: ctx.url });
  assert.is(list.code, 0, list.stderr);
  const t = (JSON.parse(list.stdout) as { targets: { id: number; quota: number; active: boolean }[] }).targets.find((x) => x.id === Number(id));
  assert.equal({ quota: t?.quota, active: t?.active }, { quota: 40, active: false });
  const status = await lf(['status', '--json'], { DATABASE_URL: ctx.url });
  assert.is(status.code, 0, status.stderr);
  assert.is((JSON.parse(status.stdout) as { activeTargets: number }).activeTargets, 0);
});

proc.run();
