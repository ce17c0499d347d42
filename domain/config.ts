/**
 * Configuration, parsed once at each entry point from the environment (zod).
 *
 * Every problem is reported at once, by variable name ({@link ConfigError}). Secrets have no defaults.
 * A provider without an API key is served by the local sandbox (domain/sandbox), which production refuses.
 * `.env.example` lists every key read here.
 */
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { DeliveryEnvSchema, buildDeliveryConfig, type DeliveryConfig } from './delivery/config.js';
import { GatewayEnvSchema, buildGatewayConfig, type GatewayConfig } from './gateway/config.js';
import { PipelineEnvSchema, buildStagesConfig, type StagesConfig } from './pipeline/config.js';
import { AlertingEnvSchema, buildAlertingConfig, type AlertingConfig } from './alerting/config.js';
import { StorefrontEnvSchema, buildStorefrontConfig, type StorefrontConfig } from './storefront/config.js';
import { RecoveryEnvSchema, buildRecoveryConfig, type RecoveryConfig } from './recovery/config.js';
import { OncallEnvSchema, buildOncallConfig, type OncallConfig } from './oncall/config.js';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));
const optionalUrl = optionalString.pipe(z.url().optional());
const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();

/** Comma- or space-separated Slack ids: users (U…, W…) or user groups (S…). */
const idList = z
  .string()
  .optional()
  .transform((v) => (v ?? '').split(/[\s,]+/).filter(Boolean))
  .refine((ids) => ids.every((id) => /^[UWS][A-Z0-9]{2,}$/.test(id)), {
    message: 'expected Slack user ids (U…/W…) or user-group ids (S…), comma-separated',
  });

/**
 * What a Slack post is, for routing it to a channel (alerts/slack-routing.ts): status posts, alert group messages,
 * incident messages, pages (mentions and DMs of an incident's responders), recoveries (a provider answering again),
 * drill reports (`/lf drill`) and assistant answers (always in the asker's conversation).
 */
export const SLACK_ROUTES = ['status', 'alerts', 'incidents', 'pages', 'recoveries', 'drills', 'answers'] as const;
/** One of {@link SLACK_ROUTES}. */
export type SlackRoute = (typeof SLACK_ROUTES)[number];

