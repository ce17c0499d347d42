/**
 * The two assessors and their per-assessor timeouts. Each returns an {@link AssessorOutcome} and never throws:
 * a provider error, a timeout or an unusable answer is a failed outcome with its message.
 */
import { withActiveBudget } from '../concurrency/budget.js';
import { LighthouseRuntimeError } from '../errors.js';
import type { PipelineDeps } from '../pipeline/deps.js';
import type { PageSpeedResult } from '../providers/pagespeed/port.js';
import { insightPrompt, parseInsight, type Insight } from './insight.js';

/**
 * An assessor's result: `ok` with its value, or failed with a one-line `error` (`timedOut` when the timeout won;
 * `code` = Lighthouse's `runtimeError.code` when PageSpeed answered 200 without a measurement).
 */
export type AssessorOutcome<T> = { ok: true; value: T; ms: number } | { ok: false; error: string; timedOut: boolean; ms: number; code?: string };

/** The assessor did not answer within its timeout. */
export class AssessorTimeoutError extends Error {
  constructor(
    readonly assessor: string,
    readonly ms: number,
  ) {
    super(`${assessor}: no answer within ${ms} ms (assessor timeout)`);
    this.name = 'AssessorTimeoutError';
  }
}

/**
 * Resolves with `p()`, or rejects with {@link AssessorTimeoutError} once the call has spent `ms` of *active* time:
 * time it waited in our own queues (the provider's concurrency gate, the shared rate limiter) does not count
 * (domain/concurrency/budget.ts), so only the provider's own slowness times an assessor out. The losing call is
 * not cancelled (the ports take no signal); its late result or error is swallowed, and the gateway's own
 * deadline ends it.
 */
export function withTimeout<T>(assessor: string, ms: number, p: () => Promise<T>): Promise<T> {
  return withActiveBudget(ms, p, () => new AssessorTimeoutError(assessor, ms));
}

async function outcome<T>(name: string, ms: number, run: () => Promise<T>): Promise<AssessorOutcome<T>> {
  const started = Date.now();
  try {
    const value = await withTimeout(name, ms, run);
    return { ok: true, value, ms: Date.now() - started };
  } catch (err) {
    const timedOut = err instanceof AssessorTimeoutError;
    const message = err instanceof Error ? err.message : String(err);
    const error = timedOut || new RegExp(`^${name}[ :]`).test(message) ? message : `${name}: ${message}`;
    const code = err instanceof LighthouseRuntimeError ? err.lighthouseCode : undefined;
    return { ok: false, error, timedOut, ms: Date.now() - started, ...(code ? { code } : {}) };
  }
}

/**
 * PageSpeed Insights v5, mobile strategy, through the gateway-wrapped port, within
 * `config.stages.pagespeedTimeoutMs`. The value holds `scores` (`lighthouseResult.categories.<id>.score` × 100),
 * `metrics` (`audits.<id>.numericValue`) and the top-5 `opportunities` by `details.overallSavingsMs`.
 */
export function runPageSpeed(deps: PipelineDeps, url: string): Promise<AssessorOutcome<PageSpeedResult>> {
  return outcome('pagespeed', deps.config.stages.pagespeedTimeoutMs, () => deps.providers.pagespeed.run(url, 'mobile'));
}

/**
 * The AI insight (OpenAI chat completion in JSON mode) from the measured PageSpeed facts and the clipped name,
 * within `config.stages.openaiTimeoutMs`. The answer (`choices[0].message.content`) is validated by
 * `parseInsight`; a cut-off, refused or malformed answer is a failed outcome.
 */
export function runInsight(deps: PipelineDeps, name: string, ps: PageSpeedResult): Promise<AssessorOutcome<Insight>> {
  return outcome('openai', deps.config.stages.openaiTimeoutMs, async () => parseInsight(await deps.providers.openai.chat(insightPrompt(name, ps))));
}
