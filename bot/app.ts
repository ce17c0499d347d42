/**
 * The Slack side of the ops service: a Bolt App on Bolt's HTTPReceiver (the default when a signing secret is
 * given), serving `/slack/events` (signed v0, 5-minute window, checked by Bolt on the raw body) plus the custom
 * routes `/metrics`, `/healthz` and `/readyz`.
 *
 * Bolt never calls `auth.test`: with a bot token we pass `botId` + `botUserId`; without one, an `authorize` that
 * returns an empty context (console/dev mode, Web API calls then go out without a token). `app.client` is the one
 * Slack client (bot/slack-client.ts); listeners post to channels only through the outbox (`deps.outbox`).
 */
import type http from 'node:http';
import { App, HTTPReceiver, LogLevel, type Logger as BoltLogger } from '@slack/bolt';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { AppConfig } from '../domain/config.js';
import type { Logger } from '../domain/logger.js';
import type { Metrics } from '../alerts/metrics.js';
import { registerListeners } from './listeners/index.js';
import { sendJson } from './webhooks/raw-body.js';
import { guardSlackEvents, metricsAuthorized, SLACK_BODY_LIMIT_BYTES } from './http-guards.js';
import type { RunbookContext } from '../runbooks/context.js';
import { createRoleResolver, type RoleResolver, type UsergroupsClient } from './roles.js';
import { slackClientOptions } from './slack-client.js';
import { slackOutbox, type SlackOutbox } from '../alerts/slack-outbox.js';

/**
 * Placeholder bot id given to Bolt with a bot token (the config has no bot id): it only stops Bolt from calling
 * `auth.test`. Consequence: Bolt's ignoreSelf cannot recognise the bot's own events by id.
 */
export const PLACEHOLDER_BOT_ID = 'B0LEADFACTORY';
/** Placeholder bot user id, for the same reason as {@link PLACEHOLDER_BOT_ID}. */
export const PLACEHOLDER_BOT_USER_ID = 'U0LEADFACTORY';

/** Result of a readiness probe: `checks` maps a check name (e.g. `database`, `migrations`) to `ok` or a reason. */
export interface Readiness {
  ok: boolean;
  checks: Record<string, string>;
}

/** What {@link createSlackApp} needs. `orm` is forked per request by the listeners, never used directly. */
export interface SlackAppDeps {
  config: AppConfig;
  logger: Logger;
  orm: MikroORM;
  metrics: Metrics;
  /** Called by GET /readyz; a throw counts as not ready. */
  readiness: () => Promise<Readiness>;
  /** What runbooks and `/lf` subcommands run against (services, job control, probes). */
  runbookContext: RunbookContext;
  /** Role resolution; default: from `config.roles`, user groups looked up through the app's Web API client. */
  roles?: RoleResolver;
  /** Where channel posts, thread replies and edits go (default: the outbox table, delivered by the poster). */
  outbox?: SlackOutbox;
  /** More custom routes (webhooks, /unsubscribe): bot/webhooks/index.ts. */
  extraRoutes?: { path: string; method: string[]; handler: (req: http.IncomingMessage, res: http.ServerResponse) => void }[];
}

/** The Bolt app plus start/stop of its HTTP server. */
export interface SlackApp {
  app: App;
  /** Starts listening on `port` (0 = any free port; read it from `server.address()`) on `host` (default all). */
  start(port: number, host?: string): Promise<http.Server>;
  /** Stops the HTTP server. */
  stop(): Promise<void>;
}

