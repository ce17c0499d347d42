/**
 * The LLM path: OpenAI chat completions with tool calling through the openai SDK, pointed at the configured base
 * URL (OpenAI with `OPENAI_API_KEY`, else the sandbox, whose scripted model answers tool calls too).
 *
 * Tools: every runbook diagnostic (`<runbook>__<diagnostic>`, read-only) and `propose_remediation` (a button only).
 * Bounds: at most {@link LLM_DEFAULTS.maxToolCalls} tool calls (over budget: answered with an error); the same call
 * with the same arguments refused (an error tool message); every `tool_call_id` answered, in order, including
 * parallel calls (they run concurrently); each output cut to {@link TOOL_OUTPUT_MAX} characters; one deadline for
 * the whole answer (45 s: requests are aborted, diagnostics raced); a token budget (once spent, or once the tool
 * budget is spent, the next request sets `tool_choice: "none"` to force the final answer).
 *
 * A proposal is only kept when its remediation fixes a root cause that the findings gathered so far indicate
 * (grounding): text inside data cannot make the assistant offer an unrelated fix, and nothing is ever executed here.
 */
import type { ChatCompletion, ChatCompletionMessageParam, ChatCompletionMessageToolCall } from 'openai/resources/chat/completions';
import type { Services } from '../../domain/services.js';
import { resolveProvider } from '../../domain/providers/urls.js';
import type { RunbookContext } from '../../runbooks/context.js';
import type { AnswerUsage, AssistantAnswer } from './answer.js';
import { buildLlmAnswer } from './llm-answer.js';
import { modelClient, requestCompletion } from './llm-request.js';
import { handleToolCall, type ToolSession } from './llm-tools.js';
import { activeAlerts, type ActiveAlert, type AskProgress } from './planner.js';
import { SYSTEM_PROMPT, TOOL_OUTPUT_MAX, cutToBudget, userPrompt } from './safety.js';
import { liveRunner, toolCatalog, type ToolRunner } from './tools.js';

/** Where the model is. `sandbox`: the sandbox's scripted model (no key set). */
export interface LlmEndpoint {
  baseUrl: string;
  apiKey: string;
  model: string;
  sandbox: boolean;
}

/** Default bounds of the loop. */
export const LLM_DEFAULTS = {
  maxToolCalls: 10,
  deadlineMs: 45_000,
  tokenBudget: 40_000,
  toolOutputMax: TOOL_OUTPUT_MAX,
  maxTurns: 8,
  maxCompletionTokens: 700,
} as const;

/** Options of {@link llmAnswer}. */
export interface LlmOptions {
  endpoint: LlmEndpoint;
  maxToolCalls?: number;
  deadlineMs?: number;
  tokenBudget?: number;
  toolOutputMax?: number;
  maxTurns?: number;
  progress?: AskProgress;
  alerts?: ActiveAlert[];
  /** What changed in the 24 h before (domain/changes.ts recentChangeLines), given to the model as data. */
  changes?: string[];
  /** Runs diagnostics; default live. */
  runner?: ToolRunner;
  /** USD per million tokens; default from the gateway's OpenAI prices. */
  prices?: { inputPer1M: number; outputPer1M: number };
}

/** The endpoint the service uses: OpenAI (`OPENAI_API_KEY`, `OPENAI_BASE_URL`) or the sandbox's model. */
export function llmEndpoint(services: Services): LlmEndpoint {
  const p = resolveProvider(services.config, 'openai', services.sandboxUrl);
  return { baseUrl: p.baseUrl, apiKey: p.apiKey, model: services.config.openaiModel, sandbox: p.sandbox };
}

/** Canonical JSON (sorted keys) for the repeat guard. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v as object).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

/** The repeat-guard key of a tool call: its name and canonical arguments (or the raw text when unreadable). */
function callKey(tc: ChatCompletionMessageToolCall): string {
  if (tc.type !== 'function') return `custom:${tc.id}`;
  try {
    return `${tc.function.name}:${canonical(JSON.parse(tc.function.arguments || '{}'))}`;
  } catch {
    return `${tc.function.name}:${tc.function.arguments}`;
  }
}

/** The state of one answer's loop. */
interface LoopState extends ToolSession {
  messages: ChatCompletionMessageParam[];
  /** The tool catalog sent with every request. */
  tools: ReturnType<typeof toolCatalog>;
  usage: AnswerUsage;
  notes: string[];
  seen: Set<string>;
  calls: number;
  maxToolCalls: number;
  tokenBudget: number;
  maxTurns: number;
  finalContent?: string;
  refusal?: string;
  cutOff: boolean;
}

/**
 * Decides each tool call of a turn in order: undefined (allowed; counted against the budget) or the refusal text
 * (a repeat of an earlier call, or over the tool budget).
 */
function callVerdicts(st: LoopState, toolCalls: ChatCompletionMessageToolCall[]): (string | undefined)[] {
  return toolCalls.map((tc) => {
    const key = callKey(tc);
    if (st.seen.has(key)) return 'refused: the same call with the same arguments was already made; use its earlier result';
    if (st.calls >= st.maxToolCalls) return `refused: the budget of ${st.maxToolCalls} tool calls is spent; give your final answer now`;
    st.seen.add(key);
    st.calls++;
    return undefined;
  });
}

