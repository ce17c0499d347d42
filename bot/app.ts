/**
 * The Slack side of the ops service: a Bolt App on Bolt's HTTPReceiver (the default when a signing secret is
 * given), serving `/slack/events` (signed v0, 5-minute window, checked by Bolt on the raw body) plus the custom
 * routes `/metrics`, `/healthz` and `/readyz`.
 *
 * Bolt never calls `auth.test`: with a bot token we pass `botId` + `botUserId`; without one, an `authorize` that
 * returns an empty context (console/dev mode, Web API calls then go out without a token). `app.client` is the one
 * Slack client (bot/slack-client.ts); listeners post to channels only through the outbox (`deps.outbox`).
 */
import http from 'node:http';
import { App, buildReceiverRoutes, HTTPReceiver, LogLevel, SocketModeReceiver, type Logger as BoltLogger } from '@slack/bolt';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { AppConfig } from '../domain/config.js';
import type { Logger } from '../domain/logger.js';
import type { Metrics } from '../alerts/metrics.js';
import { registerListeners } from './listeners/index.js';
import { sendJson } from './webhooks/raw-body.js';
import { guardSlackEvents, metricsAuthorized, SLACK_BODY_LIMIT_BYTES } from './http-guards.js';
import type { RunbookContext } from '../runbooks/context.js';
import { createRoleResolver, type RoleResolver } from './roles.js';
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

/** A custom HTTP route as Bolt's receivers take it (exact path, methods, handler). */
type HttpRoute = NonNullable<SlackAppDeps['extraRoutes']>[number];

/** The service's own routes: `/metrics` (bearer token when METRICS_TOKEN is set), `/healthz`, `/readyz`. */
function serviceRoutes(deps: SlackAppDeps): HttpRoute[] {
  const { config, logger, metrics } = deps;
  const metricsRoute = route(logger, '/metrics', async (res) => {
    const body = await metrics.registry.metrics();
    res.writeHead(200, { 'content-type': metrics.registry.contentType });
    res.end(body);
  });
  return [
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
  ];
}

/**
 * The HTTP server of the custom routes in Socket Mode (events come over the WebSocket): routes matched by exact
 * path (a trailing `/` allowed) and method, anything else 404 — what Bolt's SocketModeReceiver serves, kept here
 * so the server is ours to start, address and close.
 */
function customRouteServer(routes: HttpRoute[], logger: Logger): http.Server {
  const table = buildReceiverRoutes(routes);
  return http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const handler = (table[path] ?? table[path.replace(/\/$/, '')])?.[(req.method ?? 'GET').toUpperCase()];
    if (handler) {
      handler(Object.assign(req, { params: {} }), res);
      return;
    }
    logger.child({ component: 'bolt' }).info(`An unhandled HTTP request (${req.method}) made to ${req.url} was ignored`);
    res.writeHead(404, {});
    res.end();
  });
}

/**
 * The receiver: HTTP mode, our own HTTPReceiver, for its body limit (App does not pass bodyLimit on) and the guard
 * in front of /slack/events (signature timestamp in the future); Socket Mode (SLACK_APP_TOKEN), a
 * SocketModeReceiver for the events plus our own server for the custom routes (metrics, health, webhooks).
 */
function createReceiver(deps: SlackAppDeps, customRoutes: HttpRoute[]): { receiver: HTTPReceiver | SocketModeReceiver; routeServer?: http.Server } {
  const { config, logger } = deps;
  if (config.slack.appToken !== undefined) {
    const receiver = new SocketModeReceiver({ appToken: config.slack.appToken, logger: boltLogger(logger) });
    return { receiver, routeServer: customRouteServer(customRoutes, logger) };
  }
  const receiver = new HTTPReceiver({
    signingSecret: config.slack.signingSecret,
    endpoints: '/slack/events',
    processBeforeResponse: false,
    logger: boltLogger(logger),
    customRoutes,
    bodyLimit: SLACK_BODY_LIMIT_BYTES,
  });
  receiver.requestListener = guardSlackEvents(receiver.requestListener, { logger, now: () => Date.now() });
  return { receiver };
}

/** Global middleware: only logging, and it cannot throw, so a request always reaches its listener's ack(). */
function logRequests(app: App, logger: Logger): void {
  app.use(async ({ body, next }) => {
    try {
      const b = body as { command?: string; type?: string; team_id?: string; user_id?: string };
      logger.debug({ kind: b.command ?? b.type, team: b.team_id, user: b.user_id }, 'slack request received');
    } catch {
      /* never block the ack for a log line */
    }
    await next();
  });
}

/** Listens with `server` on `port` (and `host` when given); resolves once listening. */
function listen(server: http.Server, port: number, host?: string): Promise<http.Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/**
 * Builds the Bolt app with its routes and listeners. Nothing listens until `start()`.
 * `processBeforeResponse` stays false: the HTTP answer goes out at `ack()`, work continues after it.
 */
export function createSlackApp(deps: SlackAppDeps): SlackApp {
  const { config, logger, metrics } = deps;
  const token = config.slack.botToken;
  const auth = token
    ? { token, botId: PLACEHOLDER_BOT_ID, botUserId: PLACEHOLDER_BOT_USER_ID }
    : { authorize: async () => ({}) };
  const { receiver, routeServer } = createReceiver(deps, [...serviceRoutes(deps), ...(deps.extraRoutes ?? [])]);
  const app = new App({
    receiver,
    ...(routeServer ? { socketMode: true } : {}),
    processBeforeResponse: false,
    logger: boltLogger(logger),
    ...auth,
    clientOptions: slackClientOptions(config),
  });
  logRequests(app, logger);

  const roles = deps.roles ?? createRoleResolver(config.roles, { client: app.client, logger });
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
      if (routeServer) {
        await app.start();
        // as Bolt's SocketModeReceiver did: the custom routes on config.port, all interfaces
        const server = await listen(routeServer, config.port);
        logger.info({ port: config.port }, 'slack socket mode connected; custom routes on http');
        return server;
      }
      const server = (await app.start(host ? { port, host } : port)) as http.Server;
      const address = server.address();
      logger.info({ port: typeof address === 'object' && address ? address.port : port }, 'slack receiver listening');
      return server;
    },
    async stop() {
      await app.stop();
      if (routeServer?.listening) await new Promise<void>((resolve) => routeServer.close(() => resolve()));
    },
  };
}
