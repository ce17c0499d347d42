/** The queryable error log: error records from pino reach `error_records`, bounded, and `recentErrors` reads them. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { createErrorLog, recentErrors, storeErrors, toErrorEntry } from '../../domain/error-log.js';
import { createLogger } from '../../domain/logger.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';

const test = suite<{ db: Database }>(`error log (${DB_KIND})`);
test.before(async (ctx) => {
  ctx.db = await freshDatabase();
});
test.after(async (ctx) => {
  await ctx.db.close();
});
test.before.each(async (ctx) => {
  await truncateAll(ctx.db);
});

test('only error and fatal records are kept, with component, code and ids; a silent logger still captures them', async (ctx) => {
  const log = createErrorLog({ flushMs: 60_000 });
  const logger = createLogger('silent', {}, log.stream);
  logger.child({ component: 'gateway' }).error({ provider: 'yelp', code: 'rate_limited', err: new Error('429 Too Many Requests\n  at x') }, 'yelp call failed');
  logger.warn('only a warning');
  logger.info('info');
  logger.fatal({ job: 'daily-pipeline' }, 'worker crashed');
  await new Promise((r) => setImmediate(r));
  log.attach(ctx.db.orm);
  await log.flush();
  const rows = await recentErrors(ctx.db.orm.em.fork());
  assert.is(rows.length, 2);
  const byMsg = Object.fromEntries(rows.map((r) => [r.msg, r]));
  assert.is(byMsg['yelp call failed']?.component, 'gateway');
  assert.is(byMsg['yelp call failed']?.code, 'rate_limited');
  assert.equal(byMsg['yelp call failed']?.context, { provider: 'yelp', error: '429 Too Many Requests' });
  assert.is(byMsg['worker crashed']?.level, 'fatal');
  await log.stop();
});

test('rows beyond the limit and older than the age are pruned; recentErrors filters by time, newest first', async (ctx) => {
  const base = Date.parse('2026-11-29T00:00:00Z');
  const entries = Array.from({ length: 12 }, (_, i) => ({ at: new Date(base + i * 60_000), level: 'error' as const, component: null, msg: `e${i}`, code: null, context: {} }));
  await storeErrors(ctx.db.orm.em.fork(), entries, { maxRows: 10, maxAgeMs: 24 * 3600_000 });
  let rows = await recentErrors(ctx.db.orm.em.fork(), { limit: 100 });
  assert.is(rows.length, 10);
  assert.is(rows[0]?.msg, 'e11');
  await storeErrors(ctx.db.orm.em.fork(), [{ at: new Date(base + 2 * 24 * 3600_000), level: 'error', component: null, msg: 'later', code: null, context: {} }], { maxRows: 10, maxAgeMs: 24 * 3600_000 });
  rows = await recentErrors(ctx.db.orm.em.fork(), { limit: 100 });
  assert.equal(rows.map((r) => r.msg), ['later']);
  assert.is((await recentErrors(ctx.db.orm.em.fork(), { since: new Date(base + 3 * 24 * 3600_000) })).length, 0);
  assert.is(toErrorEntry('{"level":40,"msg":"warn"}'), undefined);
  assert.is(toErrorEntry('not json'), undefined);
});

test.run();
