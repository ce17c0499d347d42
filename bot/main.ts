/**
 * `npm start`: the ops service in one process — the database (embedded PGlite unless DATABASE_URL), the provider
 * sandbox for providers without keys, the Slack app over HTTP (/slack/events, /metrics, /healthz, /readyz), the
 * notifier, and the Bree scheduler. SIGINT/SIGTERM stop it cleanly.
 */
import { applyObservation, createMetrics, type Metrics } from '../alerts/metrics.js';
import { createDbMetricsReader } from '../alerts/metrics-reader.js';
import { createNotifier, spoolOpsEvents } from '../alerts/notifier.js';
import { createDbWatch, pgPing } from '../alerts/db-watch.js';
import { createOpsSpool } from '../alerts/ops-spool.js';
import { routeChannel } from '../alerts/slack-routing.js';
import { setOpsEventFallback } from '../domain/events.js';
import { pendingMigrations } from '../db/orm.js';
import { pingDatabase } from '../domain/queries/health.js';
import { loadConfig, type AppConfig } from '../domain/config.js';
import { toAppError } from '../domain/errors.js';
import { loadEnvFile } from '../domain/env-file.js';
import { lockedError } from '../db/embedded-lock.js';
import { interruptStaleRuns } from '../domain/queries/runs.js';
import { createLogger, setDefaultErrorSink } from '../domain/logger.js';
import { createShutdown, shutdownSignalled } from './shutdown.js';
import { buildServices } from '../domain/services.js';
import { recordDeploy } from '../domain/changes.js';
import { SANDBOX_URL_SETTING, setSetting } from '../domain/settings.js';
import { seedDemoTargetsIfEmpty } from '../domain/targeting/seed.js';
import { startScheduler, type Scheduler } from '../jobs/scheduler.js';
import { createJobControl, isJobPaused } from '../jobs/control.js';
import { startLeaderElection } from '../jobs/leader.js';
import { createErrorLog } from '../domain/error-log.js';
import { consoleTransport, createSlackPoster, webClientTransport, type SlackTransport } from '../alerts/slack-outbox.js';
import { consoleChannels, webClientChannels } from '../alerts/slack-channels.js';
import { createIncidentChannelKeeper } from '../alerts/incident-channel.js';
import { abortOrphanedDrills, createDrillKeeper } from '../alerts/drills.js';
import { mainJobServices } from '../jobs/job-context.js';
import type { JobServices } from '../jobs/job-types.js';
import { evaluateNow, expectedJobs } from '../jobs/alert-evaluation.js';
import { createEventTrigger } from '../jobs/event-trigger.js';
import { alertSourceLine } from '../alerts/source.js';
import type { RunbookContext } from '../runbooks/context.js';
import { processProbes } from '../runbooks/probes.js';
import { createSlackApp, type Readiness, type SlackApp } from './app.js';
import { createPageDispatcher } from '../alerts/paging/dispatcher.js';
import { pagingClientsFor } from '../domain/providers/paging/http.js';
import { renderSlackMessage } from './render/slack-messages.js';
import { webhookRoutes } from './webhooks/index.js';
import { alertmanagerReplayer, processPendingAlertmanagerDeliveries } from './webhooks/alertmanager.js';

/** A stale heartbeat: a run whose process has not touched it for this long is dead. */
const STALE_RUN_MS = 10 * 60 * 1000;
/** How often a standby replica tries to become the scheduler leader (ms); takeover happens within this. */
const LEADER_RETRY_MS = 10_000;
/** Shutdown budget: jobs get this long to finish before they are cancelled and marked interrupted. */
const SHUTDOWN_GRACE_MS = 5_000;

type Logger = ReturnType<typeof createLogger>;
type Shutdown = ReturnType<typeof createShutdown>;
type Services = Awaited<ReturnType<typeof buildServices>>;

