import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMetrics, type MetricsStateReader, type OpsSnapshot } from '../../alerts/metrics.js';
import { createDbMetricsReader, type DbMetricsSource } from '../../alerts/metrics-reader.js';
import { ALERT_RULES, type RuleContext } from '../../alerts/rules.js';
import type { WebhookDeps, WebhookRoute } from '../../bot/webhooks/index.js';
import { sendgridWebhookRoute } from '../../bot/webhooks/sendgrid.js';
import { stripeWebhookRoute } from '../../bot/webhooks/stripe.js';
import type { Database } from '../../db/orm.js';
import { ManualClock } from '../../domain/clock.js';
import { loadConfig, type AppConfig } from '../../domain/config.js';
import { createLogger } from '../../domain/logger.js';
import type { Providers } from '../../domain/services.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';

type Ctx = { db: Database; config: AppConfig; clock: ManualClock };
const t = suite<Ctx>(`alerts: metrics catalog read from the shared state (${DB_KIND})`);

const NOW = '2026-03-10T12:00:00.000Z';
const at = (iso: string) => new Date(iso);
const minsAgo = (m: number) => new Date(new Date(NOW).getTime() - m * 60_000);

t.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    PIPELINE_CRON: '0 2 * * *',
    STUCK_AFTER_MINUTES: '30',
    OPENAI_BUDGET_DAILY_USD: '10',
    OPENAI_BUDGET_MONTHLY_USD: '100',
  });
});
t.after(async (ctx) => {
  await ctx.db.close();
});
t.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  ctx.clock = new ManualClock(NOW);
});

