/**
 * Streaming assessment, for a pipeline run with adaptive concurrency (domain/pipeline/overlap.ts): instead of
 * claiming fixed batches and working through them, it claims exactly as many `assessment_pending` businesses as
 * the PageSpeed gate has room for (calls it would admit now beyond those in flight and queued), starts them, and
 * claims again whenever a call finishes. So the provider is kept as busy as its budget allows while no business
 * sits claimed — leased and counted against its timeouts — in a queue of ours (backpressure from the gate to the
 * claim). Claims use {@link claimBatch} (leases renewed while the stream runs), results {@link assessBusiness}.
 */
import { withDbRetry } from '../db-retry.js';
import { keepLeases, processHolder } from '../leases.js';
import type { PipelineDeps, ProgressFn } from '../pipeline/deps.js';
import { assessBusiness, claimBatch, type AssessResult } from './assess.js';

/** What the stream reads from the PageSpeed gate and from the run. */
export interface AssessStreamOptions {
  /** Calls the PageSpeed gate would admit now beyond those in flight and queued (Gate.room). */
  room: () => number;
  /** Resolves when a gated call finished (room may have opened), or after `maxMs` (Gate.changed). */
  changed: (maxMs: number) => Promise<void>;
  /** True once nothing more will become `assessment_pending` in this run (sourcing finished). */
  upstreamDone: () => boolean;
  /** Most businesses in progress at once (PageSpeed, then the AI insight, then storing): a memory bound. */
  maxInProgress: number;
  /** How often to look for newly sourced businesses while the gate has room and nothing is pending (ms). */
  pollMs?: number;
}

/**
 * Assesses `assessment_pending` businesses as the PageSpeed gate makes room, until the upstream is done and
 * nothing is left or in progress. Reports `assessed` / `assessment_failed` progress per business; rejects with
 * the first storage error after every business in progress has settled.
 */
export async function assessStreaming(deps: PipelineDeps, opts: AssessStreamOptions, progress: ProgressFn = () => {}): Promise<AssessResult> {
  const out: AssessResult = { assessed: 0, failed: 0 };
  const { leaseMs, dbOutageMaxWaitMs } = deps.config.stages;
  const holder = deps.holder ?? processHolder();
  const keeper = keepLeases({ em: () => deps.em.fork(), holder, leaseMs, now: () => deps.clock.now(), logger: deps.logger });
  const inProgress = new Set<Promise<void>>();
  let failure: { err: unknown } | undefined;
  const start = (b: Awaited<ReturnType<typeof claimBatch>>[number]) => {
    const p: Promise<void> = assessBusiness(deps, b)
      .then((r) => {
        out[r]++;
        progress(r === 'assessed' ? 'assessed' : 'assessment_failed', 1);
      })
      .catch((err: unknown) => {
        failure ??= { err };
      })
      .finally(() => inProgress.delete(p));
    inProgress.add(p);
  };
  try {
    for (;;) {
      const upstreamDone = opts.upstreamDone(); // read before the claim: what is sourced later is seen next pass
      const want = Math.min(opts.room(), opts.maxInProgress - inProgress.size);
      let claimed = 0;
      if (want > 0) {
        const rows = await withDbRetry(() => claimBatch({ ...deps, em: deps.em.fork(), holder }, want), {
          maxWaitMs: dbOutageMaxWaitMs,
          logger: deps.logger,
          what: 'assessment claim',
        });
        claimed = rows.length;
        for (const b of rows) start(b); // each enters the gate synchronously, so room() already counts it
      }
      if (failure) break;
      if (want > 0 && claimed === want) continue;
      if (claimed === 0 && upstreamDone && inProgress.size === 0 && want > 0) break;
      // no room (wait for a call to finish) or nothing pending yet (look again soon)
      await opts.changed(want > 0 ? (opts.pollMs ?? 100) : 1000);
    }
  } finally {
    await Promise.allSettled([...inProgress]);
    keeper.stop();
  }
  if (failure) throw failure.err;
  return out;
}
