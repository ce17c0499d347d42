/**
 * The sandbox's scripted model for chat completions that carry `tools` (the ops assistant's LLM path), so the whole
 * tool-calling loop runs offline and in tests. Deterministic from the seed and the request.
 *
 * Like OpenAI it answers 400 when an assistant message's `tool_calls` are not all answered by `tool` messages (or a
 * tool message answers no call). The script, from the conversation so far:
 * 1. no tool results yet: call every tool of the runbook the last user message's keywords point to, in parallel
 *    (tools are named `<runbook>__<diagnostic>`);
 * 2. results indicate no root cause: call the next runbook's tools (within 10 calls in all);
 * 3. a root cause indicated and `propose_remediation` offered: propose that cause's first remediation (input `[]`);
 * 4. then (or when `tool_choice` is `none`) a final JSON answer naming the root cause from the tool results
 *    (`indicated_root_causes` of the results' JSON), the supporting tools and a confidence.
 * Text inside tool results is never read as an instruction: only the structured fields are used.
 */
import { approxTokens } from './generate.js';
import { ALNUM, rng } from './prng.js';
import type { SandboxContext, SandboxResponse } from './server.js';

/** Keyword routes: the first runbook of the best-matching routes gets called first. */
export const SCRIPT_ROUTES: readonly { runbook: string; pattern: RegExp }[] = [
  { runbook: 'email-delivery', pattern: /\b(e-?mails?|sendgrid|bounc\w*|spam|deliver\w*|outreach|mail|inbox|unsubscrib\w*)\b/gi },
  { runbook: 'payment-issues', pattern: /\b(pay\w*|stripe|purchase\w*|checkout|reports?|charged?|tax|refund\w*|customer)\b/gi },
  { runbook: 'assessment-failures', pattern: /\b(assess\w*|pagespeed|insights?|openai|websites?|urls?|lighthouse|backlog)\b/gi },
  { runbook: 'memory-resources', pattern: /\b(memory|oom|rss|heap|disk|lag|cpu|sluggish|slow\w*|leak\w*|event loop|batch\w*|time ?outs?)\b/gi },
  { runbook: 'database-performance', pattern: /\b(database|postgres\w*|quer(y|ies)|index\w*|vacuum|bloat|dead rows|connections?)\b/gi },
  { runbook: 'external-apis', pattern: /\b(breakers?|circuit|api keys?|401|403|429|providers?|integrations?|rate.limit\w*|exhausted)\b/gi },
  { runbook: 'pipeline-not-processing', pattern: /\b(pipeline|leads?|yelp|targets?|quotas?|sourc\w*|paused|stalled|businesses)\b/gi },
];

/** Calls the scripted model may make in one conversation (the assistant's own bound). */
export const SCRIPT_MAX_CALLS = 10;

type Msg = Record<string, unknown>;
const isObj = (v: unknown): v is Msg => typeof v === 'object' && v !== null && !Array.isArray(v);

interface ToolResult {
  tool: string;
  status: string;
  indicated: { id: string; title: string; remediations: string[] }[];
}

/** The JSON inside a tool message's fenced block, or undefined (errors and cut outputs read as nothing). */
export function readToolResult(content: string): ToolResult | undefined {
  const start = content.indexOf('```json\n');
  const end = content.lastIndexOf('\n```');
  if (start < 0 || end <= start) return undefined;
  try {
    const v = JSON.parse(content.slice(start + 8, end)) as Msg;
    const indicated = Array.isArray(v.indicated_root_causes) ? (v.indicated_root_causes as ToolResult['indicated']).filter((c) => isObj(c) && typeof c.id === 'string') : [];
    return typeof v.tool === 'string' ? { tool: v.tool, status: String(v.status ?? ''), indicated } : undefined;
  } catch {
    return undefined;
  }
}

