/**
 * Builds real services for tests: the given (fresh) database, a real sandbox on a free port, and the real
 * provider adapters pointed at it.
 */
import type { Database } from '../../db/orm.js';
import { loadConfig, type AppConfig } from '../../domain/config.js';
import { createLogger } from '../../domain/logger.js';
import type { PipelineDeps } from '../../domain/pipeline/deps.js';
import { buildServices, type ServiceOverrides, type Services } from '../../domain/services.js';

/** Services on `db` with every provider on a fresh sandbox; `env` adds or overrides variables. */
export async function testServices(
  db: Database,
  env: Record<string, string> = {},
  overrides: ServiceOverrides = {},
): Promise<Services> {
  const config: AppConfig = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', SANDBOX_PORT: '0', ...env });
  return buildServices(config, { db, logger: createLogger('silent'), ...overrides });
}

/** Pipeline dependencies from services. */
export function pipelineDeps(s: Services): PipelineDeps {
  return { em: s.orm.em.fork(), providers: s.providers, config: s.config, logger: s.logger, clock: s.clock };
}
