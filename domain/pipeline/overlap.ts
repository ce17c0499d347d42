/**
 * The pipeline's stages run overlapped, so the binding provider (PageSpeed at the default limits) is busy from
 * the start of a run to its end: sourcing pages in businesses while assessment already works on the first ones;
 * assessment streams (assessment/stream.ts): it claims as many businesses as the PageSpeed gate has room for and
 * claims again as each call finishes, so the provider never idles on a batch's tail and no business waits claimed
 * in a queue of ours, until sourcing is done and nothing is left; scoring, personalization and delivery follow
 * behind in a loop.
 *
 * Concurrency is adaptive (domain/concurrency): every provider call passes its provider's gate, which sizes the
 * calls in flight from the provider's budget and the latency it observes. When `ASSESSMENT_CONCURRENCY` /
 * `EMAIL_CONCURRENCY` are not set, the stages claim and start as many items as the gates could admit, and the gates
 * decide what is in flight; when set, they stay hand-tuned caps.
 */
import type { ITarget } from '../../db/entities/index.js';
import { createGates, gateConcurrency, type Gate } from '../concurrency/gate.js';
import { assessPending } from '../assessment/assess.js';
import { assessStreaming } from '../assessment/stream.js';
import type { ProviderId } from '../config.js';
import { sendPending } from '../delivery/send.js';
import { personalizeScored } from '../personalization/draft.js';
import { scoreAssessed } from '../scoring/score.js';
import { sourceTarget } from '../sourcing/source.js';
import type { PipelineDeps, ProgressFn, StageCount } from './deps.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A target with the businesses it may still source today. */
export interface SourcingTarget {
  target: ITarget;
  available: number;
}

/**
 * The run's dependencies with gated providers and, when not hand-tuned, stage widths the gates can fill.
 * `batchOverridden`: an operator set the assessment batch size (setting `pipeline.assessment_batch_size`); it is
 * then kept, and so is the per-run cap of MAX_BATCHES_PER_RUN batches (see {@link runOverlapped}).
 */
export function adaptiveDeps(deps: PipelineDeps, batchOverridden = false, gates: Record<ProviderId, Gate> = createGates(deps.config)): OverlapDeps {
  const { delivery } = deps.config;
  const stages = { ...deps.config.stages, adaptiveConcurrency: deps.config.stages.adaptiveConcurrency && !batchOverridden };
  const width = (p: ProviderId) => Math.max(1, gates[p].control.ceilingBound());
  const assessWidth = Math.min(1000, width('pagespeed'));
  const config = {
    ...deps.config,
    stages: stages.adaptiveConcurrency
      ? { ...stages, assessmentConcurrency: assessWidth, assessmentBatchSize: Math.max(stages.assessmentBatchSize, Math.ceil(assessWidth / 2)) }
      : stages,
    delivery: delivery.adaptiveConcurrency ? { ...delivery, emailConcurrency: width('sendgrid') } : delivery,
  };
  return { ...deps, config, providers: gateConcurrency(deps.providers, gates), gates };
}

/** A run's dependencies with the concurrency gates its providers pass (from {@link adaptiveDeps}). */
export interface OverlapDeps extends PipelineDeps {
  gates?: Record<ProviderId, Gate>;
}

/**
 * Sources `targets`, assesses, scores, personalizes and sends, overlapped (module comment). Counts go through
 * `progress`; `checkpoint(stage)` is called as each stage finishes. Rejects with the first stage error after every
 * stage has stopped.
 */
export async function runOverlapped(
  deps: OverlapDeps,
  targets: SourcingTarget[],
  counts: Record<StageCount, number>,
  progress: ProgressFn,
  checkpoint: (stage: string) => Promise<void>,
): Promise<void> {
  let sourcing = true;
  let assessing = true;
  const sourced = (async () => {
    try {
      for (const t of targets) {
        if (t.available <= 0) continue;
        const r = await sourceTarget(deps, t.target, t.available, progress);
        counts.duplicates += r.duplicates;
        counts.no_website += r.noWebsite;
      }
    } finally {
      sourcing = false;
    }
    await checkpoint('sourcing');
  })();
  // Adaptive: the run assesses everything it sources. Hand-tuned (or an operator's batch size): one loop and at
  // most MAX_BATCHES_PER_RUN batches per run, the rest left to the next run or the assessment batch job.
  const gates = deps.config.stages.adaptiveConcurrency ? deps.gates : undefined;
  const assessStage = async () => {
    if (!gates) {
      while (sourcing) await sleep(50);
      await assessPending(deps, progress); // at most MAX_BATCHES_PER_RUN batches
      return;
    }
    const { pagespeed, openai } = gates;
    await assessStreaming(deps, {
      room: () => pagespeed.room,
      changed: (ms) => pagespeed.changed(ms),
      upstreamDone: () => !sourcing,
      maxInProgress: pagespeed.control.ceilingBound() + openai.control.ceilingBound(),
    }, progress);
  };
  const assessed = assessStage().finally(() => {
    assessing = false;
  }).then(() => checkpoint('assessment'));
  const downstream = (async () => {
    for (;;) {
      const upstreamDone = !assessing;
      await scoreAssessed(deps, progress);
      await personalizeScored(deps, progress);
      const sent = await sendPending(deps, progress);
      if (upstreamDone || sent.paused) break;
      await sleep(250);
    }
    await checkpoint('delivery');
  })();
  const results = await Promise.allSettled([sourced, assessed, downstream]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
