/**
 * The ops assistant's entry point: `ask` answers a question about the pipeline with the runbooks' diagnostics —
 * through the LLM (tool calling, llm.ts) when an OpenAI key is configured or when asked for, else through the
 * offline planner (planner.ts) — and stores the answer so feedback buttons and eval exports can refer to it.
 *
 * Wiring (done by the bot, not here):
 * - `/lf ask <question>` and the CLI `ask "<question>"`: `const a = await ask(ctx, question, actor, { progress })`,
 *   then `answerBlocks(a)` (Slack) or `answerText(a)` (terminal);
 * - @mentions and DMs: `registerAssistant(app, { ctx, roles, logger })` from bot/listeners/events/assistant.ts.
 */
import type { RunbookContext } from '../../runbooks/context.js';
import type { Actor } from '../../runbooks/actions.js';
import { recentChangeLines, recentChanges } from '../../domain/changes.js';
import { AppError } from '../../domain/errors.js';
import type { AssistantAnswer } from './answer.js';
import { llmAnswer, llmEndpoint, type LlmOptions } from './llm.js';
import { planAnswer, type ActiveAlert, type AskProgress } from './planner.js';
import { saveAnswer, type AskMeta } from './store.js';

export { answerBlocks, answerText, FEEDBACK_ACTION_CORRECT, FEEDBACK_ACTION_WRONG, type AssistantAnswer } from './answer.js';
export { exportEvalCase, type ExportedEvalCase } from './store.js';
export type { AskProgress } from './planner.js';

/** Options of {@link ask}. */
export interface AskOptions {
  progress?: AskProgress;
  /**
   * `auto` (default): the LLM when `OPENAI_API_KEY` is set, else the offline planner; `offline`: the planner;
   * `llm`: the LLM path even without a key (then the sandbox's scripted model answers).
   */
  mode?: 'auto' | 'offline' | 'llm';
  /** Overrides for the LLM loop (deadline, budgets, endpoint). */
  llm?: Partial<LlmOptions>;
  /** Firing alerts; default read from the alerts table. */
  alerts?: ActiveAlert[];
  /** Store the answer (default true): needed for feedback buttons. `meta` adds channel, thread and event id. */
  store?: boolean;
  meta?: Partial<AskMeta>;
  /** An already claimed row (bot/listeners/events/assistant.ts claims one per Slack event). */
  rowId?: number;
}

/** Longest question taken (characters). */
export const QUESTION_MAX = 2000;

/** True when the service has a real OpenAI key (so `auto` uses the LLM). */
export function llmConfigured(ctx: RunbookContext): boolean {
  const p = ctx.services.config.providers.openai;
  return !p.sandbox && p.apiKey !== undefined;
}

/**
 * Answers `question` for `actor` (any role may ask: the assistant only reads, and its buttons check roles when
 * clicked). The answer carries `id` when stored.
 * @throws AppError `bad_request` for an empty question; `approval_required` for an actor without any role.
 */
export async function ask(ctx: RunbookContext, question: string, actor: Actor, opts: AskOptions = {}): Promise<AssistantAnswer> {
  const q = question.trim().slice(0, QUESTION_MAX);
  if (!q) throw new AppError('bad_request', 'ask needs a question, e.g. `ask why did no emails go out today?`');
  if (!actor.role) throw new AppError('approval_required', `${actor.id} has no role; ask an admin for access`);
  const mode = opts.mode ?? 'auto';
  // the guide's first question, "what changed?": given to the model as context and shown with every answer
  const now = ctx.services.clock.now();
  const changes = await recentChanges(ctx.em(), now).then(
    (rc) => recentChangeLines(rc, now),
    () => undefined,
  );
  const useLlm = mode === 'llm' || (mode === 'auto' && llmConfigured(ctx));
  let answer: AssistantAnswer;
  if (useLlm) {
    answer = await llmAnswer(ctx, q, { endpoint: llmEndpoint(ctx.services), progress: opts.progress, alerts: opts.alerts, changes, ...opts.llm });
    // auto: a model that could not be reached at all falls back to the planner
    if (mode === 'auto' && answer.toolCalls.length === 0 && !answer.rootCause && answer.notes.some((n) => n.startsWith('model request failed'))) {
      const offline = await planAnswer(ctx, q, { progress: opts.progress, alerts: opts.alerts });
      answer = { ...offline, notes: [...offline.notes, `LLM unavailable (${answer.notes.join('; ')}); answered offline`] };
    }
  } else {
    answer = await planAnswer(ctx, q, { progress: opts.progress, alerts: opts.alerts });
  }
  answer = { ...answer, changes };
  if (opts.store !== false) {
    const meta: AskMeta = { actor: actor.id, source: actor.source, ...opts.meta };
    answer.id = await saveAnswer(ctx.em(), answer, meta, opts.rowId);
  }
  return answer;
}
