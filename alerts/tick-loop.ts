/**
 * A background loop for the service's keepers (incident channels, drills, breaker cards): `tick()` runs one pass
 * (never two at once: a call waits for the pass in flight), `start()` runs it every `intervalMs` on an unref'd timer,
 * skipping a beat while a pass is still running, and `stop()` ends the timer and waits for the pass in flight.
 */

/** A running loop. */
export interface TickLoop<T> {
  tick(): Promise<T>;
  start(): void;
  stop(): Promise<void>;
}

/** Wraps `once` (one pass) in a {@link TickLoop}; `onError` gets a failed timer pass (a direct `tick()` rejects instead). */
export function createTickLoop<T>(once: () => Promise<T>, intervalMs: number, onError: (err: unknown) => void): TickLoop<T> {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<T> | undefined;
  const tick = async (): Promise<T> => {
    while (running) await running.catch(() => undefined);
    running = once().finally(() => {
      running = undefined;
    });
    return running;
  };
  return {
    tick,
    start() {
      timer ??= setInterval(() => {
        if (!running) void tick().catch(onError);
      }, intervalMs);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await running?.catch(() => undefined);
    },
  };
}