/** Adapts pino to Bolt's logger interface; Bolt logs `(...msg)`, so the parts are joined into one message. */
function boltLogger(logger: Logger): BoltLogger {
  const child = logger.child({ component: 'bolt' });
  const join = (msg: unknown[]) => msg.map((m) => (typeof m === 'string' ? m : String(m))).join(' ');
  let level = LogLevel.INFO;
  return {
    debug: (...msg: unknown[]) => child.debug(join(msg)),
    info: (...msg: unknown[]) => child.info(join(msg)),
    warn: (...msg: unknown[]) => child.warn(join(msg)),
    error: (...msg: unknown[]) => child.error(join(msg)),
    setLevel: (l: LogLevel) => {
      level = l; // pino's own level decides what is written
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}


/** Runs an async route handler; a throw becomes a 500 (custom routes are called without a catch). */
function route(logger: Logger, name: string, fn: (res: http.ServerResponse) => Promise<void>) {
  return (_req: http.IncomingMessage, res: http.ServerResponse): void => {
    fn(res).catch((err: unknown) => {
      logger.error({ err, route: name }, 'custom route failed');
      if (!res.headersSent) sendJson(res, 500, { ok: false, error: 'internal' });
      else res.end();
    });
  };
}

/**
 * Builds the Bolt app with its routes and listeners. Nothing listens until `start()`.
 * `processBeforeResponse` stays false: the HTTP answer goes out at `ack()`, work continues after it.
 */
export function createSlackApp(deps: SlackAppDeps): SlackApp {
  const { config, logger, metrics } = deps;
  const token = config.slack.botToken;
  const clientOptions = slackClientOptions(config);
  const auth = token
    ? { token, botId: PLACEHOLDER_BOT_ID, botUserId: PLACEHOLDER_BOT_USER_ID }
    : { authorize: async () => ({}) };

  // Socket Mode (SLACK_APP_TOKEN): events arrive over a WebSocket; the custom routes (metrics, health, webhooks)
  // are still served over HTTP by the SocketModeReceiver on `config.port`.
  const socketMode = config.slack.appToken !== undefined;

  const metricsRoute = route(logger, '/metrics', async (res) => {
    const body = await metrics.registry.metrics();
    res.writeHead(200, { 'content-type': metrics.registry.contentType });
    res.end(body);
  });
  const customRoutes = [
    {
      path: '/metrics',
      method: ['GET'],
      // METRICS_TOKEN set: `Authorization: Bearer <token>` required (Prometheus `authorization.credentials`)
      handler: (req: http.IncomingMessage, res: http.ServerResponse) => {
        if (!metricsAuthorized(req, config.metricsToken)) {
          res.writeHead(401, { 'www-authenticate': 'Bearer realm="metrics"', 'content-type': 'text/plain' });
          res.end('unauthorized\n');
          return;
        }
        metricsRoute(req, res);
      },
    },
    {
      path: '/healthz',
      method: ['GET'],
      handler: route(logger, '/healthz', async (res) => sendJson(res, 200, { ok: true })),
    },
    {
      path: '/readyz',
      method: ['GET'],
      // what is unavailable, by name; never the driver's error text (it can carry hosts, users and SQL)
      handler: route(logger, '/readyz', async (res) => {
        let result: Readiness;
        try {
          result = await deps.readiness();
        } catch (err) {
          logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'readiness check failed');
          result = { ok: false, checks: { readiness: 'unavailable' } };
        }
        sendJson(res, result.ok ? 200 : 503, result);
      }),
    },
    ...(deps.extraRoutes ?? []),
  ];
  // HTTP mode: our own HTTPReceiver, for its body limit (App does not pass bodyLimit on) and the guard in front
  // of /slack/events (signature timestamp in the future). Socket Mode: events over the WebSocket.
  const receiver = socketMode
    ? undefined
    : new HTTPReceiver({
        signingSecret: config.slack.signingSecret,
        endpoints: '/slack/events',
        processBeforeResponse: false,
        logger: boltLogger(logger),
        customRoutes,
        bodyLimit: SLACK_BODY_LIMIT_BYTES,
      });
  if (receiver) receiver.requestListener = guardSlackEvents(receiver.requestListener, { logger, now: () => Date.now() });
  const app = new App({
    ...(receiver ? { receiver } : { socketMode: true, appToken: config.slack.appToken, port: config.port, customRoutes }),
    processBeforeResponse: false,
    logger: boltLogger(logger),
    ...auth,
    clientOptions,
  });

  // Global middleware: only logging, and it cannot throw, so a request always reaches its listener's ack()
  app.use(async ({ body, next }) => {
    try {
      const b = body as { command?: string; type?: string; team_id?: string; user_id?: string };
      logger.debug({ kind: b.command ?? b.type, team: b.team_id, user: b.user_id }, 'slack request received');
    } catch {
      /* never block the ack for a log line */
    }
    await next();
  });

  const roles = deps.roles ?? createRoleResolver(config.roles, { client: app.client as unknown as UsergroupsClient, logger });
  registerListeners(app, {
    ctx: deps.runbookContext,
    roles,
    metrics,
    logger,
    staleAfterMs: config.slack.buttonStaleMs,
    // looked up when a listener posts (a test app without a database builds fine)
    outbox: deps.outbox ?? slackOutbox(() => deps.orm.em.fork(), { now: () => deps.runbookContext.services.clock.now() }),
    ...(token ? { uploads: true } : {}),
  });

  app.error(async (error) => {
    logger.error({ err: error, code: (error as { code?: string }).code }, 'unhandled error in a Slack listener');
  });

  return {
    app,
    async start(port: number, host?: string) {
      let server: http.Server;
      if (socketMode) {
        await app.start();
        server = (app as unknown as { receiver: { httpServer?: http.Server } }).receiver.httpServer as http.Server;
        logger.info({ port: config.port }, 'slack socket mode connected; custom routes on http');
        return server;
      }
      server = (await app.start(host ? { port, host } : port)) as http.Server;
      const address = server.address();
      logger.info({ port: typeof address === 'object' && address ? address.port : port }, 'slack receiver listening');
      return server;
    },
    async stop() {
      await app.stop();
    },
  };
}
