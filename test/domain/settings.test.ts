import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from '../../bot/cli.js';
import type { Database } from '../../db/orm.js';
import { startSandbox, type Sandbox } from '../../domain/sandbox/index.js';
import { getSetting, getSettingEntry, SANDBOX_URL_SETTING, setSetting } from '../../domain/settings.js';
import { DB_KIND, freshDatabase, sharedEmbeddedUrl } from '../helpers/db.js';

type Ctx = { db: Database; url: string };
const t = suite<Ctx>(`settings (${DB_KIND})`);
t.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.url = process.env.DATABASE_URL ?? (await sharedEmbeddedUrl());
});
t.after(async (ctx) => {
  await ctx.db.close();
});

t('round trip: unset → undefined; upsert keeps one row per key with its audit fields', async ({ db }) => {
  const em = db.orm.em.fork();
  assert.is(await getSetting(em, 'sandbox.url'), undefined);
  assert.is(await getSettingEntry(em, 'sandbox.url'), undefined);
  const t1 = new Date('2026-03-01T10:00:00Z');
  await setSetting(em, 'sandbox.url', 'http://127.0.0.1:4010', 'main', t1);
  assert.is(await getSetting<string>(em, 'sandbox.url'), 'http://127.0.0.1:4010');
  const e1 = await getSettingEntry<string>(em, 'sandbox.url');
  assert.equal(e1, { key: 'sandbox.url', value: 'http://127.0.0.1:4010', updatedAt: t1, updatedBy: 'main' });

  const t2 = new Date('2026-03-01T11:30:00Z');
  await setSetting(em, 'sandbox.url', 'http://127.0.0.1:4020', 'U024BE7LH', t2);
  // another session sees the new value at once (no identity-map caching)
  const other = db.orm.em.fork();
  assert.equal(await getSettingEntry(other, 'sandbox.url'), { key: 'sandbox.url', value: 'http://127.0.0.1:4020', updatedAt: t2, updatedBy: 'U024BE7LH' });
  const rows = await em.getConnection().execute<{ n: string | number }[]>("select count(*) as n from settings where key = 'sandbox.url'");
  assert.is(Number(rows[0]!.n), 1);

  const before = Date.now();
  await setSetting(em, 'pipeline.batch', 25, 'cli');
  const e3 = await getSettingEntry(em, 'pipeline.batch');
  assert.ok(e3!.updatedAt.getTime() >= before - 1000 && e3!.updatedAt.getTime() <= Date.now() + 1000, 'default time is now');
});

t('JSON values keep their type', async ({ db }) => {
  const em = db.orm.em.fork();
  const values: [string, unknown][] = [
    ['s.string-of-digits', '123'],
    ['s.number', 42.5],
    ['s.bool', false],
    ['s.null', null],
    ['s.array', [1, 'two', { three: 3 }]],
    ['s.object', { perSecond: 5, providers: ['yelp'], nested: { ok: true } }],
    ['s.quote', 'he said "hi" \\ bye'],
  ];
  for (const [k, v] of values) await setSetting(em, k, v, 'test');
  for (const [k, v] of values) assert.equal(await getSetting(em, k), v, k);
});

t('bad input is a TypeError', async ({ db }) => {
  const em = db.orm.em.fork();
  const throwsType = async (f: () => Promise<unknown>, what: string) => {
    try {
      await f();
      assert.unreachable(what);
    } catch (err) {
      assert.instance(err, TypeError, what);
    }
  };
  await throwsType(() => setSetting(em, 'k', undefined, 'test'), 'undefined value');
  await throwsType(() => setSetting(em, 'k', () => 1, 'test'), 'function value');
  await throwsType(() => setSetting(em, 'k', 10n, 'test'), 'bigint value');
  await throwsType(() => setSetting(em, '', 1, 'test'), 'empty key');
  await throwsType(() => setSetting(em, 'k', 1, ' '), 'empty updatedBy');
  await throwsType(() => getSetting(em, 'x'.repeat(256)), 'long key');
});

t('CLI finds the sandbox through the sandbox.url setting; clear message when none is set', async ({ db, url }) => {
  const em = db.orm.em.fork();
  await em.getConnection().execute('delete from settings');
  const run = async (args: string[]) => {
    let out = '';
    let err = '';
    const io = { stdout: async (s: string) => void (out += s), stderr: async (s: string) => void (err += s) };
    return { code: await runCli(args, { DATABASE_URL: url, LOG_LEVEL: 'silent' }, io), out, err };
  };
  const none = await run(['sandbox', 'faults']);
  assert.is(none.code, 1);
  assert.match(none.err, /No sandbox URL: pass --url <url>, set SANDBOX_URL, or start the service/);
  let sb: Sandbox | undefined;
  try {
    sb = await startSandbox({ seed: 1 });
    await setSetting(em, SANDBOX_URL_SETTING, sb.url, 'main');
    const set = await run(['sandbox', 'fault', 'stripe', 'server_error', '--status', '502', '--count', '1']);
    assert.is(set.code, 0, set.err);
    assert.match(set.out, /stripe: server_error, status 502, next 1 request\(s\)/);
    assert.equal((await sb.faults.list()).stripe?.status, 502);
  } finally {
    await sb?.close();
  }
});

t.run();
