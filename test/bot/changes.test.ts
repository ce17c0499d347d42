/**
 * Deploys and configuration changes on the real database: each start is recorded with its version, commit and
 * configuration (secrets only as set/unset); `/lf changes` shows what configuration changed between starts, the
 * daily runs of each start's lifetime, run-time overrides with who changed them, and names the last version that
 * ran clean; `/lf status` shows the running version.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { executeLf } from '../../bot/commands/execute.js';
import { parseLf } from '../../bot/commands/spec.js';
import { renderOpsText, type OpsResult } from '../../bot/commands/ops-commands.js';
import { loadConfig } from '../../domain/config.js';
import { publicConfig, recordDeploy } from '../../domain/changes.js';
import { getPipelineStatus } from '../../domain/status.js';
import type { Services } from '../../domain/services.js';
import type { Actor } from '../../runbooks/actions.js';
import { DB_KIND, freshDatabase } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';

const viewer: Actor = { id: 'cli:test', role: 'viewer', source: 'cli', display: 'test' };
const test = suite<{ db: Database; services: Services }>(`deploys and /lf changes (${DB_KIND})`);

test.before(async (c) => {
  c.db = await freshDatabase();
  c.services = await testServices(c.db);
});
test.after(async (c) => {
  await c.services?.close?.();
  await c.db?.close();
});

test('secrets are recorded as set/unset only', () => {
  const cfg = publicConfig(loadConfig({ NODE_ENV: 'test', SENDGRID_API_KEY: 'SG.very-secret', SLACK_BOT_TOKEN: 'xoxb-secret', DATABASE_URL: 'postgres://u:pw@h/db' }));
  const text = JSON.stringify(cfg);
  assert.not.match(text, /very-secret|xoxb-secret|pw@h/);
  assert.ok(Object.values(cfg).includes('set'));
});

test('changes: config diff between starts, runs per start, overrides, last known good; status shows the version', async (c) => {
  const em = () => c.db.orm.em.fork();
  const conn = c.db.orm.em.getConnection();
  const v1 = await recordDeploy(em(), loadConfig({ NODE_ENV: 'test', ASSESSMENT_CONCURRENCY: '4' }), new Date('2026-12-01T00:00:00Z'), { GIT_SHA: 'aaa111' });
  const run = (status: string, at: string) => conn.execute(`insert into job_runs (job, status, trigger, started_at, heartbeat_at, counts) values ('daily-pipeline', ?, 'schedule', ?, ?, '{}')`, [status, at, at]);
  await run('succeeded', '2026-12-02T02:00:00Z');
  await run('succeeded', '2026-12-03T02:00:00Z');
  await recordDeploy(em(), loadConfig({ NODE_ENV: 'test', ASSESSMENT_CONCURRENCY: '9' }), new Date('2026-12-03T12:00:00Z'), { GIT_SHA: 'bbb222' });
  await run('failed', '2026-12-04T02:00:00Z');
  await conn.execute(`insert into settings (key, value, updated_at, updated_by) values ('override:test', '5'::jsonb, '2026-12-04T03:00:00Z', 'slack:U1')`);
  const r = (await executeLf(runbookContext(c.services), parseLf('changes'), viewer)) as OpsResult;
  assert.is(r.kind, 'changes');
  if (r.kind !== 'changes') return;
  const [newest, older] = r.report.deploys;
  assert.is(newest?.deploy.gitSha, 'bbb222');
  assert.ok(newest?.versionChanged);
  assert.equal(newest?.runs, { succeeded: 0, failed: 1, interrupted: 0 });
  assert.is(newest?.clean, false);
  assert.ok(newest?.configChanged.some((k) => /concurrency/i.test(k.key) && k.from === 4 && k.to === 9), JSON.stringify(newest?.configChanged));
  assert.equal(older?.runs, { succeeded: 2, failed: 0, interrupted: 0 });
  assert.is(r.report.lastKnownGood?.id, v1.id);
  assert.ok(r.report.overrides.some((o) => o.key === 'override:test' && o.updatedBy === 'slack:U1'));
  const text = renderOpsText(r);
  assert.match(text, /Last known good: \S+ \(aaa111\)/);
  assert.match(text, /override override:test = 5 by slack:U1/);
  const status = await getPipelineStatus(em());
  assert.is(status.deploy?.gitSha, 'bbb222');
});

test.run();