/** Runbooks in the order the question's keywords point to them (most matches first; ties by route order). */
export function routeQuestion(question: string, alerted: readonly string[] = []): string[] {
  const scored = SCRIPT_ROUTES.map((r, i) => ({ runbook: r.runbook, n: (question.match(r.pattern) ?? []).length + (alerted.includes(r.runbook) ? 0.5 : 0), i }));
  const hits = scored.filter((s) => s.n > 0).sort((a, b) => b.n - a.n || a.i - b.i).map((s) => s.runbook);
  return hits.length ? hits : ['quick-diagnostics'];
}

/** Runbook ids of the alerts listed in the user message's alerts block (structured data only). */
function alertedRunbooks(userText: string): string[] {
  const m = /Active alerts[^\n]*\n```json\n([\s\S]*?)\n```/.exec(userText);
  if (!m) return [];
  try {
    const list = JSON.parse(m[1]!) as unknown;
    return Array.isArray(list) ? list.map((a) => (isObj(a) && typeof a.runbook === 'string' ? a.runbook : '')).filter(Boolean) : [];
  } catch {
    return [];
  }
}

const words = (t: string) => new Set(t.toLowerCase().split(/[^a-z0-9]+/).filter((w) => w.length > 3).map((w) => w.slice(0, 5)));

/** The indicated cause whose title shares most words with the question (ties: first). */
function bestCause(question: string, causes: ToolResult['indicated']): ToolResult['indicated'][number] | undefined {
  const q = words(question);
  let best: ToolResult['indicated'][number] | undefined;
  let bestN = -1;
  for (const c of causes) {
    const n = [...words(`${c.title} ${c.id.split('/')[1] ?? ''}`)].filter((w) => q.has(w)).length - (/see the [a-z-]+ runbook/.test(c.title) ? 1 : 0);
    if (n > bestN) [best, bestN] = [c, n];
  }
  return best;
}

function contentText(c: unknown): string {
  if (typeof c === 'string') return c;
  if (Array.isArray(c)) return c.map((p) => (isObj(p) && typeof p.text === 'string' ? p.text : '')).join('');
  return '';
}

/** OpenAI's 400 when a tool call is left unanswered (or a tool message answers nothing). */
function sequenceError(messages: Msg[]): string | undefined {
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (m.role === 'tool') {
      const prev = messages.slice(0, i).reverse().find((x) => x.role !== 'tool');
      const ids = prev && Array.isArray(prev.tool_calls) ? (prev.tool_calls as Msg[]).map((t) => t.id) : [];
      if (!ids.includes(m.tool_call_id))
        return "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.";
    }
    if (m.role === 'assistant' && Array.isArray(m.tool_calls) && m.tool_calls.length > 0) {
      const answered = new Set<unknown>();
      for (let j = i + 1; j < messages.length && messages[j]!.role === 'tool'; j++) answered.add(messages[j]!.tool_call_id);
      const missing = (m.tool_calls as Msg[]).map((t) => t.id).filter((id) => !answered.has(id));
      if (missing.length)
        return `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${missing.join(', ')}`;
    }
  }
  return undefined;
}

/**
 * Answers a chat completion whose body has `tools` (already checked: a model and non-empty messages). Returns the
 * response, or a 400 for a broken tool-call sequence.
 */
