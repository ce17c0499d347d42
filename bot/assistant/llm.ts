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
import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import type { ChatCompletionMessageParam, ChatCompletionMessageToolCall } from 'openai/resources/chat/completions';
import type { Services } from '../../domain/services.js';
import { resolveProvider } from '../../domain/providers/urls.js';
import type { RunbookContext } from '../../runbooks/context.js';
import type { Finding, Runbook } from '../../runbooks/define.js';
import { RUNBOOKS } from '../../runbooks/index.js';
import { redactDeep } from '../../runbooks/redact.js';
import { confidenceLabel, suggestion, type AnswerFinding, type AnswerUsage, type AssistantAnswer, type SuggestedRemediation, type ToolCallRecord } from './answer.js';
import { activeAlerts, supportingFindings, type ActiveAlert, type AskProgress } from './planner.js';
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

/** The model's final JSON (leniently read from its content). */
interface FinalJson {
  root_cause?: unknown;
  summary?: unknown;
  findings?: unknown;
  confidence?: unknown;
}

function parseFinal(content: string): FinalJson | undefined {
  const start = content.indexOf('{');
  const end = content.lastIndexOf('}');
  if (start < 0 || end <= start) return undefined;
  try {
    const v = JSON.parse(content.slice(start, end + 1)) as unknown;
    return v && typeof v === 'object' ? (v as FinalJson) : undefined;
  } catch {
    return undefined;
  }
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
  const client = new OpenAI({ apiKey: opts.endpoint.apiKey, baseURL: opts.endpoint.baseUrl, maxRetries: 0, timeout: opts.deadlineMs ?? LLM_DEFAULTS.deadlineMs });
  const tools = toolCatalog();
  const messages: ChatCompletionMessageParam[] = [
    { role: 'system', content: SYSTEM_PROMPT },
    { role: 'user', content: userPrompt(question, alerts) },
  ];
  const usage: AnswerUsage = { model: opts.endpoint.model, requests: 0, promptTokens: 0, completionTokens: 0, totalTokens: 0, costUsd: 0 };
  const records: ToolCallRecord[] = [];
  const seen = new Set<string>();
  const gathered = new Map<string, { results: Map<string, { title: string; finding: Finding }> }>();
  const proposals: SuggestedRemediation[] = [];
  const notes: string[] = [];
  let calls = 0;
  let finalContent: string | undefined;
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
      let completion: OpenAI.Chat.Completions.ChatCompletion;
      try {
        completion = await client.chat.completions.create(
          {
            model: opts.endpoint.model,
            messages,
            tools,
            tool_choice: forceFinal ? 'none' : 'auto',
            parallel_tool_calls: true,
            max_completion_tokens: LLM_DEFAULTS.maxCompletionTokens,
          },
          { signal: abort.signal },
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
      if (!msg || toolCalls.length === 0 || forceFinal) {
        finalContent = msg?.content ?? '';
        if (choice?.finish_reason === 'length') notes.push('the model hit its output limit');
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
      toolCalls.forEach((tc, i) => messages.push({ role: 'tool', tool_call_id: tc.id, content: cutToBudget(outputs[i]!, outMax) }));
    }
  } finally {
    opts.progress?.stop();
  }

  usage.costUsd = (usage.promptTokens * prices.inputPer1M + usage.completionTokens * prices.outputPer1M) / 1e6;
  return buildLlmAnswer(ctx, question, { finalContent, gathered, proposals, records, notes, usage, endpoint: opts.endpoint, t0 });
}

/** Turns the loop's outcome into the shared answer shape (also when it ended without a final message). */
function buildLlmAnswer(
  ctx: RunbookContext,
  question: string,
  s: {
    finalContent: string | undefined;
    gathered: Map<string, { results: Map<string, { title: string; finding: Finding }> }>;
    proposals: SuggestedRemediation[];
    records: ToolCallRecord[];
    notes: string[];
    usage: AnswerUsage;
    endpoint: LlmEndpoint;
    t0: number;
  },
): AssistantAnswer {
  const findingsOf = (rbId: string): Record<string, Finding> =>
    Object.fromEntries([...(s.gathered.get(rbId)?.results ?? new Map<string, { title: string; finding: Finding }>())].map(([id, r]) => [id, r.finding]));
  const indicated = [...s.gathered.keys()].flatMap((rbId) => {
    const rb = RUNBOOKS.find((r) => r.id === rbId)!;
    return indicatedCauses(rb, findingsOf(rbId)).map((c) => ({ runbook: rbId, id: c.id, title: c.title }));
  });
  const final = s.finalContent !== undefined ? parseFinal(s.finalContent) : undefined;
  let rootCause: AssistantAnswer['rootCause'] = null;
  let label: 'high' | 'medium' | 'low' = 'low';
  let summary = '';
  if (final) {
    const rc = typeof final.root_cause === 'string' ? final.root_cause.trim() : '';
    const [a, b] = rc.includes('/') ? rc.split('/', 2) : [undefined, rc];
    const candidates = RUNBOOKS.filter((r) => !a || r.id === a).flatMap((r) => r.rootCauses.filter((c) => c.id === b).map((c) => ({ runbook: r.id, id: c.id, title: c.title })));
    rootCause = candidates.find((c) => indicated.some((i) => i.runbook === c.runbook && i.id === c.id)) ?? candidates[0] ?? null;
    summary = typeof final.summary === 'string' ? final.summary.slice(0, 1200) : '';
    label = final.confidence === 'high' || final.confidence === 'medium' ? final.confidence : 'low';
    if (rc && !rootCause) s.notes.push(`the model named an unknown root cause "${rc.slice(0, 80)}"`);
  } else if (s.finalContent !== undefined) {
    summary = s.finalContent.slice(0, 1200);
    s.notes.push('the model did not answer in the agreed JSON form');
  }
  if (!final) {
    // no usable final answer: fall back to what the findings indicate
    rootCause = indicated[0] ?? null;
    label = 'low';
    if (!summary) summary = rootCause ? `The findings gathered indicate: ${rootCause.title}.` : 'No root cause could be established from the findings gathered.';
  }
  const grounded = rootCause !== null && indicated.some((i) => i.runbook === rootCause!.runbook && i.id === rootCause!.id);
  if (rootCause && !grounded) {
    s.notes.push('the named root cause is not indicated by the findings gathered');
    label = 'low';
  }
  let findings: AnswerFinding[] = [];
  const named = final && Array.isArray(final.findings) ? final.findings.filter((x): x is string => typeof x === 'string') : [];
  const asFinding = (rbId: string, id: string): AnswerFinding | undefined => {
    const r = s.gathered.get(rbId)?.results.get(id);
    return r ? { runbook: rbId, diagnostic: id, title: r.title, status: r.finding.status, summary: r.finding.summary } : undefined;
  };
  if (rootCause && grounded) {
    const rb = RUNBOOKS.find((r) => r.id === rootCause!.runbook)!;
    findings = supportingFindings(rb, rootCause.id, findingsOf(rb.id)).map((id) => asFinding(rb.id, id)!).filter(Boolean);
  }
  for (const n of named) {
    const t = parseToolName(n);
    const f = t ? asFinding(t.runbook.id, t.diagnostic) : undefined;
    if (f && !findings.some((x) => x.runbook === f.runbook && x.diagnostic === f.diagnostic)) findings.push(f);
  }
  const score = label === 'high' ? 0.85 : label === 'medium' ? 0.6 : 0.3;
  return {
    question,
    mode: 'llm',
    sandboxModel: s.endpoint.sandbox,
    rootCause,
    alternatives: indicated.filter((c) => !(rootCause && c.runbook === rootCause.runbook && c.id === rootCause.id)).slice(0, 3),
    summary,
    findings: findings.slice(0, 8),
    suggestions: s.proposals,
    confidence: { label: confidenceLabel(score), score },
    runbooks: [...s.gathered.keys()],
    toolCalls: s.records,
    usage: s.usage,
    notes: [...new Set(s.notes)],
    durationMs: Date.now() - s.t0,
    nonce: randomUUID(),
    issuedAt: ctx.services.clock.now(),
  };
}
