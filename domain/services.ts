/**
 * The composition root for domain services: `buildServices(config, overrides?)` opens the database, starts the
 * provider sandbox when some provider has no key, and builds the real provider adapters. Entry points (bot/main,
 * bot/cli, jobs, tests) call it; everything else receives what it needs.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import { openDatabase, type Database } from '../db/orm.js';
import type { AppConfig, ProviderId } from './config.js';
import { systemClock, type Clock } from './clock.js';
import { createLogger, type Logger } from './logger.js';
import { resolveProvider } from './providers/urls.js';
import { createYelpClient } from './providers/yelp/index.js';
import { createPageSpeedClient } from './providers/pagespeed/index.js';
import { createOpenAIClient } from './providers/openai/index.js';
import { createSendGridClient } from './providers/sendgrid/index.js';
import { createStripeClient } from './providers/stripe/index.js';
import type { YelpPort } from './providers/yelp/port.js';
import type { PageSpeedPort } from './providers/pagespeed/port.js';
import type { OpenAIPort } from './providers/openai/port.js';
import type { SendGridPort } from './providers/sendgrid/port.js';
import type { StripePort } from './providers/stripe/port.js';
import { startSandbox, type Sandbox } from './sandbox/index.js';
import { CircuitBreaker } from './gateway/breaker.js';
import { ProviderStateListener } from './gateway/breaker-cache.js';
import { gateProviders } from './gateway/gated.js';
import { Gateway } from './gateway/gateway.js';
import { RateLimiter } from './gateway/limiter.js';
import { OverrideCache } from './overrides.js';
import type { GatewayObserver } from './gateway/observer.js';

/** The provider adapters, all behind our own ports. */
export interface Providers {
  yelp: YelpPort;
  pagespeed: PageSpeedPort;
  openai: OpenAIPort;
  sendgrid: SendGridPort;
  stripe: StripePort;
}

/** Everything a job, listener or runbook needs. `close()` releases the database and the sandbox. */
export interface Services {
  config: AppConfig;
  logger: Logger;
  clock: Clock;
  db: Database;
  orm: MikroORM;
  /** The adapters behind the gateway: what pipeline code uses. */
  providers: Providers;
  /** The same adapters without the gateway (connection and authentication tests only). */
  rawProviders: Providers;
  gateway: Gateway;
  /** Which providers are answered by the sandbox. */
  sandboxed: Record<ProviderId, boolean>;
  /** The sandbox's base URL when one is in use (started here, or given by `config.sandbox.url`). */
  sandboxUrl: string | undefined;
  close(): Promise<void>;
}

/** Optional replacements and switches for tests and worker threads. */
export interface ServiceOverrides {
  logger?: Logger;
  clock?: Clock;
  /** An already open database (tests); not closed by `close()`. */
  db?: Database;
  /** Apply pending migrations after opening the database (the main process does; workers don't). */
  migrate?: boolean;
  /** Pool size (workers use a small one so threads × pool stays within the server's limit). */
  poolMax?: number;
  providers?: Partial<Providers>;
  /** Receives gateway observations (metrics in the main thread; a message to it from workers). */
  observer?: GatewayObserver;
}

/** Starts the provider sandbox when a provider needs one and `config.sandbox.url` is not set; the URL in force. */
async function startSandboxIfNeeded(config: AppConfig, logger: Logger): Promise<{ sandbox?: Sandbox; sandboxUrl: string | undefined }> {
  if (!config.usesSandbox || config.sandbox.url) return { sandboxUrl: config.sandbox.url };
  const sandbox = await startSandbox({
    seed: config.sandbox.seed,
    port: config.sandbox.port,
    fixturesDir: config.sandbox.fixturesDir,
    latency: config.sandbox.latency,
    timeScale: config.sandbox.timeScale,
  });
  logger.info({ url: sandbox.url, fixtures: config.sandbox.fixturesDir ?? null }, 'provider sandbox started');
  return { sandbox, sandboxUrl: sandbox.url };
}

