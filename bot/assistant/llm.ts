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
import type { Finding, Runbook } from '../../runbooks/define.js';
import { ungroundedInputs } from '../../runbooks/grounding.js';
import { RUNBOOKS } from '../../runbooks/index.js';
import { redactDeep } from '../../runbooks/redact.js';
import { suggestion, type AnswerUsage, type AssistantAnswer, type SuggestedRemediation, type ToolCallRecord } from './answer.js';
import { buildLlmAnswer } from './llm-answer.js';
import { modelClient, requestCompletion } from './llm-request.js';
import { activeAlerts, type ActiveAlert, type AskProgress } from './planner.js';
import { SYSTEM_PROMPT, TOOL_OUTPUT_MAX, cutToBudget, toolError, userPrompt, wrapToolOutput } from './safety.js';
import { PROPOSE_TOOL, ProposeArgs, indicatedCauses, liveRunner, parseToolName, toolCatalog, type ToolRunner } from './tools.js';

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

/** Resolves with `p`, or with `onTimeout()` once `deadline` (epoch ms) passes. */
function beforeDeadline<T>(p: Promise<T>, deadline: number, onTimeout: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((resolve) => (timer = setTimeout(() => resolve(onTimeout()), Math.max(0, deadline - Date.now()))))]).finally(() =>
    clearTimeout(timer),
  );
}

/** A diagnostic result as the model sees it (before wrapping); evidence shortened first when over budget. */
function toolPayload(rb: Runbook<RunbookContext>, id: string, title: string, finding: Finding, indicated: { id: string; title: string; remediations: string[] }[], max: number): unknown {
  const base = {
    tool: `${rb.id}__${id}`,
    title,
    status: finding.status,
    summary: finding.summary,
    indicated_root_causes: indicated.map((c) => ({ id: `${rb.id}/${c.id}`, title: c.title, remediations: c.remediations })),
    evidence: finding.evidence ?? {},
  };
  // the wrapper adds a header and a fence (~260 characters); backticks become quotes, so lengths are kept
  const room = max - 400;
  const json = JSON.stringify(base);
  if (json.length <= room) return base;
  const ev = JSON.stringify(finding.evidence ?? {});
  const keep = Math.max(0, room - (json.length - ev.length) - 40);
  const cut = { ...base, evidence: { _cut: `${ev.slice(0, keep)}…` } };
  // still too long (a huge summary): shorten the summary too
  const over = JSON.stringify(cut).length - room;
  return over > 0 ? { ...cut, summary: `${finding.summary.slice(0, Math.max(80, finding.summary.length - over - 10))}…` } : cut;
}

