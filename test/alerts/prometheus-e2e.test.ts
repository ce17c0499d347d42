/**
 * End to end with Debian's `prometheus` (2.42) and `prometheus-alertmanager` (0.25) (issue #14 acceptance): both run
 * on loopback ports with their own temporary config and data folders (killed and removed after). Prometheus scrapes
 * this process's /metrics and evaluates the exported rules (alerts/prometheus/leadfactory.rules.yml, every 1 s
 * here); Alertmanager posts to /alerts/alertmanager with the bearer token. ALERT_SOURCE=both: the in-process rules
 * run too (event-triggered and by a 1 s loop standing in for the 30 s job).
 * - A Yelp breaker open: one alerts-channel post and one incident for the CircuitBreakerOpen group, whichever
 *   source reported first (both did); closed: the resolution is one thread reply.
 * - `sandbox fault yelp server_error` and a daily run: the run fails and an alert names it after the first
 *   evaluation (the one its `pipeline.run_failed` event triggers), and Alertmanager's copy carries its id.
 * Skipped (reported as such) when the binaries are missing: .ci/run installs both packages.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { stringify } from 'yaml';
import { evaluateAlerts } from '../../alerts/evaluate.js';
import { buildRulesFile } from '../../alerts/export-rules.js';
import { createMetrics } from '../../alerts/metrics.js';
import { createDbMetricsReader } from '../../alerts/metrics-reader.js';
import { findRule } from '../../alerts/rules.js';
import { alertmanagerWebhookRoute, type AlertmanagerWebhookRoute } from '../../bot/webhooks/alertmanager.js';
import type { Database } from '../../db/orm.js';
import { createLogger } from '../../domain/logger.js';
import { runPipeline } from '../../domain/pipeline/run.js';
import { sandboxAdmin } from '../../domain/sandbox/index.js';
import type { Services } from '../../domain/services.js';
import { createEventTrigger } from '../../jobs/event-trigger.js';
import { DB_KIND, freshDatabase } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { pipelineDeps, testServices } from '../helpers/services.js';

const have = (bin: string) => spawnSync(bin, ['--version']).status === 0;
const AVAILABLE = have('prometheus') && have('prometheus-alertmanager');
const TOKEN = 'e2e-token-0123456789';

type Ctx = { db: Database; services: Services; server: http.Server; route: AlertmanagerWebhookRoute; procs: ChildProcess[]; dir: string; stopLoop?: () => Promise<void> };
const e2e = suite<Ctx>(`Prometheus 2.42 + Alertmanager 0.25 end to end, ALERT_SOURCE=both (${DB_KIND})`);

async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const port = (s.address() as AddressInfo).port;
  await new Promise((ok) => s.close(ok));
  return port;
}
async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 90_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
const sql = <T>(ctx: Ctx, q: string, p: unknown[] = []) => ctx.db.orm.em.getConnection().execute<T[]>(q, p);

e2e.before(async (ctx) => {
  if (!AVAILABLE) return;
  ctx.procs = [];
  ctx.db = await freshDatabase();
  ctx.services = await testServices(ctx.db, { ALERTMANAGER_TOKEN: TOKEN, ALERT_SOURCE: 'both', INCIDENT_FOR_CRITICAL: 'SEV2', INCIDENT_FOR_WARNING: 'none', YELP_CACHE_TTL: '0' });
  const { config } = ctx.services;
  const logger = createLogger('silent');
  // as the service does (bot/main.ts): the start time gives the start-up run its chance (no PipelineDown on a fresh start)
  const startedAt = new Date();
  const metrics = createMetrics(createDbMetricsReader(() => ({ orm: ctx.db.orm, clock: ctx.services.clock, config, startedAt })));
  ctx.route = alertmanagerWebhookRoute({ config, logger, orm: ctx.db.orm, clock: ctx.services.clock, metrics, providers: ctx.services.providers, runbooks: runbookContext(ctx.services) });
  ctx.server = http.createServer((req, res) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    if (p === '/metrics') void metrics.registry.metrics().then((body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body));
    else if (p === ctx.route.path) ctx.route.handler(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((ok) => ctx.server.listen(0, '127.0.0.1', ok));
  const appPort = (ctx.server.address() as AddressInfo).port;
  const [promPort, amPort] = [await freePort(), await freePort()];
  ctx.dir = mkdtempSync(path.join(tmpdir(), 'lf-e2e-prom-'));
  const rules = buildRulesFile();
  for (const g of rules.groups) g.interval = '1s';
  writeFileSync(path.join(ctx.dir, 'rules.yml'), stringify(rules, { lineWidth: 0 }));
  writeFileSync(
    path.join(ctx.dir, 'prometheus.yml'),
    stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: ['rules.yml'],
      alerting: { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${amPort}`] }] }] },
      scrape_configs: [{ job_name: 'leadfactory', scrape_timeout: '900ms', static_configs: [{ targets: [`127.0.0.1:${appPort}`] }] }],
    }),
  );
  writeFileSync(
    path.join(ctx.dir, 'alertmanager.yml'),
    stringify({
      global: { resolve_timeout: '5m' },
      route: { receiver: 'leadfactory-ops', group_by: ['alertname'], group_wait: '1s', group_interval: '1s', repeat_interval: '1h' },
      receivers: [{ name: 'leadfactory-ops', webhook_configs: [{ url: `http://127.0.0.1:${appPort}/alerts/alertmanager`, send_resolved: true, http_config: { authorization: { type: 'Bearer', credentials: TOKEN } } }] }],
    }),
  );
  const start = (bin: string, args: string[]) => {
    const p = spawn(bin, args, { cwd: ctx.dir, stdio: 'ignore' });
    ctx.procs.push(p);
  };
  start('prometheus-alertmanager', [`--config.file=${ctx.dir}/alertmanager.yml`, `--storage.path=${ctx.dir}/am`, `--web.listen-address=127.0.0.1:${amPort}`, '--cluster.listen-address=']);
  start('prometheus', [`--config.file=${ctx.dir}/prometheus.yml`, `--storage.tsdb.path=${ctx.dir}/tsdb`, `--web.listen-address=127.0.0.1:${promPort}`]);
  // the in-process side: a 1 s evaluation loop (the 30 s job, accelerated) of the rules this test exercises
  const deps = { em: () => ctx.db.orm.em.fork(), config, clock: ctx.services.clock, logger, runbooks: runbookContext(ctx.services) };
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      await evaluateAlerts(deps, [findRule('CircuitBreakerOpen')!]).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  ctx.stopLoop = async () => {
    stop = true;
    await loop;
  };
});

e2e.after(async (ctx) => {
  if (!AVAILABLE) return;
  await ctx.stopLoop?.();
  for (const p of ctx.procs) p.kill('SIGTERM');
  await Promise.all(ctx.procs.map((p) => (p.exitCode === null ? new Promise((ok) => p.once('exit', ok)) : undefined)));
  await ctx.route.idle();
  await new Promise((ok) => ctx.server.close(ok));
  await ctx.services.close();
  await ctx.db.close();
  rmSync(ctx.dir, { recursive: true, force: true });
});

const register = AVAILABLE ? e2e : e2e.skip;
if (!AVAILABLE) console.log('  (prometheus / prometheus-alertmanager not installed: skipped; .ci/run installs them)');

register('breaker open: one post and one incident per group from both sources; closed: the resolution is one reply', async (ctx) => {
  const alertsChannel = ctx.services.config.alerting.alertsChannel;
  await sql(
    ctx,
    `insert into provider_state (provider, breaker_state, consecutive_failures, generation, half_open_successes, opened_at, last_error, updated_at)
     values ('yelp', 'open', 5, 1, 0, now(), 'HTTP 500 from sandbox', now())`,
  );
  const row = await until('both sources to report CircuitBreakerOpen firing', async () => {
    const [a] = await sql<{ source_status: Record<string, string>; status: string }>(ctx, `select source_status, status from alerts where name = 'CircuitBreakerOpen'`);
    return a && a.source_status.internal === 'firing' && a.source_status.alertmanager === 'firing' ? a : undefined;
  });
  assert.is(row.status, 'firing');
  await ctx.route.idle();
  await new Promise((r) => setTimeout(r, 3000)); // further Alertmanager notifications and evaluations change nothing
  const posts = await sql(ctx, `select ref, text, created_at from slack_outbox where channel = ? and kind = 'post'`, [alertsChannel]);
  const debug = JSON.stringify({ posts, alerts: await sql(ctx, 'select name, group_key, source, source_status, status, starts_at, ends_at, flap_count, message_ref from alerts') });
  assert.is(posts.length, 1, `one post for the group ${debug}`);
  assert.is((await sql(ctx, 'select 1 from incidents')).length, 1, 'one incident');
  assert.is((await sql(ctx, `select 1 from alerts where name = 'CircuitBreakerOpen'`)).length, 1, 'one alert identity');

  await sql(ctx, `update provider_state set breaker_state = 'closed', opened_at = null where provider = 'yelp'`);
  await until('the alert to resolve', async () => (await sql<{ status: string }>(ctx, `select status from alerts where name = 'CircuitBreakerOpen'`))[0]?.status === 'resolved');
  await ctx.route.idle();
  await new Promise((r) => setTimeout(r, 3000));
  const replies = await sql<{ text: string }>(ctx, `select text from slack_outbox where channel = ? and kind = 'reply'`, [alertsChannel]);
  assert.is(replies.length, 1, 'the resolution is one reply');
  assert.match(replies[0]!.text, /CircuitBreakerOpen/);
  assert.is((await sql(ctx, `select 1 from slack_outbox where channel = ? and kind = 'post'`, [alertsChannel])).length, 1);
});

register('sandbox fault yelp server_error and a run: an alert names the failed run at the first evaluation; Alertmanager carries its id', async (ctx) => {
  await sandboxAdmin(ctx.services.sandboxUrl!).setFault('yelp', { fault: 'server_error' });
  await sql(ctx, `update provider_state set breaker_state = 'closed', consecutive_failures = 0, opened_at = null`);
  await sql(ctx, `insert into targets (location, category, daily_quota, priority, active, created_at, updated_at) values ('Boise, ID', 'dentists', 20, 1, true, now(), now())`).catch(() => undefined);
  const trigger = createEventTrigger({
    em: () => ctx.db.orm.em.fork(),
    logger: createLogger('silent'),
    evaluate: () => evaluateAlerts({ em: () => ctx.db.orm.em.fork(), config: ctx.services.config, clock: ctx.services.clock, logger: createLogger('silent'), runbooks: runbookContext(ctx.services) }),
  });
  await trigger.tick(); // first look: nothing replayed
  const summary = await runPipeline(pipelineDeps(ctx.services), { trigger: 'e2e' });
  assert.is(summary.status, 'failed', JSON.stringify(summary));
  assert.ok(await trigger.tick(), 'the run_failed event triggered an evaluation');
  const [a] = await sql<{ status: string; annotations: { summary: string } }>(ctx, `select status, annotations from alerts where name = 'PipelineRunFailed'`);
  assert.is(a?.status, 'firing', 'firing after one evaluation');
  assert.match(a!.annotations.summary, new RegExp(`^Daily run #${summary.runId} failed`));
  const delivered = await until('Alertmanager to deliver PipelineRunFailed', async () => {
    const rows = await sql<{ payload: { alerts: { labels: Record<string, string>; annotations: Record<string, string> }[] } }>(ctx, `select payload from webhook_inbox where provider = 'alertmanager'`);
    return rows.flatMap((r) => r.payload.alerts).find((x) => x.labels.alertname === 'PipelineRunFailed');
  });
  assert.match(delivered.annotations.description ?? '', new RegExp(`Value: ${summary.runId}\\.`), 'Prometheus names the run too');
  await sandboxAdmin(ctx.services.sandboxUrl!).clearFaults();
});

e2e.run();