/** The raw provider adapters (no gateway), pointed at their real URLs or the sandbox; overrides win. */
function createRawProviders(config: AppConfig, overrides: ServiceOverrides, sandboxUrl: string | undefined): Providers {
  // each client with its provider's per-attempt timeout (PageSpeed's Lighthouse runs take up to a minute)
  const at = (id: ProviderId) => ({ ...resolveProvider(config, id, sandboxUrl), timeoutMs: config.providerTimeouts[id] });
  return {
    yelp: overrides.providers?.yelp ?? createYelpClient(at('yelp')),
    pagespeed: overrides.providers?.pagespeed ?? createPageSpeedClient(at('pagespeed')),
    openai: overrides.providers?.openai ?? createOpenAIClient({ ...at('openai'), model: config.openaiModel }),
    sendgrid: overrides.providers?.sendgrid ?? createSendGridClient(at('sendgrid')),
    stripe: overrides.providers?.stripe ?? createStripeClient(at('stripe')),
  };
}

/**
 * The gateway over `db`: the run-time override cache, the rate limiter, the circuit breaker and (with a breaker
 * cache) the LISTEN/NOTIFY listener that keeps it fresh, started.
 */
async function createGateway(config: AppConfig, db: Database, clock: Clock, logger: Logger, observer: GatewayObserver | undefined): Promise<{ gateway: Gateway; listener?: ProviderStateListener }> {
  // One cache of the run-time overrides for the limiter (limits, quotas) and the gateway (cache TTLs).
  const runtime = new OverrideCache(config, () => db.orm.em.fork());
  const limiter = new RateLimiter({
    orm: db.orm,
    clock,
    limits: config.gateway.limits,
    // operators' rate/quota overrides (settings) apply within seconds, without a restart
    overrides: runtime,
    maxWaitMs: config.gateway.maxWaitMs,
    burst: config.gateway.burst,
  });
  const cacheMs = config.gateway.bookkeeping.breakerCacheMs;
  const breaker = new CircuitBreaker({ orm: db.orm, clock, config: config.gateway.breaker, cacheMs });
  // Other processes' breaker changes reach this one's cache by LISTEN/NOTIFY (breaker-cache.ts).
  const listener = cacheMs > 0 ? new ProviderStateListener(db.url, { onError: (err) => logger.warn({ err: (err as Error).message }, 'provider_state listener lost; breaker cache bypassed until it reconnects') }) : undefined;
  await listener?.start();
  const gateway = new Gateway({ overrides: runtime, orm: db.orm, clock, logger, config: config.gateway, limiter, breaker, observer });
  return { gateway, listener };
}

/**
 * Builds the services. Starts a sandbox on `config.sandbox.port` when a provider needs one and
 * `config.sandbox.url` is not set.
 * @throws AppError `db_locked` (embedded folder in use) or driver errors (server unreachable).
 */
export async function buildServices(config: AppConfig, overrides: ServiceOverrides = {}): Promise<Services> {
  const logger = overrides.logger ?? createLogger(config.logLevel);
  const clock = overrides.clock ?? systemClock;
  const { sandbox, sandboxUrl } = await startSandboxIfNeeded(config, logger);
  let db: Database;
  try {
    db =
      overrides.db ??
      (await openDatabase({
        url: config.db.url,
        dataDir: config.db.dataDir,
        embeddedPort: config.db.embeddedPort,
        poolMax: overrides.poolMax ?? config.db.poolMax,
        migrate: overrides.migrate ?? false,
      }));
  } catch (err) {
    await sandbox?.close();
    throw err;
  }
  const rawProviders = createRawProviders(config, overrides, sandboxUrl);
  const { gateway, listener } = await createGateway(config, db, clock, logger, overrides.observer);
  const providers = gateProviders(rawProviders, gateway);
  const sandboxed = Object.fromEntries(
    (Object.keys(config.providers) as ProviderId[]).map((id) => [id, config.providers[id].sandbox]),
  ) as Record<ProviderId, boolean>;
  const ownDb = overrides.db === undefined;
  return {
    config,
    logger,
    clock,
    db,
    orm: db.orm,
    providers,
    rawProviders,
    gateway,
    sandboxed,
    sandboxUrl,
    async close() {
      await gateway.close().catch((err: unknown) => logger.error({ err: (err as Error).message }, 'gateway close failed'));
      await listener?.close();
      if (ownDb) await db.close();
      await sandbox?.close();
    },
  };
}