/** One model request through the gateway (budget, breaker, rate and token limits, ledger row), aborted at the deadline. */
async function requestTurn(ctx: RunbookContext, st: LoopState, client: ReturnType<typeof modelClient>, model: string, forceFinal: boolean): Promise<ChatCompletion | undefined> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), Math.max(1, st.deadline - Date.now()));
  try {
    return await requestCompletion(
      ctx.services.gateway,
      client,
      {
        model,
        messages: st.messages,
        tools: st.tools,
        tool_choice: forceFinal ? 'none' : 'auto',
        parallel_tool_calls: true,
        max_completion_tokens: LLM_DEFAULTS.maxCompletionTokens,
      },
      abort.signal,
    );
  } catch (err) {
    st.notes.push(Date.now() >= st.deadline - 5 || abort.signal.aborted ? 'deadline reached' : `model request failed: ${String((err as Error)?.message ?? err).slice(0, 160)}`);
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** One turn of the loop: ask the model, then answer its tool calls. False when the loop ends (answer, refusal, failure). */
async function runTurn(ctx: RunbookContext, st: LoopState, client: ReturnType<typeof modelClient>, model: string, turn: number): Promise<boolean> {
  if (Date.now() >= st.deadline) {
    st.notes.push('deadline reached');
    return false;
  }
  const forceFinal = st.calls >= st.maxToolCalls || st.usage.totalTokens >= st.tokenBudget || turn === st.maxTurns - 1;
  if (forceFinal && st.calls >= st.maxToolCalls) st.notes.push('tool budget spent');
  if (forceFinal && st.usage.totalTokens >= st.tokenBudget) st.notes.push('token budget spent');
  const completion = await requestTurn(ctx, st, client, model, forceFinal);
  if (!completion) return false;
  st.usage.requests++;
  st.usage.promptTokens += completion.usage?.prompt_tokens ?? 0;
  st.usage.completionTokens += completion.usage?.completion_tokens ?? 0;
  st.usage.totalTokens = st.usage.promptTokens + st.usage.completionTokens;
  const choice = completion.choices[0];
  const msg = choice?.message;
  const toolCalls = msg?.tool_calls ?? [];
  if (msg?.refusal) {
    st.refusal = msg.refusal;
    return false;
  }
  if (choice?.finish_reason === 'length') {
    // cut off at max_completion_tokens: neither its text nor half-written tool calls are an answer
    st.cutOff = true;
    st.finalContent = msg?.content ?? '';
    return false;
  }
  if (!msg || toolCalls.length === 0 || forceFinal) {
    st.finalContent = msg?.content ?? '';
    return false;
  }
  st.messages.push({ role: 'assistant', content: msg.content ?? null, tool_calls: toolCalls });
  // decide each call in order (budget, repeats), then run the allowed ones concurrently
  const verdicts = callVerdicts(st, toolCalls);
  const outputs = await Promise.all(toolCalls.map((tc, i) => handleToolCall(st, tc, verdicts[i])));
  for (const [i, tc] of toolCalls.entries()) st.messages.push({ role: 'tool', tool_call_id: tc.id, content: cutToBudget(outputs[i]!, st.outMax) });
  return true;
}

/** Answers `question` with the model and the tools. Never throws for the model's failures (they become notes). */
export async function llmAnswer(ctx: RunbookContext, question: string, opts: LlmOptions): Promise<AssistantAnswer> {
  const t0 = Date.now();
  const maxToolCalls = opts.maxToolCalls ?? LLM_DEFAULTS.maxToolCalls;
  const prices = opts.prices ?? {
    inputPer1M: ctx.services.config.gateway.prices.openaiInputPer1M,
    outputPer1M: ctx.services.config.gateway.prices.openaiOutputPer1M,
  };
  const alerts = opts.alerts ?? (await activeAlerts(ctx));
  const client = modelClient(opts.endpoint, opts.deadlineMs ?? LLM_DEFAULTS.deadlineMs);
  const st: LoopState = {
    runner: opts.runner ?? liveRunner(ctx),
    deadline: t0 + (opts.deadlineMs ?? LLM_DEFAULTS.deadlineMs),
    outMax: opts.toolOutputMax ?? LLM_DEFAULTS.toolOutputMax,
    progress: opts.progress,
    gathered: new Map(),
    proposals: [],
    records: [],
    tools: toolCatalog(),
    messages: [
      { role: 'system', content: SYSTEM_PROMPT },
      { role: 'user', content: userPrompt(question, alerts, opts.changes) },
    ],
    usage: { model: opts.endpoint.model, requests: 0, promptTokens: 0, completionTokens: 0, totalTokens: 0, costUsd: 0 },
    notes: [],
    seen: new Set(),
    calls: 0,
    maxToolCalls,
    tokenBudget: opts.tokenBudget ?? LLM_DEFAULTS.tokenBudget,
    maxTurns: opts.maxTurns ?? LLM_DEFAULTS.maxTurns,
    cutOff: false,
  };
  opts.progress?.start(maxToolCalls, 'asking the model');
  try {
    for (let turn = 0; turn < st.maxTurns; turn++) if (!(await runTurn(ctx, st, client, opts.endpoint.model, turn))) break;
  } finally {
    opts.progress?.stop();
  }
  const { usage } = st;
  usage.costUsd = (usage.promptTokens * prices.inputPer1M + usage.completionTokens * prices.outputPer1M) / 1e6;
  const { finalContent, refusal, cutOff, gathered, proposals, records, notes } = st;
  return buildLlmAnswer(ctx, question, { finalContent, refusal, cutOff, gathered, proposals, records, notes, usage, endpoint: opts.endpoint, t0 });
}