/** `SLACK_ROUTES`: `kind=#channel` pairs, comma-separated, e.g. `pages=#lf-oncall,recoveries=#lf-alerts`. */
const routeMap = z
  .string()
  .optional()
  .transform((v, ctx) => {
    const out: Partial<Record<SlackRoute, string>> = {};
    for (const pair of (v ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
      const [kind, channel] = pair.split('=').map((x) => x.trim());
      if (!kind || !channel || !(SLACK_ROUTES as readonly string[]).includes(kind) || kind === 'answers')
        ctx.addIssue({ code: 'custom', message: `expected kind=#channel with kind one of ${SLACK_ROUTES.filter((r) => r !== 'answers').join(', ')}; got "${pair}"` });
      else out[kind as SlackRoute] = channel;
    }
    return out;
  });

/** Five-or-six field cron expression (Bree/later syntax); checked for shape here, fully by Bree at start. */
const cron = z
  .string()
  .trim()
  .refine((v) => /^(\S+\s+){4,5}\S+$/.test(v), { message: 'expected a cron expression with 5 or 6 fields' });

const EnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  PORT: port.default(3000),
  HOST: z.string().trim().default('0.0.0.0'),
  METRICS_TOKEN: optionalString,

  DATABASE_URL: optionalString.refine((v) => v === undefined || (URL.canParse(v) && /^postgres(ql)?:\/\//.test(v)), {
    message: 'expected a postgres:// or postgresql:// URL',
  }),
  DATA_DIR: z.string().default('.data'),
  PGLITE_PORT: port.default(54329),
  DB_POOL_MAX: positiveInt.max(50).default(10),

  SLACK_SIGNING_SECRET: optionalString,
  SLACK_BOT_TOKEN: optionalString,
  SLACK_API_URL: optionalUrl,
  SLACK_STATUS_CHANNEL: z.string().default('#leadfactory-status'),
  SLACK_APP_TOKEN: optionalString.refine((v) => v === undefined || v.startsWith('xapp-'), { message: 'expected an app-level token (xapp-…)' }),
  SLACK_BUTTON_STALE_MINUTES: positiveInt.max(7 * 24 * 60).default(30),
  SLACK_ROUTES: routeMap,
  LF_ADMINS: idList,
  LF_OPERATORS: idList,
  LF_VIEWERS: idList,
  LF_DEFAULT_ROLE: z.enum(['none', 'viewer', 'operator', 'admin']).default('viewer'),
  LF_CLI_ROLE: z.enum(['viewer', 'operator', 'admin']).default('admin'),

  SANDBOX_SEED: z.coerce.number().int().default(42),
  SANDBOX_PORT: port.default(0),
  SANDBOX_FIXTURES: optionalString,
  SANDBOX_URL: optionalUrl,
  SANDBOX_LATENCY: z.enum(['zero', 'realistic']).default('zero'),
  SANDBOX_TIME_SCALE: z.coerce.number().positive().max(100).default(1),

  YELP_API_KEY: optionalString,
  YELP_BASE_URL: optionalUrl,
  PAGESPEED_API_KEY: optionalString,
  PAGESPEED_BASE_URL: optionalUrl,
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: optionalUrl,
  OPENAI_MODEL: z.string().default('gpt-4o-mini'),
  SENDGRID_API_KEY: optionalString,
  SENDGRID_BASE_URL: optionalUrl,
  SENDGRID_FROM_EMAIL: z.email().default('audits@leadfactory.example'),
  STRIPE_SECRET_KEY: optionalString,
  STRIPE_API_URL: optionalUrl,
  PROVIDER_TIMEOUT_MS: positiveInt.default(30_000),
  /**
   * One PageSpeed attempt's HTTP timeout (ms): a Lighthouse run takes 10–30 s and up to about a minute, so the
   * other providers' PROVIDER_TIMEOUT_MS would cut real answers off (and retry them, spending rate budget).
   */
  PAGESPEED_TIMEOUT_MS: positiveInt.default(90_000),

  YELP_BATCH_SIZE: positiveInt.max(50).default(50),
  PIPELINE_CRON: cron.default('0 2 * * *'),
  RUN_ON_START: bool.optional(),
  JOBS_IN_PROCESS: bool.default(false),
})
  .extend(GatewayEnvSchema.shape)
  .extend(DeliveryEnvSchema.shape)
  .extend(StorefrontEnvSchema.shape)
  .extend(PipelineEnvSchema.shape)
  .extend(AlertingEnvSchema.shape)
  .extend(RecoveryEnvSchema.shape)
  .extend(OncallEnvSchema.shape);

/** Provider ids, as used in config, metrics labels and provider_state rows. */
export const PROVIDERS = ['yelp', 'pagespeed', 'openai', 'sendgrid', 'stripe'] as const;
export type ProviderId = (typeof PROVIDERS)[number];

/** Per-provider connection settings. `apiKey` undefined means "use the sandbox". */
export interface ProviderConfig {
  apiKey: string | undefined;
  /** Base URL from the environment; when undefined the provider's public URL, or the sandbox's. */
  baseUrl: string | undefined;
  /** True when no key is set, so the sandbox answers this provider. */
  sandbox: boolean;
}