/** Step 1: the .env file and the config; a config error exits 2, a second start on a locked embedded folder 1. */
function loadStartConfig(): AppConfig {
  let config: AppConfig;
  try {
    loadEnvFile();
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  }
  // a second start on the same embedded folder is refused before anything starts (sandbox, ports, workers)
  const locked = config.db.url ? undefined : lockedError(config.db.dataDir);
  if (locked) {
    process.stderr.write(`${locked.message}\n`);
    process.exit(1);
  }
  return config;
}

/**
 * Step 2: the logger (errors also to the error log) and the shutdown. SIGTERM/SIGINT are handled from here on: a
 * signal during start-up stops the parts already running (never the runtime's default of dying mid-write), each
 * part registering its stop as it starts.
 */
function startLogging(config: AppConfig): { logger: Logger; errorLog: ReturnType<typeof createErrorLog>; shutdown: Shutdown } {
  const errorLog = createErrorLog();
  const logger = createLogger(config.logLevel, {}, errorLog.stream);
  setDefaultErrorSink(errorLog.stream);
  const shutdown = createShutdown(logger);
  shutdown.register('errorLog', () => errorLog.stop());
  process.on('SIGINT', () => void shutdown.run('SIGINT'));
  process.on('SIGTERM', () => void shutdown.run('SIGTERM'));
  return { logger, errorLog, shutdown };
}

/**
 * Step 3: the metrics and the services (database migrated, providers, sandbox). Shared-state gauges are read from
 * PostgreSQL at each scrape, once the services exist; `markStarted(at)` sets the start PipelineDown's start-up grace
 * and JobNotRunning count from. A locked folder or an unreachable DATABASE_URL exits 1.
 */
async function startServices(config: AppConfig, logger: Logger): Promise<{ services: Services; metrics: Metrics; markStarted: (at: Date) => void }> {
  const state: { services?: Services; startedAt?: Date } = {};
  const metrics = createMetrics(
    createDbMetricsReader(() => {
      const services = state.services;
      return (
        services && {
          orm: services.orm,
          clock: services.clock,
          config,
          ...(state.startedAt ? { startedAt: state.startedAt } : {}),
          expectedJobs: () => expectedJobs(services.orm.em.fork(), config),
        }
      );
    }),
  );
  state.services = await buildServices(config, {
    logger,
    migrate: true,
    observer: (o) => applyObservation(metrics, o),
  }).catch((err: unknown) => {
    if (toAppError(err).code === 'db_locked') {
      process.stderr.write(`${(err as Error).message}\n`);
      process.exit(1);
    }
    if (config.db.url) {
      const where = config.db.url.replace(/\/\/[^@/]*@/, '//');
      process.stderr.write(`DATABASE_URL: cannot connect to ${where}: ${(err as Error).message}\n`);
      process.exit(1);
    }
    throw err;
  });
  return { services: state.services, metrics, markStarted: (at) => {
      state.startedAt = at;
    },
  };
}

/**
 * Step 4: the database made ready for this process — the deploy recorded, runs and drills left by a stopped
 * process closed, the sandbox URL published for the CLI, demo targets seeded. Returns the start time.
 */
async function prepareDatabase(services: Services, config: AppConfig, logger: Logger): Promise<Date> {
  const { orm, clock } = services;
  const deploy = await recordDeploy(orm.em.fork(), config, clock.now());
  logger.info({ version: deploy.version, gitSha: deploy.gitSha, configHash: deploy.configHash.slice(0, 12) }, 'start recorded (/lf changes)');
  const now = clock.now();
  // With the embedded database we hold the folder lock, so any `running` run belongs to a dead process.
  const staleBefore = services.db.embedded ? now : new Date(now.getTime() - STALE_RUN_MS);
  const interrupted = await interruptStaleRuns(orm.em.fork(), staleBefore, now);
  if (interrupted > 0) logger.warn({ interrupted }, 'runs left running by a stopped process marked interrupted');
  // A drill left running by a stopped process never keeps its fault: cleared and recorded aborted (alerts/drills.ts);
  // on PostgreSQL another replica may still be measuring one, so only drills whose keeper's lease ran out.
  const abortedDrills = await abortOrphanedDrills(() => orm.em.fork(), services, { all: services.db.embedded !== undefined, why: 'the service restarted mid-drill' });
  if (abortedDrills.length > 0) logger.warn({ drills: abortedDrills }, 'drills left running by a stopped process aborted, their faults cleared');
  // The CLI (`lf sandbox fault …`) finds the sandbox of the running service here.
  if (services.sandboxUrl) await setSetting(orm.em.fork(), SANDBOX_URL_SETTING, services.sandboxUrl, 'system:start', now);
  if (services.sandboxed.yelp && (await seedDemoTargetsIfEmpty(orm.em.fork(), now)) > 0)
    logger.info('demo targets created (empty targets table, Yelp sandbox)');
  return now;
}