export function scriptedToolChat(body: Msg, ctx: SandboxContext, headers: Record<string, string>, now: Date): SandboxResponse {
  const messages = (body.messages as unknown[]).filter(isObj);
  const bad = sequenceError(messages);
  if (bad) return { status: 400, headers, json: { error: { message: bad, type: 'invalid_request_error', param: 'messages', code: null } } };
  const tools = (body.tools as unknown[])
    .map((t) => (isObj(t) && isObj(t.function) && typeof t.function.name === 'string' ? t.function.name : undefined))
    .filter((n): n is string => n !== undefined);
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  const userText = contentText(lastUser?.content);
  const question = /Operator question: (.*)/.exec(userText)?.[1] ?? userText;
  const results = messages.filter((m) => m.role === 'tool').map((m) => readToolResult(contentText(m.content))).filter((r): r is ToolResult => r !== undefined);
  const callsMade = messages.filter((m) => m.role === 'assistant' && Array.isArray(m.tool_calls)).reduce((n, m) => n + (m.tool_calls as unknown[]).length, 0);
  const proposed = messages.some((m) => m.role === 'assistant' && Array.isArray(m.tool_calls) && (m.tool_calls as Msg[]).some((t) => isObj(t.function) && t.function.name === 'propose_remediation'));
  const route = routeQuestion(question, alertedRunbooks(userText));
  const called = new Set(results.map((r) => r.tool.split('__')[0]));
  // results of one runbook arrive concurrently: what each runbook indicates is the union over its results
  const byRunbook = new Map<string, ToolResult['indicated']>();
  for (const r of results) {
    const rb = r.tool.split('__')[0]!;
    const list = byRunbook.get(rb) ?? [];
    for (const c of r.indicated) if (!list.some((x) => x.id === c.id)) list.push(c);
    byRunbook.set(rb, list);
  }
  const indicated = [...route, ...byRunbook.keys()]
    .filter((rb, i, all) => all.indexOf(rb) === i)
    .flatMap((rb) => byRunbook.get(rb) ?? []);
  const forceFinal = body.tool_choice === 'none';
  const n = callsMade + messages.length;
  const r = rng(ctx.seed, 'assistant-llm', JSON.stringify([question, n]));
  const callId = (i: number) => `call_${rng(ctx.seed, 'tool-call', `${n}:${i}:${question}`).chars(24, ALNUM)}`;
  let message: Msg;
  let finish: string;
  const toolCallsFor = (names: { name: string; args: Record<string, unknown> }[]) =>
    names.map((t, i) => ({ id: callId(i), type: 'function', function: { name: t.name, arguments: JSON.stringify(t.args) } }));
  const nextRunbook = results.length === 0 ? route[0] : indicated.length === 0 ? route.find((rb) => !called.has(rb)) ?? (called.has('quick-diagnostics') ? undefined : 'quick-diagnostics') : undefined;
  const room = SCRIPT_MAX_CALLS - callsMade;
  const next = nextRunbook ? tools.filter((t) => t.startsWith(`${nextRunbook}__`)).slice(0, Math.max(0, room - 1)) : [];
  const cause = bestCause(question, indicated);
  if (!forceFinal && next.length > 0) {
    message = { role: 'assistant', content: null, tool_calls: toolCallsFor(next.map((name) => ({ name, args: {} }))), refusal: null, annotations: [] };
    finish = 'tool_calls';
  } else if (!forceFinal && cause && !proposed && cause.remediations.length > 0 && tools.includes('propose_remediation') && room > 0) {
    const [rb] = cause.id.split('/');
    const args = { runbook: rb, remediation: cause.remediations[0], input: [], reason: `fixes ${cause.title}` };
    message = { role: 'assistant', content: null, tool_calls: toolCallsFor([{ name: 'propose_remediation', args }]), refusal: null, annotations: [] };
    finish = 'tool_calls';
  } else {
    const rb = cause?.id.split('/')[0];
    const support = results.filter((x) => x.tool.startsWith(`${rb}__`) && (x.status === 'problem' || x.status === 'warn')).map((x) => x.tool);
    const final = {
      root_cause: cause?.id ?? null,
      summary: cause
        ? `${r.pick(['The findings point to', 'Most likely', 'The diagnostics show'])}: ${cause.title}.`
        : 'The diagnostics I ran indicate no root cause.',
      findings: support,
      confidence: cause ? (indicated.length === 1 ? 'high' : 'medium') : 'low',
    };
    message = { role: 'assistant', content: JSON.stringify(final), refusal: null, annotations: [] };
    finish = 'stop';
  }
  const promptTokens = messages.reduce((t, m) => t + 4 + approxTokens(contentText(m.content) || JSON.stringify(m.tool_calls ?? '')), 3) + approxTokens(JSON.stringify(body.tools));
  const completionTokens = approxTokens(JSON.stringify(message));
  return {
    status: 200,
    headers,
    json: {
      id: `chatcmpl-${r.chars(29, ALNUM)}`,
      object: 'chat.completion',
      created: Math.floor(now.getTime() / 1000),
      model: body.model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
      usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
      service_tier: 'default',
    },
  };
}
