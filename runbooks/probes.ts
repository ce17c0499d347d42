/** The real {@link ProcessProbes}: process memory, OS memory and event-loop delay (perf_hooks histogram). */
import os from 'node:os';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { ProcessProbes } from './context.js';

let histogram: IntervalHistogram | undefined;

/** Probes of this process. The event-loop histogram (20 ms resolution) starts on first use and is reset on each read. */
export function processProbes(): ProcessProbes {
  if (!histogram) {
    histogram = monitorEventLoopDelay({ resolution: 20 });
    histogram.enable();
  }
  const h = histogram;
  return {
    memoryUsage: () => process.memoryUsage(),
    eventLoopLagMs: () => {
      const p99 = h.count > 0 ? h.percentile(99) / 1e6 : 0; // ns → ms
      h.reset();
      return Math.round(p99 * 10) / 10;
    },
    freeMemBytes: () => os.freemem(),
    totalMemBytes: () => os.totalmem(),
  };
}
