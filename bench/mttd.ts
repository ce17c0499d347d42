/**
 * `npm run bench -- mttd`: mean time to detect. With the service's pieces running in this process — the Bree
 * scheduler with the in-process `alert-evaluation` job every ALERT_EVAL_INTERVAL_SECONDS (30), the Slack outbox
 * poster against a local fake Slack Web API, the provider sandbox — a fault is injected into the sandbox (Yelp
 * answers 500), Yelp traffic continues (one search per second, as a pipeline run would make), and the time is taken
 * from the injection to the alerts-channel post that carries CircuitBreakerOpen with the external-apis runbook
 * diagnosis. Between trials the fault is cleared, the breaker reset and the alert resolved (flap window 0, so
 * each trial is a new alert episode with its own post).
 * The rules also run when a feeding event is recorded (jobs/event-trigger.ts), as in the service.
 * Goal (issue #14): ≤ 15 s at worst. Options: --trials N (default 3).
 */
import { createMetrics } from '../alerts/metrics.js';
import { createSlackPoster, webClientTransport } from '../alerts/slack-outbox.js';
import { webApi } from '@slack/bolt';
import { openDatabase } from '../db/orm.js';
import { startEmbeddedDatabase } from '../db/embedded.js';
import { loadConfig } from '../domain/config.js';
import { createLogger } from '../domain/logger.js';
import { sandboxAdmin } from '../domain/sandbox/index.js';
import { buildServices } from '../domain/services.js';
import { closeAllBreakers } from '../domain/queries/bench.js';
import { createJobControl } from '../jobs/control.js';
import { evaluateNow } from '../jobs/alert-evaluation.js';
import { createEventTrigger } from '../jobs/event-trigger.js';
import { mainJobServices } from '../jobs/job-context.js';
import { startScheduler } from '../jobs/scheduler.js';
import { processProbes } from '../runbooks/probes.js';
import { startFakeSlackApi } from '../test/helpers/slack.js';
import { renderSlackMessage } from '../bot/render/slack-messages.js';

function opt(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}

export async function run(args: string[]): Promise<void> {
  const trials = opt(args, 'trials', 3);
  const embedded = process.env.DATABASE_URL ? undefined : await startEmbeddedDatabase({ dataDir: ':memory:', maxConnections: 20 });
  const url = process.env.DATABASE_URL ?? embedded!.url;
  const db = await openDatabase({ url, dataDir: ':memory:', poolMax: 10 });
  await db.orm.getSchemaGenerator().dropSchema({ dropMigrationsTable: true });
  await db.orm.getMigrator().up();
  const fake = await startFakeSlackApi();
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', SANDBOX_PORT: '0', SLACK_BOT_TOKEN: 'xoxb-bench', SLACK_API_URL: fake.url, ALERT_EVAL_INTERVAL_SECONDS: '30', YELP_CACHE_TTL: '0', INCIDENT_FOR_CRITICAL: 'none', ALERT_FLAP_WINDOW_MINUTES: '0' });
  const logger = createLogger('silent');
  const services = await buildServices(config, { db, logger });
  const admin = sandboxAdmin(services.sandboxUrl!);
  const runbooks = { services, em: () => db.orm.em.fork(), jobs: createJobControl({ orm: db.orm, config, clock: services.clock }), probes: processProbes() };
  const alertDeps = { em: () => db.orm.em.fork(), config, clock: services.clock, logger, runbooks };
  const client = new webApi.WebClient('xoxb-bench', { slackApiUrl: fake.url, rejectRateLimitedCalls: true, retryConfig: { retries: 0 } });
  const poster = createSlackPoster({ orm: db.orm, logger, clock: services.clock, transport: webClientTransport(client), render: renderSlackMessage });
  poster.start();
  const scheduler = await startScheduler({ config, logger, metrics: createMetrics(), orm: db.orm, clock: services.clock, jobEnv: { DATABASE_URL: url, SANDBOX_URL: services.sandboxUrl! }, jobs: mainJobServices(alertDeps) });
  // as in the service (bot/main.ts): the rules also run when a feeding event (a breaker trip, …) is recorded
  const trigger = createEventTrigger({ em: () => db.orm.em.fork(), logger, evaluate: () => evaluateNow(alertDeps) });
  trigger.start();
  console.log(`database: ${process.env.DATABASE_URL ? 'PostgreSQL (DATABASE_URL)' : 'embedded PGlite'}; evaluation every 30 s (Bree, in-process) and on feeding events (ops_events polled every 1 s); ${trials} trial(s)`);
  const times: number[] = [];
  try {
    for (let t = 0; t < trials; t++) {
      // start each trial at a random phase of the evaluation interval
      await new Promise((r) => setTimeout(r, Math.random() * 30_000));
      const seen = fake.calls.length;
      const t0 = Date.now();
      await admin.setFault('yelp', { fault: 'server_error' });
      let stop = false;
      const traffic = (async () => {
        while (!stop) {
          await services.providers.yelp.search({ location: 'Denver, CO', category: 'dentists', limit: 10, offset: 0 }).catch(() => undefined);
          await new Promise((r) => setTimeout(r, 1000));
        }
      })();
      const post = await fake.waitFor(
        (c) => fake.calls.indexOf(c) >= seen && c.method === 'chat.postMessage' && c.body.channel === config.alerting.alertsChannel && /CircuitBreakerOpen/.test(String(c.body.text)) && /External APIs/.test(JSON.stringify(c.body.blocks)),
        120_000,
      );
      const ms = post.at - t0;
      times.push(ms);
      stop = true;
      await traffic;
      console.log(`trial ${t + 1}: fault → alert post with the external-apis diagnosis in ${(ms / 1000).toFixed(1)} s`);
      await admin.clearFaults();
      await closeAllBreakers(db.orm.em.fork());
      // let the next evaluation resolve it
      await fake.waitFor((c) => fake.calls.indexOf(c) > fake.calls.indexOf(post) && c.method === 'chat.postMessage' && c.body.thread_ts !== undefined, 60_000).catch(() => undefined);
    }
  } finally {
    await trigger.stop();
    await scheduler.stop(1000);
    await poster.stop();
    await services.close();
    await db.close();
    await fake.close();
    await embedded?.close();
  }
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  const max = Math.max(...times);
  console.log(`\n== MTTD: mean ${(mean / 1000).toFixed(1)} s, max ${(max / 1000).toFixed(1)} s over ${times.length} trial(s) (goal: ≤ 15 s at worst, fault → post with diagnosis) ${max <= 15_000 ? 'MET' : 'NOT MET'}`);
}
