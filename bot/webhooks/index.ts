/**
 * Webhook and public routes served beside /slack/events on Bolt's HTTP receiver (customRoutes). Each route
 * file exports a factory taking {@link WebhookDeps}; this index only lists them.
 */
import type http from 'node:http';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Metrics } from '../../alerts/metrics.js';
import type { AppConfig } from '../../domain/config.js';
import type { Clock } from '../../domain/clock.js';
import type { Logger } from '../../domain/logger.js';
import type { Providers } from '../../domain/services.js';
import type { RunbookContext } from '../../runbooks/context.js';
import { alertmanagerWebhookRoute } from './alertmanager.js';
import { storefrontRoutes } from './report-link.js';
import { sendgridWebhookRoute } from './sendgrid.js';
import { stripeWebhookRoute } from './stripe.js';
import { unsubscribeRoute } from './unsubscribe.js';
import { oncallIcalRoute } from './oncall-ical.js';
import { opsgenieWebhookRoute } from './opsgenie.js';
import { pagerdutyWebhookRoute } from './pagerduty.js';

/** What webhook routes receive. */
export interface WebhookDeps {
  config: AppConfig;
  logger: Logger;
  orm: MikroORM;
  clock: Clock;
  metrics: Metrics;
  /** Gateway-wrapped providers (storefront emails reports, replays events). */
  providers: Providers;
  /** Runbook context for the automatic diagnosis of alerts arriving from Alertmanager. */
  runbooks?: RunbookContext;
}

/** A Bolt custom route. */
export interface WebhookRoute {
  path: string;
  method: string[];
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void;
}

/** Every webhook route, in one list (filled in by the delivery and storefront stages). */
export function webhookRoutes(deps: WebhookDeps): WebhookRoute[] {
  return [
    sendgridWebhookRoute(deps),
    unsubscribeRoute(deps),
    stripeWebhookRoute(deps),
    alertmanagerWebhookRoute(deps),
    pagerdutyWebhookRoute(deps),
    opsgenieWebhookRoute(deps),
    oncallIcalRoute(deps),
    ...storefrontRoutes(deps),
  ];
}
