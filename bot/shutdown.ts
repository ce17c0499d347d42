/**
 * The service's shutdown registry (bot/main.ts registers each part as it starts): the order parts stop in, and the
 * exit code a shutdown ends with.
 */
import type { Logger } from '../domain/logger.js';

/** The parts of the service, in the order a shutdown stops them (the scheduler first, the database last). */
export const STOP_ORDER = ['leader', 'http', 'dbWatch', 'pages', 'spool', 'notifier', 'incidentRooms', 'drills', 'poster', 'errorLog', 'services'] as const;
export type Part = (typeof STOP_ORDER)[number];
/** Set once a signal started the shutdown: start-up errors after it (parts closed under it) are not fatal. */
let signalled = false;

/**
 * The service's shutdown: `register(part, stop)` as each part starts; `run(signal)` (once) stops the registered
 * parts in {@link STOP_ORDER} (a part that fails to stop is logged and the rest still stop), then exits 0, or 1
 * after 9 s (jobs get SHUTDOWN_GRACE_MS of that) or when a part failed.
 */
export function createShutdown(logger: Logger): { register: (part: Part, stop: () => unknown) => void; run: (signal: string) => Promise<void> } {
  const stops = new Map<Part, () => unknown>();
  let stopping = false;
  return {
    register: (part, stop) => void stops.set(part, stop),
    async run(signal) {
      if (stopping) return;
      stopping = true;
      signalled = true;
      logger.info({ signal, running: STOP_ORDER.filter((p) => stops.has(p)) }, 'shutting down');
      const force = setTimeout(() => {
        logger.error('shutdown took too long; exiting');
        process.exit(1);
      }, 9_000);
      force.unref();
      let failed = false;
      for (const part of STOP_ORDER) {
        try {
          await stops.get(part)?.();
        } catch (err) {
          failed = true;
          logger.error({ part, err: (err as Error).message }, 'shutdown failed');
        }
      }
      if (!failed) logger.info('stopped');
      process.exit(failed ? 1 : 0);
    },
  };
}

/** True once a signal started the shutdown (bot/main.ts then ignores a start-up error: its parts were closed under it). */
export function shutdownSignalled(): boolean {
  return signalled;
}