/** Answers `question` with the model and the tools. Never throws for the model's failures (they become notes). */
export async function llmAnswer(ctx: RunbookContext, question: string, opts: LlmOptions): Promise<AssistantAnswer> {
  const t0 = Date.now();
  const maxToolCalls = opts.maxToolCalls ?? LLM_DEFAULTS.maxToolCalls;
  const deadline = t0 + (opts.deadlineMs ?? LLM_DEFAULTS.deadlineMs);
  const tokenBudget = opts.tokenBudget ?? LLM_DEFAULTS.tokenBudget;
  const outMax = opts.toolOutputMax ?? LLM_DEFAULTS.toolOutputMax;
  const maxTurns = opts.maxTurns ?? LLM_DEFAULTS.maxTurns;
  const runner = opts.runner ?? liveRunner(ctx);
  const prices = opts.prices ?? {
    inputPer1M: ctx.services.config.gateway.prices.openaiInputPer1M,
    outputPer1M: ctx.services.config.gateway.prices.openaiOutputPer1M,
  };
  const alerts = opts.alerts ?? (await activeAlerts(ctx));
  const client = modelClient(opts.endpoint, opts.deadlineMs ?? LLM_DEFAULTS.deadlineMs);
  const tools = toolCatalog();
  const messages: ChatCompletionMessageParam[] = [
    { role: 'system', content: SYSTEM_PROMPT },
    { role: 'user', content: userPrompt(question, alerts, opts.changes) },
  ];
  const usage: AnswerUsage = { model: opts.endpoint.model, requests: 0, promptTokens: 0, completionTokens: 0, totalTokens: 0, costUsd: 0 };
  const records: ToolCallRecord[] = [];
  const seen = new Set<string>();
  const gathered = new Map<string, { results: Map<string, { title: string; finding: Finding }> }>();
  const proposals: SuggestedRemediation[] = [];
  const notes: string[] = [];
  let calls = 0;
  let finalContent: string | undefined;
  let refusal: string | undefined;
  let cutOff = false;
  opts.progress?.start(maxToolCalls, 'asking the model');

  const findingsOf = (rbId: string): Record<string, Finding> =>
    Object.fromEntries([...(gathered.get(rbId)?.results ?? new Map<string, { title: string; finding: Finding }>())].map(([id, r]) => [id, r.finding]));

  const handle = async (tc: ChatCompletionMessageToolCall, allowed: string | undefined): Promise<string> => {
    const started = Date.now();
    const name = tc.type === 'function' ? tc.function.name : `custom:${tc.custom.name}`;
    let args: Record<string, unknown> = {};
    const record = (output: unknown, ok: boolean) => records.push({ name, args, output: redactDeep(output), ok, ms: Date.now() - started });
    if (allowed !== undefined) {
      record({ error: allowed }, false);
      return toolError(allowed);
    }
    if (tc.type !== 'function') {
      record({ error: 'unknown tool' }, false);
      return toolError(`unknown tool ${name}`);
    }
    try {
      const parsed = JSON.parse(tc.function.arguments || '{}') as unknown;
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('arguments are not a JSON object');
      args = parsed as Record<string, unknown>;
    } catch (err) {
      record({ error: 'unreadable arguments' }, false);
      return toolError(`arguments are not valid JSON (${(err as Error).message.slice(0, 80)}); call again with a JSON object`);
    }
    if (name === PROPOSE_TOOL) {
      const p = ProposeArgs.safeParse(args);
      if (!p.success) {
        record({ error: 'invalid arguments' }, false);
        return toolError(`invalid arguments: ${p.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ').slice(0, 300)}`);
      }
      const rb = RUNBOOKS.find((r) => r.id === p.data.runbook)!;
      const rem = rb.remediations.find((m) => m.id === p.data.remediation);
      if (!rem) {
        record({ error: 'unknown remediation' }, false);
        return toolError(`runbook ${rb.id} has no remediation ${p.data.remediation}`);
      }
      const findings = findingsOf(rb.id);
      const grounds = indicatedCauses(rb, findings).filter((c) => c.remediations.includes(rem.id));
      if (grounds.length === 0) {
        const msg = `not proposed: no root cause indicated by the findings gathered so far in ${rb.id} is fixed by ${rem.id}`;
        record({ refused: msg }, false);
        return toolError(msg);
      }
      let input: Record<string, unknown> = Object.fromEntries(p.data.input.map((kv) => [kv.key, kv.value]));
      if (p.data.input.length === 0) {
        try {
          input = rem.defaultInput?.(findings) ?? {};
        } catch {
          input = {};
        }
      }
      if (rem.inputSchema) {
        const ok = rem.inputSchema.safeParse(input);
        if (!ok.success) {
          record({ error: 'invalid remediation input' }, false);
          return toolError(`invalid input for ${rem.id}: ${ok.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ').slice(0, 300)}`);
        }
        input = ok.data;
      }
      // grounded in its inputs too: the provider must be an affected one, numbers near what the runbook would choose
      const unwarranted = ungroundedInputs(rem, input, findings);
      if (unwarranted.length) {
        const msg = `not proposed: ${unwarranted.join('; ')}`;
        record({ refused: msg, input }, false);
        return toolError(msg);
      }
      if (!proposals.some((s) => s.runbook === rb.id && s.remediation === rem.id)) {
        const s = suggestion(rb.id, rem.id, input);
        if (s) proposals.push(s);
      }
      const out = `Button shown to the operator: "${rem.title}". Nothing was executed: it runs only if a person with the ${rem.requiredRole} role clicks and confirms it.`;
      record({ proposed: `${rb.id}/${rem.id}`, input }, true);
      return out;
    }
    const target = parseToolName(name);
    if (!target) {
      record({ error: 'unknown tool' }, false);
      return toolError(`unknown tool ${name.slice(0, 80)}`);
    }
    const result = await beforeDeadline(runner(target.runbook, target.diagnostic), deadline, () => undefined);
    if (!result) {
      record({ error: 'deadline reached' }, false);
      return toolError('the answer deadline was reached before this diagnostic finished');
    }
    const entry = gathered.get(target.runbook.id) ?? { results: new Map() };
    entry.results.set(target.diagnostic, { title: result.title, finding: result.finding });
    gathered.set(target.runbook.id, entry);
    const indicated = indicatedCauses(target.runbook, findingsOf(target.runbook.id));
    const payload = toolPayload(target.runbook, target.diagnostic, result.title, result.finding, indicated, outMax);
    record(payload, result.finding.status !== 'error');
    opts.progress?.tick(result.title);
    return wrapToolOutput(payload, outMax);
  };

  try {
    for (let turn = 0; turn < maxTurns; turn++) {
      if (Date.now() >= deadline) {
        notes.push('deadline reached');
        break;
      }
      const forceFinal = calls >= maxToolCalls || usage.totalTokens >= tokenBudget || turn === maxTurns - 1;
      if (forceFinal && calls >= maxToolCalls) notes.push('tool budget spent');
      if (forceFinal && usage.totalTokens >= tokenBudget) notes.push('token budget spent');
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), Math.max(1, deadline - Date.now()));
      let completion: ChatCompletion;
      try {
        // through the gateway: budget, breaker, rate and token limits, ledger row
        completion = await requestCompletion(
          ctx.services.gateway,
          client,
          {
            model: opts.endpoint.model,
            messages,
            tools,
            tool_choice: forceFinal ? 'none' : 'auto',
            parallel_tool_calls: true,
            max_completion_tokens: LLM_DEFAULTS.maxCompletionTokens,
          },
          abort.signal,
        );
      } catch (err) {
        notes.push(Date.now() >= deadline - 5 || abort.signal.aborted ? 'deadline reached' : `model request failed: ${String((err as Error)?.message ?? err).slice(0, 160)}`);
        break;
      } finally {
        clearTimeout(timer);
      }
      usage.requests++;
      usage.promptTokens += completion.usage?.prompt_tokens ?? 0;
      usage.completionTokens += completion.usage?.completion_tokens ?? 0;
      usage.totalTokens = usage.promptTokens + usage.completionTokens;
      const choice = completion.choices[0];
      const msg = choice?.message;
      const toolCalls = msg?.tool_calls ?? [];
      if (msg?.refusal) {
        refusal = msg.refusal;
        break;
      }
      if (choice?.finish_reason === 'length') {
        // cut off at max_completion_tokens: neither its text nor half-written tool calls are an answer
        cutOff = true;
        finalContent = msg?.content ?? '';
        break;
      }
      if (!msg || toolCalls.length === 0 || forceFinal) {
        finalContent = msg?.content ?? '';
        break;
      }
      messages.push({ role: 'assistant', content: msg.content ?? null, tool_calls: toolCalls });
      // decide each call in order (budget, repeats), then run the allowed ones concurrently
      const verdicts = toolCalls.map((tc) => {
        const key = tc.type === 'function' ? `${tc.function.name}:${(() => {
          try {
            return canonical(JSON.parse(tc.function.arguments || '{}'));
          } catch {
            return tc.function.arguments;
          }
        })()}` : `custom:${tc.id}`;
        if (seen.has(key)) return 'refused: the same call with the same arguments was already made; use its earlier result';
        if (calls >= maxToolCalls) return `refused: the budget of ${maxToolCalls} tool calls is spent; give your final answer now`;
        seen.add(key);
        calls++;
        return undefined;
      });
      const outputs = await Promise.all(toolCalls.map((tc, i) => handle(tc, verdicts[i])));
      for (const [i, tc] of toolCalls.entries()) messages.push({ role: 'tool', tool_call_id: tc.id, content: cutToBudget(outputs[i]!, outMax) });
    }
  } finally {
    opts.progress?.stop();
  }

  usage.costUsd = (usage.promptTokens * prices.inputPer1M + usage.completionTokens * prices.outputPer1M) / 1e6;
  return buildLlmAnswer(ctx, question, { finalContent, refusal, cutOff, gathered, proposals, records, notes, usage, endpoint: opts.endpoint, t0 });
}

