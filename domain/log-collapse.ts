/**
 * Collapses repeated identical log lines: the first occurrence of a key is logged at once; later occurrences within
 * `windowMs` (default one minute) are only counted, and when the window ends one line says how many there were
 * (`repeated: N`, `windowMs`). A failure that repeats every 250 ms during an outage thus writes one line a minute
 * instead of hundreds. Keys are the caller's choice (e.g. `tick`, `retry:<channel>:<error>`).
 */
import type { Logger } from './logger.js';

/** Log levels the collapser writes at. */
export type CollapseLevel = 'warn' | 'error' | 'info';

/** See the module comment. */
export interface RepeatCollapser {
  /** Logs `msg` with `obj` now, or counts it when `key` was logged less than `windowMs` ago. */
  log(level: CollapseLevel, key: string, obj: Record<string, unknown>, msg: string): void;
  /** Writes the pending counts now (e.g. at shutdown) and forgets every key. */
  flush(): void;
}

interface Window {
  level: CollapseLevel;
  msg: string;
  obj: Record<string, unknown>;
  repeated: number;
  timer: NodeJS.Timeout;
}

/** Creates a collapser writing to `logger`. `windowMs` default 60,000. */
export function createRepeatCollapser(logger: Logger, opts: { windowMs?: number } = {}): RepeatCollapser {
  const windowMs = opts.windowMs ?? 60_000;
  const open = new Map<string, Window>();

  const close = (key: string) => {
    const w = open.get(key);
    if (!w) return;
    clearTimeout(w.timer);
    open.delete(key);
    if (w.repeated > 0) logger[w.level]({ ...w.obj, repeated: w.repeated, windowMs }, `${w.msg} (repeated ${w.repeated}× in ${Math.round(windowMs / 1000)} s)`);
  };

  return {
    log(level, key, obj, msg) {
      const w = open.get(key);
      if (w) {
        w.repeated += 1;
        w.obj = obj;
        return;
      }
      logger[level](obj, msg);
      const timer = setTimeout(() => close(key), windowMs);
      timer.unref();
      open.set(key, { level, msg, obj, repeated: 0, timer });
    },
    flush() {
      for (const key of [...open.keys()]) close(key);
    },
  };
}
