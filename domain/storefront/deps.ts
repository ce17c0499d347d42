/** What the storefront's functions need; `Services` and the webhook routes' `WebhookDeps` both provide it. */
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Clock } from '../clock.js';
import type { AppConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { Providers } from '../services.js';

/** Storefront dependencies: gateway-wrapped `providers` (Stripe, SendGrid), the ORM (forked per call), the clock. */
export interface StorefrontDeps {
  orm: MikroORM;
  config: AppConfig;
  providers: Providers;
  clock: Clock;
  logger: Logger;
}
