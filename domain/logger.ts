/** pino logger factory. Call as pino does: context object of ids first, then the message (no tokens, bodies or full payloads). */
import { pino, type Logger } from 'pino';

export type { Logger };

/** Creates the root logger. `level` is a pino level name; 'silent' for tests. */
export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { service: 'leadfactory-ops', ...base },
    redact: { paths: ['*.apiKey', '*.token', '*.authorization', '*.password'], censor: '[redacted]' },
  });
}