/** The parsed configuration. Durations in ms unless the name says otherwise. */
export interface AppConfig {
  env: 'development' | 'test' | 'production';
  logLevel: string;
  port: number;
  /** Interface the HTTP server binds (HOST; `0.0.0.0` every IPv4 interface, `127.0.0.1` loopback only). */
  host: string;
  /** Bearer token `/metrics` requires (METRICS_TOKEN); undefined = open, as Prometheus scrapes by default. */
  metricsToken: string | undefined;
  /** `embeddedPort`: loopback port of the embedded database's socket (PGLITE_PORT, 0 = any free port). */
  db: { url: string | undefined; dataDir: string; poolMax: number; embeddedPort: number };
  slack: {
    signingSecret: string;
    botToken: string | undefined;
    apiUrl: string | undefined;
    statusChannel: string;
    /** App-level token (xapp-…): when set, Socket Mode instead of HTTP for Slack (webhooks still served over HTTP). */
    appToken: string | undefined;
    /** Remediation buttons older than this are refused as stale (ms). */
    buttonStaleMs: number;
    /**
     * Channel per kind of post (SLACK_ROUTES) overriding the defaults: status → SLACK_STATUS_CHANNEL, alerts →
     * SLACK_ALERTS_CHANNEL, incidents → SLACK_INCIDENTS_CHANNEL, pages → the incidents channel, recoveries → the
     * status channel, drills → the incidents channel (alerts/slack-routing.ts).
     */
    routes: Partial<Record<SlackRoute, string>>;
  };
  /**
   * Roles by Slack id (user U…/W… or user group S…), most privileged match wins; `defaultRole` for everyone else
   * (`none` = no access); `cliRole` for whoever runs the terminal CLI (they hold database access anyway).
   */
  roles: { admins: string[]; operators: string[]; viewers: string[]; defaultRole: 'none' | 'viewer' | 'operator' | 'admin'; cliRole: 'viewer' | 'operator' | 'admin' };
  /** `url`: an already running sandbox to use (worker threads get the main process's); else one is started. */
  /** `latency`: sandbox answer delays (`zero`, or `realistic` from published figures); `timeScale` multiplies them. */
  sandbox: {
    seed: number;
    port: number;
    fixturesDir: string | undefined;
    url: string | undefined;
    latency: 'zero' | 'realistic';
    timeScale: number;
  };
  providers: Record<ProviderId, ProviderConfig>;
  openaiModel: string;
  sendgridFrom: string;
  /** Per-attempt HTTP timeout (ms) of every provider client but PageSpeed's (PROVIDER_TIMEOUT_MS). */
  providerTimeoutMs: number;
  /** Per-attempt HTTP timeout (ms) of each provider client: PageSpeed's PAGESPEED_TIMEOUT_MS, the others' PROVIDER_TIMEOUT_MS. */
  providerTimeouts: Record<ProviderId, number>;
  pipeline: { yelpBatchSize: number; cron: string; runOnStart: boolean };
  jobsInProcess: boolean;
  /** True when any provider is served by the sandbox. */
  usesSandbox: boolean;
  /** Rate limits, breaker, cache, retries, prices and budgets (domain/gateway/config.ts). */
  gateway: GatewayConfig;
  /** Batch sizes, unsubscribe, postal footer, event webhook, bounce rate (domain/delivery/config.ts). */
  delivery: DeliveryConfig;
  /** Pricing, tax, Stripe Checkout and webhook (domain/storefront/config.ts). */
  storefront: StorefrontConfig;
  /** Assessment, spam threshold, stuck detection (domain/pipeline/config.ts). */
  stages: StagesConfig;
  /** Alert channels, Alertmanager token, evaluation interval, incident policy, escalation contacts (domain/alerting/config.ts). */
  alerting: AlertingConfig;
  /** Backup folder, retention, PostgreSQL client programs (domain/recovery/config.ts). */
  recovery: RecoveryConfig;
  /** On-call defaults, hand-off channel, iCalendar token, paging by email, PagerDuty and Opsgenie (domain/oncall/config.ts). */
  oncall: OncallConfig;
}

/** Development-only signing secret, so a newcomer's `npm start` needs no Slack app. Refused in production. */
export const DEV_SIGNING_SECRET = 'dev-signing-secret-not-for-production';

/**
 * Parses `env` into an {@link AppConfig}.
 * @throws ConfigError listing every invalid or missing variable by name, one per line.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const parsed = EnvSchema.safeParse(withoutEmpty(env));
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  if (production && !e.SLACK_SIGNING_SECRET) problems.push('SLACK_SIGNING_SECRET: required in production');
  const providers = buildProviders(e, production, problems);
  if (e.SANDBOX_FIXTURES !== undefined && production) problems.push('SANDBOX_FIXTURES: not allowed in production');
  const delivery = buildDeliveryConfig(e, production, problems);
  const storefront = buildStorefrontConfig(e, production, problems, delivery.publicBaseUrl);
  if (problems.length > 0) throw new ConfigError(problems);
  const oncall = buildOncallConfig(e, production);

  return {
    env: e.NODE_ENV,
    logLevel: e.LOG_LEVEL,
    port: e.PORT,
    host: e.HOST,
    metricsToken: e.METRICS_TOKEN,
    db: { url: e.DATABASE_URL, dataDir: e.DATA_DIR, poolMax: e.DB_POOL_MAX, embeddedPort: e.PGLITE_PORT },
    slack: buildSlackConfig(e),
    roles: { admins: e.LF_ADMINS, operators: e.LF_OPERATORS, viewers: e.LF_VIEWERS, defaultRole: e.LF_DEFAULT_ROLE, cliRole: e.LF_CLI_ROLE },
    sandbox: buildSandboxConfig(e),
    providers,
    openaiModel: e.OPENAI_MODEL,
    sendgridFrom: e.SENDGRID_FROM_EMAIL,
    providerTimeoutMs: e.PROVIDER_TIMEOUT_MS,
    providerTimeouts: {
      yelp: e.PROVIDER_TIMEOUT_MS,
      pagespeed: e.PAGESPEED_TIMEOUT_MS,
      openai: e.PROVIDER_TIMEOUT_MS,
      sendgrid: e.PROVIDER_TIMEOUT_MS,
      stripe: e.PROVIDER_TIMEOUT_MS,
    },
    pipeline: { yelpBatchSize: e.YELP_BATCH_SIZE, cron: e.PIPELINE_CRON, runOnStart: e.RUN_ON_START ?? !production },
    jobsInProcess: e.JOBS_IN_PROCESS,
    // the paging providers without keys are answered by the sandbox too (outside production)
    usesSandbox: PROVIDERS.some((id) => providers[id].sandbox) || (oncall.pagerduty.enabled && oncall.pagerduty.sandbox) || (oncall.opsgenie.enabled && oncall.opsgenie.sandbox),
    gateway: buildGatewayConfig(e, { pagespeedTimeoutMs: e.PAGESPEED_TIMEOUT_MS }),
    delivery,
    storefront,
    stages: buildStagesConfig(e),
    alerting: buildAlertingConfig(e),
    recovery: buildRecoveryConfig(e),
    oncall,
  };
}

/** The parsed environment (every variable validated and defaulted). */
type Env = z.infer<typeof EnvSchema>;