/** One parsed sample of the exposition text. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m![2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m![1]!, labels, value: Number(m![3]) });
  }
  return out;
}

/** The value of the one sample of `name` whose labels include `labels`; undefined when absent. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(hits.length <= 1, `${name} ${JSON.stringify(labels)} matches ${hits.length} samples`);
  return hits[0]?.value;
}

const sql = (ctx: Ctx, q: string, p: unknown[] = []) => ctx.db.orm.em.getConnection().execute(q, p);
const source = (ctx: Ctx): DbMetricsSource => ({ orm: ctx.db.orm, clock: ctx.clock, config: ctx.config });
const scrape = async (ctx: Ctx, reader: MetricsStateReader = createDbMetricsReader(() => source(ctx))) =>
  parse(await createMetrics(reader).registry.metrics());

async function seed(ctx: Ctx): Promise<void> {
  // Pipeline: yesterday's run succeeded (02:00-02:30 today, 5 sourced); today's later run is running with no
  // progress and a 40 min old heartbeat; a delivery job is running too.
  await sql(ctx, `insert into job_runs (job, status, started_at, heartbeat_at, finished_at, counts) values
    ('daily-pipeline', 'succeeded', ?, ?, ?, '{"sourced": 5}'),
    ('daily-pipeline', 'running', ?, ?, null, '{}'),
    ('delivery', 'running', ?, ?, null, '{}')`, [at('2026-03-10T02:00:00Z'), at('2026-03-10T02:30:00Z'), at('2026-03-10T02:30:00Z'), minsAgo(60), minsAgo(40), minsAgo(5), minsAgo(1)]);
  // progress = businesses that completed a stage: sourced at 02:10, the fourth emailed at 02:30
  await sql(ctx, `insert into businesses (yelp_id, name, status, created_at, updated_at, status_changed_at)
    select 'y' || g, 'B' || g, case when g <= 3 then 'assessment_pending' else 'emailed' end, ?, ?, case when g = 4 then ?::timestamptz end from generate_series(1, 4) g`,
    [at('2026-03-10T02:10:00Z'), minsAgo(120), at('2026-03-10T02:30:00Z')]);
  const emails: [string, Date | null, Date][] = [
    ...Array.from({ length: 16 }, (): [string, Date | null, Date] => ['delivered', minsAgo(30), minsAgo(40)]),
    ...Array.from({ length: 4 }, (): [string, Date | null, Date] => ['bounced', minsAgo(20), minsAgo(40)]),
    ['sent', minsAgo(120), minsAgo(130)], // outside the hour
    ['pending', null, minsAgo(60)], // stuck
    ['pending', null, minsAgo(45)], // stuck
    ['pending', null, minsAgo(5)], // fresh
  ];
  for (const [i, [status, sentAt, createdAt]] of emails.entries())
    await sql(ctx, `insert into emails (business_id, campaign, to_address, subject, body, spam_score, status, sent_at, created_at, updated_at)
      values (4, ?, 'x@example.com', 's', 'b', 1, ?, ?, ?, ?)`, [`c${i}`, status, sentAt, createdAt, createdAt]);
  await sql(ctx, `insert into assessment_results (business_id, status, url, created_at)
    select 1, case when g <= 2 then 'failed' else 'completed' end, 'https://x.example', ? from generate_series(1, 10) g`, [minsAgo(10)]);
  await sql(ctx, `insert into assessment_results (business_id, status, url, created_at) values (1, 'failed', 'https://x.example', ?)`, [minsAgo(90)]);
  await sql(ctx, `insert into purchases (amount_cents, total_cents, status, failure_reason, created_at, updated_at) values
    (100, 100, 'paid', null, ?, ?), (100, 100, 'failed', 'card declined', ?, ?), (100, 100, 'failed', 'checkout session not created: Stripe down', ?, ?)`,
    [minsAgo(10), minsAgo(10), minsAgo(10), minsAgo(10), minsAgo(10), minsAgo(10)]);
  await sql(ctx, `insert into ops_events (type, severity, payload, dedup_key, created_at) values
    ('payment.failed', 'warning', '{}', 'payment.failed:evt_1', ?), ('payment.failed', 'warning', '{}', 'payment.failed:evt_2', ?)`, [minsAgo(10), minsAgo(5)]);
  // OpenAI spend: $4 today, $3 earlier this month, $50 last month (outside both periods).
  await sql(ctx, `insert into api_calls (provider, operation, outcome, latency_ms, cost_usd, created_at) values
    ('openai', 'chat', 'ok', 10, 4, ?), ('openai', 'chat', 'ok', 10, 3, ?), ('openai', 'chat', 'ok', 10, 50, ?)`,
    [minsAgo(30), at('2026-03-02T10:00:00Z'), at('2026-02-20T10:00:00Z')]);
}

t('no metric uses a label Prometheus sets on every target (job, instance): it would be renamed exported_* at scrape time', () => {
  const metrics = createMetrics(createDbMetricsReader(() => undefined));
  const all = metrics.registry.getMetricsAsArray();
  assert.ok(all.length > 20);
  // prom-client's MetricObject type leaves out the metric's labelNames, which every metric instance has
  const labelNames = (m: object): unknown[] => {
    const v: unknown = Reflect.get(m, 'labelNames');
    assert.ok(Array.isArray(v), 'a metric without labelNames');
    return v;
  };
  for (const m of all) for (const reserved of ['job', 'instance']) assert.not.ok(labelNames(m).includes(reserved), `${m.name} has a "${reserved}" label`);
});

t('the shared-state metrics show the seeded rows at scrape time', async (ctx) => {
  await seed(ctx);
  const s = await scrape(ctx);
  const v = (name: string, labels?: Record<string, string>) => value(s, name, labels);
  assert.is(v('leadfactory_pipeline_last_progress_timestamp_seconds'), at('2026-03-10T02:30:00Z').getTime() / 1000);
  assert.is(v('leadfactory_pipeline_last_due_timestamp_seconds'), at('2026-03-10T02:00:00Z').getTime() / 1000);
  assert.is(v('leadfactory_pipeline_last_success_timestamp_seconds'), at('2026-03-10T02:30:00Z').getTime() / 1000);
  assert.is(v('leadfactory_pipeline_run_duration_seconds'), 1800);
  assert.is(v('leadfactory_job_running_heartbeat_age_seconds', { job_name: 'daily-pipeline' }), 2400);
  assert.is(v('leadfactory_job_running_heartbeat_age_seconds', { job_name: 'delivery' }), 60);
  assert.is(v('leadfactory_businesses', { status: 'assessment_pending' }), 3);
  assert.is(v('leadfactory_businesses', { status: 'emailed' }), 1);
  assert.is(v('leadfactory_businesses', { status: 'scored' }), 0, 'every status is reported');
  assert.is(v('leadfactory_emails', { status: 'delivered' }), 16);
  assert.is(v('leadfactory_emails', { status: 'bounced' }), 4);
  assert.is(v('leadfactory_emails', { status: 'pending' }), 3);
  assert.is(v('leadfactory_emails', { status: 'sending' }), 0);
  assert.is(v('leadfactory_emails_sent_1h'), 20);
  assert.is(v('leadfactory_emails_bounced_1h'), 4);
  assert.is(v('leadfactory_email_bounce_rate_1h'), 0.2);
  assert.is(v('leadfactory_emails_stuck'), 2);
  assert.is(v('leadfactory_assessments_1h'), 10);
  assert.is(v('leadfactory_assessments_failed_ratio_1h'), 0.2);
  assert.is(v('leadfactory_purchases', { status: 'paid' }), 1);
  assert.is(v('leadfactory_purchases', { status: 'failed' }), 2);
  assert.is(v('leadfactory_purchases', { status: 'refunded' }), 0);
  assert.is(v('leadfactory_payment_failures_total'), 3, 'two Stripe failures applied + one checkout not created');
  assert.is(v('leadfactory_provider_budget_used_ratio', { provider: 'openai', period: 'daily' }), 0.4);
  assert.is(v('leadfactory_provider_budget_used_ratio', { provider: 'openai', period: 'monthly' }), 0.07);
  assert.is(v('leadfactory_provider_budget_used_ratio', { provider: 'yelp' }), undefined, 'no budget configured, no ratio');
  assert.is(v('leadfactory_database_up'), 1);
  assert.is(v('leadfactory_circuit_breaker_state', { provider: 'openai' }), 0);
  const used = v('leadfactory_db_pool_connections', { state: 'used' });
  const free = v('leadfactory_db_pool_connections', { state: 'free' });
  assert.ok(used !== undefined && free !== undefined && used + free >= 1, `pool used ${used} free ${free}`);
  assert.ok((v('process_resident_memory_bytes') ?? 0) > 0);
});

t('the in-process rules and the exported figures agree on the seeded state', async (ctx) => {
  await seed(ctx);
  const s = await scrape(ctx);
  const rctx: RuleContext = { em: () => ctx.db.orm.em.fork(), now: ctx.clock.now(), config: ctx.config, probes: { memoryUsage: () => process.memoryUsage() } as RuleContext['probes'] };
  const fired = async (name: string) => (await ALERT_RULES.find((r) => r.name === name)!.evaluate(rctx)).length > 0;
  // HighBounceRate: leadfactory_email_bounce_rate_1h > 0.1 and leadfactory_emails_sent_1h >= 20
  assert.ok(value(s, 'leadfactory_email_bounce_rate_1h')! > 0.1 && value(s, 'leadfactory_emails_sent_1h')! >= 20);
  assert.ok(await fired('HighBounceRate'));
  // AssessmentFailureRate: ratio > 0.1 and >= 10 results
  assert.ok(value(s, 'leadfactory_assessments_failed_ratio_1h')! > 0.1 && value(s, 'leadfactory_assessments_1h')! >= 10);
  assert.ok(await fired('AssessmentFailureRate'));
  // EmailsStuckPending: leadfactory_emails_stuck > 0
  assert.ok(value(s, 'leadfactory_emails_stuck')! > 0);
  assert.ok(await fired('EmailsStuckPending'));
  // PipelineDown: progress (02:30) came after the due run (02:00) -> neither fires
  assert.ok(value(s, 'leadfactory_pipeline_last_progress_timestamp_seconds')! >= value(s, 'leadfactory_pipeline_last_due_timestamp_seconds')!);
  assert.not.ok(await fired('PipelineDown'));
  // PipelineStalled: heartbeat age 2400 s > 1800 s
  assert.ok(value(s, 'leadfactory_job_running_heartbeat_age_seconds', { job_name: 'daily-pipeline' })! > 1800);
  assert.ok(await fired('PipelineStalled'));
});

t('PaymentFailures and leadfactory_payment_failures_total read one figure: the rule is the counter\'s last hour', async (ctx) => {
  // 6 failures in the last hour (5 Stripe failure events, 1 checkout not created), 3 older ones, and a purchase
  // merely marked failed (no failure event): the counter counts 9, the rule 6 and fires (> 5).
  for (let i = 0; i < 8; i++)
    await sql(ctx, `insert into ops_events (type, severity, payload, dedup_key, created_at) values ('payment.failed', 'warning', '{}', ?, ?)`, [`payment.failed:evt_${i}`, minsAgo(i < 5 ? 10 + i : 120 + i)]);
  await sql(ctx, `insert into purchases (amount_cents, total_cents, status, failure_reason, created_at, updated_at) values
    (100, 100, 'failed', 'checkout session not created: Stripe down', ?, ?), (100, 100, 'failed', 'checkout session not created: Stripe down', ?, ?),
    (100, 100, 'failed', 'card declined', ?, ?)`, [minsAgo(20), minsAgo(20), minsAgo(300), minsAgo(300), minsAgo(15), minsAgo(15)]);
  const s = await scrape(ctx);
  assert.is(value(s, 'leadfactory_payment_failures_total'), 10);
  const rctx: RuleContext = { em: () => ctx.db.orm.em.fork(), now: ctx.clock.now(), config: ctx.config, probes: { memoryUsage: () => process.memoryUsage() } as RuleContext['probes'] };
  const rule = ALERT_RULES.find((r) => r.name === 'PaymentFailures')!;
  assert.equal((await rule.evaluate(rctx)).map((a) => a.value), [6]);
  await sql(ctx, `delete from ops_events where dedup_key = 'payment.failed:evt_0'`);
  assert.equal(await rule.evaluate(rctx), [], '5 in the last hour is not more than 5');
});

t('state that went away disappears at the next scrape; a never-run pipeline reads 0 progress', async (ctx) => {
  await seed(ctx);
  const metrics = createMetrics(createDbMetricsReader(() => source(ctx)));
  let s = parse(await metrics.registry.metrics());
  assert.is(value(s, 'leadfactory_job_running_heartbeat_age_seconds', { job_name: 'delivery' }), 60);
  await sql(ctx, `update job_runs set status = 'succeeded', finished_at = ? where status = 'running'`, [ctx.clock.now()]);
  await sql(ctx, `delete from emails where status = 'pending'`);
  ctx.clock.advance(60_000);
  s = parse(await metrics.registry.metrics());
  assert.is(value(s, 'leadfactory_job_running_heartbeat_age_seconds', { job_name: 'delivery' }), undefined);
  assert.is(value(s, 'leadfactory_job_running_heartbeat_age_seconds', { job_name: 'daily-pipeline' }), undefined);
  assert.is(value(s, 'leadfactory_emails_stuck'), 0);
  assert.is(value(s, 'leadfactory_pipeline_run_duration_seconds'), 3600, 'the run that just finished: 11:00-12:00');
  assert.is(value(s, 'leadfactory_pipeline_last_success_timestamp_seconds'), new Date(NOW).getTime() / 1000);
  await truncateAll(ctx.db);
  s = parse(await metrics.registry.metrics());
  assert.is(value(s, 'leadfactory_pipeline_last_progress_timestamp_seconds'), 0);
  assert.is(value(s, 'leadfactory_pipeline_last_success_timestamp_seconds'), undefined);
  assert.is(value(s, 'leadfactory_pipeline_run_duration_seconds'), undefined);
  assert.is(value(s, 'leadfactory_email_bounce_rate_1h'), 0);
  assert.is(value(s, 'leadfactory_payment_failures_total'), 0);
});

t('a failing reader keeps the last values and reports the database down; no reader, no state metrics', async (ctx) => {
  await seed(ctx);
  const real = createDbMetricsReader(() => source(ctx));
  let down = false;
  const flaky: MetricsStateReader = {
    breakerStates: () => real.breakerStates(),
    quotaRemaining: () => real.quotaRemaining(),
    opsSnapshot: (): Promise<OpsSnapshot> => (down ? Promise.reject(new Error('connection refused')) : real.opsSnapshot!()),
    databaseUp: async () => !down && real.databaseUp!(),
  };
  const metrics = createMetrics(flaky);
  let s = parse(await metrics.registry.metrics());
  assert.is(value(s, 'leadfactory_emails_stuck'), 2);
  down = true;
  s = parse(await metrics.registry.metrics());
  assert.is(value(s, 'leadfactory_database_up'), 0);
  assert.is(value(s, 'leadfactory_emails_stuck'), 2, 'previous value kept');
  assert.is(value(s, 'leadfactory_pipeline_last_progress_timestamp_seconds'), at('2026-03-10T02:30:00Z').getTime() / 1000, 'not reset to 0 (would page PipelineDown)');

  const bare = parse(await createMetrics().registry.metrics());
  assert.is(value(bare, 'leadfactory_emails_stuck'), undefined);
  assert.is(value(bare, 'leadfactory_database_up'), undefined);
  assert.is(value(bare, 'leadfactory_webhook_signature_failures_total', { provider: 'stripe' }), 0);
  const starting = parse(await createMetrics(createDbMetricsReader(() => undefined)).registry.metrics());
  assert.is(value(starting, 'leadfactory_database_up'), 0, 'service not started: database not reachable yet');
});

t('webhook posts with a bad signature count leadfactory_webhook_signature_failures_total{provider}', async (ctx) => {
  const metrics = createMetrics();
  const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  const deps: WebhookDeps = {
    config: { ...ctx.config, delivery: { ...ctx.config.delivery, sendgridWebhookPublicKey: key } },
    logger: createLogger('silent'),
    orm: ctx.db.orm,
    clock: ctx.clock,
    metrics,
    providers: {} as Providers, // not reached: a bad signature is refused before any provider call
  };
  const routes: WebhookRoute[] = [stripeWebhookRoute(deps), sendgridWebhookRoute(deps)];
  const server = http.createServer((req, res) => {
    const r = routes.find((x) => x.path === req.url);
    if (r) r.handler(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const post = (path: string, headers: Record<string, string>) =>
      fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{"id":"evt_1"}' }).then((r) => r.status);
    assert.is(await post('/webhooks/stripe', { 'stripe-signature': 't=1,v1=deadbeef' }), 400);
    assert.is(await post('/webhooks/stripe', {}), 400);
    assert.is(await post('/webhooks/sendgrid', { 'X-Twilio-Email-Event-Webhook-Signature': 'AAAA', 'X-Twilio-Email-Event-Webhook-Timestamp': '1' }), 403);
  } finally {
    await new Promise((ok) => server.close(ok));
  }
  const s = parse(await metrics.registry.metrics());
  assert.is(value(s, 'leadfactory_webhook_signature_failures_total', { provider: 'stripe' }), 2);
  assert.is(value(s, 'leadfactory_webhook_signature_failures_total', { provider: 'sendgrid' }), 1);
  const events = await sql(ctx, `select count(*)::int as n from ops_events where type = 'webhook.signature_failed'`);
  assert.is((events[0] as { n: number }).n, 1, 'the Stripe handler still records its ops event (one per minute)');
});

t.run();