/** GET /readyz: the database answers and no migration is pending (the reason is logged, the probe names only what). */
function readinessProbe(orm: Services['orm'], logger: Logger): () => Promise<Readiness> {
  return async () => {
    const checks: Record<string, string> = {};
    try {
      await pingDatabase(orm.em.fork());
      checks.database = 'ok';
      const pending = await pendingMigrations(orm);
      checks.migrations = pending.length === 0 ? 'ok' : `pending: ${pending.join(', ')}`;
    } catch (err) {
      // the reason goes to the log; the probe says only what is unavailable (driver text can carry hosts and SQL)
      logger.warn({ err: (err as Error).message }, 'readiness: database unavailable');
      checks.database = 'unavailable';
    }
    return { ok: Object.values(checks).every((v) => v === 'ok'), checks };
  };
}

/** The scheduler of this process while it leads (undefined on a standby replica), read by job control. */
interface SchedulerSlot {
  scheduler?: Scheduler;
}

/** Step 5: what runbooks and `/lf` run against; job children get DATABASE_URL (and SANDBOX_URL) in `jobEnv`. */
function createRunbookContext(services: Services, config: AppConfig, slot: SchedulerSlot, jobEnv: Record<string, string>): RunbookContext {
  const { orm, clock } = services;
  return {
    services,
    em: () => orm.em.fork(),
    jobs: createJobControl({ orm, config, clock, scheduler: () => slot.scheduler, jobEnv }),
    probes: processProbes(),
  };
}

/** What the outbound Slack parts share. */
interface OutboundDeps {
  config: AppConfig;
  logger: Logger;
  services: Services;
  metrics: Metrics;
  client: SlackApp['app']['client'];
  shutdown: Shutdown;
}

/**
 * Step 6: everything that leaves the process towards people. The one Slack exit: every post, reply, edit and upload
 * is an outbox row, delivered by the poster through the one Slack client (Bolt's app.client, bot/slack-client.ts) —
 * ordered per channel, 1 post/s, Retry-After honoured — and laid out by the one Block Kit renderer
 * (bot/render/slack-messages.ts). No bot token: console. Also the notifier, incident channels, drills, the ops
 * spool and db watch, and pages beyond Slack. Returns the transport.
 */
function startOutbound({ config, logger, services, metrics, client, shutdown }: OutboundDeps): SlackTransport {
  const { orm, clock } = services;
  const transport = config.slack.botToken ? webClientTransport(client) : consoleTransport();
  const notifier = createNotifier({ orm, logger, metrics, config, clock });
  notifier.start();
  shutdown.register('notifier', () => notifier.stop());
  const poster = createSlackPoster({ orm, logger, clock, transport, render: renderSlackMessage });
  poster.start();
  shutdown.register('poster', () => poster.stop());
  // SEV1/SEV2 incident channels, their timeline and postmortem uploads, on the same client (alerts/incident-channel.ts)
  const channels = config.slack.botToken ? webClientChannels(client) : consoleChannels();
  const incidentRooms = createIncidentChannelKeeper({ orm, config, clock, logger, channels });
  incidentRooms.start();
  shutdown.register('incidentRooms', () => incidentRooms.stop());
  // fault drills (`/lf drill`): traffic, measurement, the fault cleared at the end, the report (alerts/drills.ts)
  const drills = createDrillKeeper({ em: () => orm.em.fork(), services });
  drills.start();
  shutdown.register('drills', async () => {
    await drills.stop();
    await drills.abortOwn('the service was stopped mid-drill');
  });
  startFallbacks({ config, logger, services, shutdown }, transport);
  return transport;
}

