/** pino logger factory. Call as pino does: context object of ids first, then the message (no tokens, bodies or full payloads). */
import type { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

export type { Logger };

let defaultErrorSink: Writable | undefined;

/**
 * Sets the error sink loggers created afterwards in this thread use when none is given (the service and the CLI
 * set theirs, so jobs running in-process capture their errors too); undefined clears it.
 */
export function setDefaultErrorSink(sink: Writable | undefined): void {
  defaultErrorSink = sink;
}

/**
 * Creates the root logger. `level` is a pino level name; 'silent' for tests. `errorSink` (domain/error-log.ts)
 * also receives every record at level error and above, whatever `level` is, so recent errors stay queryable.
 */
export function createLogger(level: string, base: Record<string, unknown> = {}, errorSink: Writable | undefined = defaultErrorSink): Logger {
  const options = {
    level,
    base: { service: 'leadfactory-ops', ...base },
    redact: { paths: ['*.apiKey', '*.token', '*.authorization', '*.password'], censor: '[redacted]' },
  };
  if (!errorSink) return pino(options);
  const streams: pino.StreamEntry[] = [{ level: 'error', stream: errorSink }];
  if (level !== 'silent') streams.unshift({ level: level as pino.Level, stream: pino.destination(1) });
  return pino({ ...options, level: level === 'silent' ? 'error' : level }, pino.multistream(streams));
}