/**
 * Each provider's key, base URL and whether the sandbox serves it (no key). In production a missing key is a
 * problem, pushed onto `problems`.
 */
function buildProviders(e: Env, production: boolean, problems: string[]): Record<ProviderId, ProviderConfig> {
  const keys: Record<ProviderId, string | undefined> = {
    yelp: e.YELP_API_KEY,
    pagespeed: e.PAGESPEED_API_KEY,
    openai: e.OPENAI_API_KEY,
    sendgrid: e.SENDGRID_API_KEY,
    stripe: e.STRIPE_SECRET_KEY,
  };
  const urls: Record<ProviderId, string | undefined> = {
    yelp: e.YELP_BASE_URL,
    pagespeed: e.PAGESPEED_BASE_URL,
    openai: e.OPENAI_BASE_URL,
    sendgrid: e.SENDGRID_BASE_URL,
    stripe: e.STRIPE_API_URL,
  };
  const providers = {} as Record<ProviderId, ProviderConfig>;
  for (const id of PROVIDERS) {
    const sandbox = keys[id] === undefined;
    if (sandbox && production) problems.push(`${envKeyName(id)}: required in production (the sandbox is refused)`);
    providers[id] = { apiKey: keys[id], baseUrl: urls[id], sandbox };
  }
  return providers;
}

/** The Slack settings (the signing secret falls back to {@link DEV_SIGNING_SECRET}; loadConfig refuses that in production). */
function buildSlackConfig(e: Env): AppConfig['slack'] {
  return {
    signingSecret: e.SLACK_SIGNING_SECRET ?? DEV_SIGNING_SECRET,
    botToken: e.SLACK_BOT_TOKEN,
    apiUrl: e.SLACK_API_URL,
    statusChannel: e.SLACK_STATUS_CHANNEL,
    appToken: e.SLACK_APP_TOKEN,
    buttonStaleMs: e.SLACK_BUTTON_STALE_MINUTES * 60_000,
    routes: e.SLACK_ROUTES,
  };
}

/** The sandbox settings (seed, port, fixtures, an already running one's URL, latency model and time scale). */
function buildSandboxConfig(e: Env): AppConfig['sandbox'] {
  return {
    seed: e.SANDBOX_SEED,
    port: e.SANDBOX_PORT,
    fixturesDir: e.SANDBOX_FIXTURES,
    url: e.SANDBOX_URL,
    latency: e.SANDBOX_LATENCY,
    timeScale: e.SANDBOX_TIME_SCALE,
  };
}

/**
 * `env` without its empty (or blank) values: `KEY=` in an env file or an environment means "unset, use the
 * default", as `.env.example` lists every key that way.
 */
export function withoutEmpty(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v.trim() !== '') out[k] = v;
  return out;
}

/** The environment variable holding a provider's key, e.g. `YELP_API_KEY`. */
export function envKeyName(id: ProviderId): string {
  return id === 'stripe' ? 'STRIPE_SECRET_KEY' : `${id.toUpperCase()}_API_KEY`;
}