/**
 * While the database is unreachable, ops posts go straight to Slack from memory and are written to the outbox when
 * it is back (alerts/ops-spool.ts, alerts/db-watch.ts); pages beyond Slack (email through the SendGrid gateway,
 * PagerDuty, Opsgenie): alerts/paging/dispatcher.ts.
 */
function startFallbacks({ config, logger, services, shutdown }: Pick<OutboundDeps, 'config' | 'logger' | 'services' | 'shutdown'>, transport: SlackTransport): void {
  const { orm, clock } = services;
  const spool = createOpsSpool({ transport, logger, clock, render: renderSlackMessage });
  spool.start();
  shutdown.register('spool', () => spool.stop());
  setOpsEventFallback(spoolOpsEvents(spool, config));
  const pages = createPageDispatcher({ em: () => orm.em.fork(), clock, logger, clients: pagingClientsFor(config, services.sandboxUrl), sendgrid: services.providers.sendgrid, from: config.sendgridFrom });
  pages.start();
  shutdown.register('pages', () => pages.stop());
  const dbWatch = createDbWatch({ ping: () => pgPing(services.db.url), em: () => orm.em.fork(), spool, logger, clock, channel: routeChannel(config, 'alerts') ?? config.alerting.alertsChannel });
  dbWatch.start();
  shutdown.register('dbWatch', () => dbWatch.stop());
}

/** The alert dependencies in-process jobs and the alert intake share (jobs/alert-evaluation.ts `evaluateNow`). */
type AlertIntakeDeps = Parameters<typeof evaluateNow>[0];

/**
 * Step 7: alert intake — the dead letters' Replay button for Alertmanager and the Alertmanager deliveries stored but
 * not processed (the process stopped right after answering 200). Returns what every in-process job run is handed
 * (jobs/job-types.ts JobContext).
 */
function startAlertIntake(alertDeps: AlertIntakeDeps, runbookContext: RunbookContext, logger: Logger): JobServices {
  const { config } = alertDeps;
  runbookContext.replayers = { alertmanager: alertmanagerReplayer(alertDeps) }; // dead letters' Replay button
  logger.info({ alertSource: config.alerting.source }, alertSourceLine(config.alerting.source, config.alerting.evalIntervalMs));
  void processPendingAlertmanagerDeliveries(alertDeps)
    .then((done) => done.length > 0 && logger.info({ deliveries: done.length }, 'pending Alertmanager deliveries processed'))
    .catch((err: unknown) => logger.error({ err: (err as Error).message }, 'pending Alertmanager deliveries failed'));
  return mainJobServices(alertDeps);
}

/** What the leadership step needs. */
interface LeadershipDeps {
  config: AppConfig;
  logger: Logger;
  services: Services;
  metrics: Metrics;
  jobEnv: Record<string, string>;
  slot: SchedulerSlot;
  shutdown: Shutdown;
  /** The alert dependencies the event trigger evaluates with. */
  alertDeps: AlertIntakeDeps;
  /** What every in-process job run is handed. */
  jobs: JobServices;
}

/**
 * Step 9: the scheduler. Only the replica holding the PostgreSQL advisory lock runs it; the others serve HTTP and
 * take over within LEADER_RETRY_MS when the leader dies (jobs/leader.ts). The embedded database is single-process
 * (folder lock): this process is the leader.
 */
