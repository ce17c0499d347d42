/**
 * pino logger factory. Call as pino does: context object of ids first, then the message (no tokens, bodies or full
 * payloads). Every logger made here:
 * - adds the current log context (domain/log-context.ts: `requestId` of an inbound request, `job` / `runId` of a
 *   job run) to each line, and never writes a key twice (a field equal to one of the logger's bindings is dropped);
 * - masks email addresses in every line (domain/log-mask.ts), messages, fields and error texts alike;
 * - collapses repeated errors: the first `error` line of a kind (message + error text) is written at once, the same
 *   again within a minute only counted, then one line says how many (domain/log-collapse.ts);
 * - writes JSON, or readable lines through pino-pretty when LOG_FORMAT=pretty (default: pretty when stdout is a
 *   terminal, JSON otherwise; set LOG_FORMAT=json to force JSON).
 */
import { createRequire } from 'node:module';
import type { Writable } from 'node:stream';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { createRepeatCollapser, type RepeatCollapser } from './log-collapse.js';
import { currentLogContext } from './log-context.js';
import { maskingStream } from './log-mask.js';

export type { Logger };

let defaultErrorSink: Writable | undefined;

/**
 * Sets the error sink loggers created afterwards in this thread use when none is given (the service and the CLI
 * set theirs, so jobs running in-process capture their errors too); undefined clears it.
 */
export function setDefaultErrorSink(sink: Writable | undefined): void {
  defaultErrorSink = sink;
}

/** `pretty` or `json`: LOG_FORMAT when set, else pretty on a terminal. */
export function logFormat(env: NodeJS.ProcessEnv = process.env): 'pretty' | 'json' {
  const f = env.LOG_FORMAT?.trim().toLowerCase();
  if (f === 'json' || f === 'pretty') return f;
  return process.stdout.isTTY ? 'pretty' : 'json';
}

function stdoutStream(): DestinationStream {
  if (logFormat() === 'pretty') {
    // loaded only for a terminal: the CLI's fast paths and JSON logging never pay for it
    const pretty = createRequire(import.meta.url)('pino-pretty') as (o: Record<string, unknown>) => DestinationStream;
    return maskingStream(pretty({ colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' }));
  }
  return maskingStream(pino.destination({ fd: 1, sync: true }));
}

/** Marks a line the collapser writes, so it passes the hook untouched (symbols are not serialised). */
const FROM_COLLAPSER = Symbol('fromCollapser');

function errText(obj: Record<string, unknown>): string {
  const e = obj.err ?? obj.error;
  if (e instanceof Error) return e.message;
  return typeof e === 'string' ? e : '';
}

/** Drops the fields of `obj` whose value equals the logger's binding of the same name (no duplicate keys). */
function withoutBindings(obj: Record<string, unknown>, bindings: Record<string, unknown>): Record<string, unknown> {
  let out = obj;
  for (const k of Object.keys(obj)) {
    if (k in bindings && bindings[k] === obj[k]) {
      if (out === obj) out = { ...obj };
      delete out[k];
    }
  }
  return out;
}

/**
 * Creates the root logger. `level` is a pino level name; 'silent' for tests. `errorSink` (domain/error-log.ts)
 * also receives every record at level error and above, whatever `level` is, so recent errors stay queryable.
 * `out`: where lines go instead of stdout (one JSON line per `write`, masked like stdout), e.g. a test's capture.
 */
export function createLogger(
  level: string,
  base: Record<string, unknown> = {},
  errorSink: Writable | undefined = defaultErrorSink,
  out?: { write(chunk: string): unknown },
): Logger {
  const destination = (): DestinationStream => (out ? maskingStream(out) : stdoutStream());
  let collapser: RepeatCollapser | undefined;
  const options: LoggerOptions = {
    level,
    base: { service: 'leadfactory-ops', ...base },
    redact: { paths: ['*.apiKey', '*.token', '*.authorization', '*.password'], censor: '[redacted]' },
    mixin(_obj, _level, logger) {
      const ctx = currentLogContext() as Record<string, unknown>;
      if (Object.keys(ctx).length === 0) return {};
      // a key the logger binds itself (a child's job/runId) wins over the context's: never written twice
      const bound = logger.bindings();
      return Object.fromEntries(Object.entries(ctx).filter(([k]) => !(k in bound)));
    },
    hooks: {
      logMethod(args, method, lvl) {
        const [first, ...rest] = args as unknown[];
        if (typeof first !== 'object' || first === null || first instanceof Error) return method.apply(this, args);
        const obj = first as Record<string, unknown> & { [FROM_COLLAPSER]?: true };
        if (obj[FROM_COLLAPSER]) return method.apply(this, args);
        const bindings = this.bindings();
        const clean = withoutBindings(obj, bindings);
        if (lvl === 50 && collapser && typeof rest[0] === 'string') {
          const key = `${rest[0]}\u0000${errText(clean)}`;
          collapser.log('error', key, { ...bindings, ...clean, [FROM_COLLAPSER]: true }, rest[0]);
          return;
        }
        return method.apply(this, [clean, ...rest] as Parameters<typeof method>);
      },
    },
  };
  let logger: Logger;
  if (level === 'silent' && !errorSink) logger = pino(options);
  else if (!errorSink) logger = pino(options, destination());
  else {
    const streams: pino.StreamEntry[] = [{ level: 'error', stream: maskingStream(errorSink) }];
    if (level !== 'silent') streams.unshift({ level: level as pino.Level, stream: destination() });
    logger = pino({ ...options, level: level === 'silent' ? 'error' : level }, pino.multistream(streams));
  }
  collapser = createRepeatCollapser(logger);
  return logger;
}
