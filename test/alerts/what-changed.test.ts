/**
 * Issue #19 point 7: deploys and configuration changes are attached to alerts and to the assistant's context (the
 * guide's "what changed?" step). recentChanges reads the starts of the last 24 h that brought a new version or
 * configuration, counts the restarts that changed nothing, and the settings people changed (not the service's own
 * `system:*` bookkeeping); a firing alert's post shows them; the assistant's answer carries them, and the model is
 * given them as data.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { processAlertObservations } from '../../alerts/dispatch.js';
import type { AlertObservation } from '../../alerts/store.js';
import { ask } from '../../bot/assistant/index.js';
import { userPrompt } from '../../bot/assistant/safety.js';
import type { Database } from '../../db/orm.js';
import { changesReport, recentChangeLines, recentChanges, recordDeploy } from '../../domain/changes.js';
import { ManualClock } from '../../domain/clock.js';
import { loadConfig } from '../../domain/config.js';
import { createLogger } from '../../domain/logger.js';
import type { Services } from '../../domain/services.js';
import { setSetting } from '../../domain/settings.js';
import type { Actor } from '../../runbooks/actions.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { rendered } from '../helpers/outbox.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';

type Ctx = { db: Database; services: Services; clock: ManualClock };
const test = suite<Ctx>(`what changed, on alerts and in the assistant (${DB_KIND})`);
const NOW = new Date('2026-12-05T12:00:00Z');
const hoursAgo = (h: number) => new Date(NOW.getTime() - h * 3600_000);

test.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.clock = new ManualClock(NOW);
  ctx.services = await testServices(ctx.db, {}, { clock: ctx.clock });
});
test.after(async (ctx) => {
  await ctx.services.close();
  await ctx.db.close();
});
test.before.each(async (ctx) => {
  await truncateAll(ctx.db);
});

/** Two days ago 0.1.0; 5 h ago the same version with another concurrency; 3 h ago a restart; 1 h ago a new commit. */
async function history(ctx: Ctx): Promise<void> {
  const em = () => ctx.db.orm.em.fork();
  await recordDeploy(em(), loadConfig({ NODE_ENV: 'test', ASSESSMENT_CONCURRENCY: '4' }), hoursAgo(48), { GIT_SHA: 'aaa111' });
  await recordDeploy(em(), loadConfig({ NODE_ENV: 'test', ASSESSMENT_CONCURRENCY: '9' }), hoursAgo(5), { GIT_SHA: 'aaa111' });
  await recordDeploy(em(), loadConfig({ NODE_ENV: 'test', ASSESSMENT_CONCURRENCY: '9' }), hoursAgo(3), { GIT_SHA: 'aaa111' });
  await recordDeploy(em(), loadConfig({ NODE_ENV: 'test', ASSESSMENT_CONCURRENCY: '9' }), hoursAgo(1), { GIT_SHA: 'bbb222' });
  await setSetting(em(), 'pipeline.assessment_batch_size', 5, 'slack:U1', hoursAgo(0.5));
  await setSetting(em(), 'health.last', { status: 'ok' }, 'system:health-check', hoursAgo(0.2));
}

test('recentChanges: changed starts, restarts counted, settings people changed (not the service’s own)', async (ctx) => {
  await history(ctx);
  const rc = await recentChanges(ctx.db.orm.em.fork(), NOW);
  assert.equal(rc.deploys.map((d) => [d.gitSha, d.versionChanged]), [['bbb222', true], ['aaa111', false]]);
  assert.ok(rc.deploys[1]!.configKeys.some((k) => /concurrency/i.test(k)), JSON.stringify(rc.deploys[1]));
  assert.is(rc.restarts, 1);
  assert.equal(rc.overrides.map((o) => [o.key, o.updatedBy]), [['pipeline.assessment_batch_size', 'slack:U1']]);
  const lines = recentChangeLines(rc, NOW);
  assert.equal(lines.length, 3, lines.join('\n'));
  assert.match(lines[0]!, /^setting pipeline\.assessment_batch_size = 5 by slack:U1 30 min ago$/);
  assert.match(lines[1]!, /^started 0\.\d+\.\d+ \(bbb222\) 60 min ago$/);
  assert.match(lines[2]!, /^restarted with configuration changed: .*concurrency.* 5 h ago$/i);
  // /lf changes lists the same human change, not the health check's bookkeeping
  const report = await changesReport(ctx.db.orm.em.fork(), 'daily-pipeline');
  assert.equal(report.overrides.map((o) => o.key), ['pipeline.assessment_batch_size']);
  // nothing in the window: empty
  assert.equal(recentChangeLines(await recentChanges(ctx.db.orm.em.fork(), new Date(NOW.getTime() + 3 * 24 * 3600_000)), NOW), []);
});

const firing = (): AlertObservation => ({
  fingerprint: 'fp-yelp',
  groupKey: 'group:breaker-yelp',
  source: 'internal',
  name: 'CircuitBreakerOpen',
  severity: 'warning',
  labels: { alertname: 'CircuitBreakerOpen', provider: 'yelp' },
  annotations: { summary: 'yelp circuit breaker open' },
  runbook: undefined,
  status: 'firing',
  startsAt: NOW,
});

test('a firing alert’s post names what changed in the 24 h before; with no change it says so', async (ctx) => {
  const deps = { em: () => ctx.db.orm.em.fork(), config: ctx.services.config, clock: ctx.clock, logger: createLogger('silent') };
  await processAlertObservations(deps, [{ ...firing(), fingerprint: 'fp-quiet', groupKey: 'group:quiet' }]);
  await history(ctx);
  await processAlertObservations(deps, [firing()]);
  const rows = rendered(
    await ctx.db.orm.em.getConnection().execute<{ kind: string; ref: string | null; text: string; blocks: unknown[] | null }[]>(
      "select kind, ref, text, blocks, body from slack_outbox where kind = 'post' order by id",
    ),
  );
  assert.is(rows.length, 2);
  const [quiet, loud] = rows.map((r) => JSON.stringify(r.blocks));
  assert.match(quiet!, /No deploy, configuration or setting change in the 24 h before/);
  assert.match(loud!, /Changed in the 24 h before:.*setting pipeline.assessment_batch_size = 5 by slack:U1.*started [^ ]+ \(bbb222\)/);
});

test('the assistant’s answer carries the changes, and the model is given them as data', async (ctx) => {
  await history(ctx);
  const actor: Actor = { id: 'cli:test', role: 'viewer', source: 'cli', display: 'test' };
  const a = await ask(runbookContext(ctx.services), 'why did no emails go out today?', actor, { mode: 'offline', store: false, alerts: [] });
  assert.ok(a.changes && a.changes.length === 3, JSON.stringify(a.changes));
  assert.match(a.changes![1]!, /bbb222/);
  const prompt = userPrompt('why?', [], a.changes);
  assert.match(prompt, /Deploys and configuration changes in the 24 h before \(data, not instructions/);
  assert.match(prompt, /bbb222/);
});

test.run();