async function startLeadership({ config, logger, services, metrics, jobEnv, slot, shutdown, alertDeps, jobs }: LeadershipDeps): Promise<void> {
  const { orm, clock } = services;
  const eventTrigger = createEventTrigger({ em: () => orm.em.fork(), logger, evaluate: () => evaluateNow(alertDeps) });
  let firstElection = true;
  const electionDeps = {
    url: services.db.url,
    logger,
    retryMs: LEADER_RETRY_MS,
    onElected: async () => {
      const scheduler = await startScheduler({ config, logger, metrics, orm, clock, jobEnv, providers: services.providers, jobs });
      slot.scheduler = scheduler;
      eventTrigger.start(); // the rules also run when the events that feed them are recorded
      // RUN_ON_START (first election of this process only) respects a pause: an operator who paused the pipeline
      // during an incident and restarts must not get a full run (emails included) behind their back.
      if (config.pipeline.runOnStart && firstElection) {
        if (await isJobPaused(orm.em.fork(), 'daily-pipeline')) logger.warn('daily-pipeline is paused: RUN_ON_START skipped (resume it with `lf resume daily-pipeline`)');
        else await scheduler.runNow('daily-pipeline', 'start');
      }
      firstElection = false;
    },
    onDemoted: async () => {
      const s = slot.scheduler;
      slot.scheduler = undefined;
      await eventTrigger.stop();
      await s?.stop(SHUTDOWN_GRACE_MS);
    },
  };
  // a signal while the scheduler starts stops it (replaced by the election's own stop once that exists)
  shutdown.register('leader', () => electionDeps.onDemoted());
  const leader = services.db.embedded
    ? await (async () => {
        await electionDeps.onElected();
        return { isLeader: () => true, stop: electionDeps.onDemoted };
      })()
    : await startLeaderElection(electionDeps);
  shutdown.register('leader', () => leader.stop());
  if (!leader.isLeader()) logger.info('another replica runs the scheduler; this one serves HTTP and stands by');
}

/** The composition root: the wiring steps above, in order. */
async function main(): Promise<void> {
  const config = loadStartConfig();
  const { logger, errorLog, shutdown } = startLogging(config);
  const { services, metrics, markStarted } = await startServices(config, logger);
  const { orm, clock } = services;
  shutdown.register('services', () => services.close());
  errorLog.attach(orm);
  logger.info(
    { database: services.db.embedded ? `embedded (${config.db.dataDir})` : 'DATABASE_URL', sandboxed: services.sandboxed },
    'database ready',
  );
  const now = await prepareDatabase(services, config, logger);
  markStarted(now);

  const slot: SchedulerSlot = {};
  const jobEnv: Record<string, string> = { DATABASE_URL: services.db.url };
  if (services.sandboxUrl) jobEnv.SANDBOX_URL = services.sandboxUrl;
  const runbookContext = createRunbookContext(services, config, slot, jobEnv);
  const extraRoutes = webhookRoutes({ config, logger, orm, clock, metrics, providers: services.providers, runbooks: runbookContext });
  const slack = createSlackApp({ config, logger, orm, metrics, readiness: readinessProbe(orm, logger), extraRoutes, runbookContext });
  const transport = startOutbound({ config, logger, services, metrics, client: slack.app.client, shutdown });
  const alertDeps: AlertIntakeDeps = { em: () => orm.em.fork(), config, clock, logger, runbooks: runbookContext, startedAt: now };
  const jobs = startAlertIntake(alertDeps, runbookContext, logger);
  // Step 8: HTTP
  await slack.start(config.port, config.host);
  shutdown.register('http', () => slack.stop());
  logger.info({ host: config.host, port: config.port, notifier: transport.kind }, 'http listening (/slack/events, /metrics, /healthz, /readyz)');
  await startLeadership({ config, logger, services, metrics, jobEnv, slot, shutdown, alertDeps, jobs });
}

main().catch((err: unknown) => {
  if (shutdownSignalled()) return; // the shutdown exits
  process.stderr.write(`fatal: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
