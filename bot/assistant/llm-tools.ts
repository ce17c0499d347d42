/**
 * The tool side of the assistant's LLM loop (bot/assistant/llm.ts): answers one tool call of the model — a runbook
 * diagnostic (read-only, raced against the answer's deadline) or `propose_remediation` (kept only when grounded in
 * the findings gathered so far; a button, never an execution) — and records it. Every answer is a string for a
 * `tool` message; refusals and errors are tool errors the model can read, never exceptions.
 */
import type { ChatCompletionMessageToolCall } from 'openai/resources/chat/completions';
import type { RunbookContext } from '../../runbooks/context.js';
import type { Finding, Runbook } from '../../runbooks/define.js';
import { ungroundedInputs } from '../../runbooks/grounding.js';
import { RUNBOOKS } from '../../runbooks/index.js';
import { redactDeep } from '../../runbooks/redact.js';
import { suggestion, type SuggestedRemediation, type ToolCallRecord } from './answer.js';
import type { Gathered } from './llm-answer.js';
import type { AskProgress } from './planner.js';
import { toolError, wrapToolOutput } from './safety.js';
import { PROPOSE_TOOL, ProposeArgs, indicatedCauses, parseToolName, type ToolRunner } from './tools.js';

/** What the tool calls of one answer share: bounds, the runner, and what was gathered, proposed and recorded. */
export interface ToolSession {
  runner: ToolRunner;
  /** Epoch ms after which diagnostics are no longer waited for. */
  deadline: number;
  /** Longest tool output, characters. */
  outMax: number;
  progress?: AskProgress;
  gathered: Gathered;
  proposals: SuggestedRemediation[];
  records: ToolCallRecord[];
}

type Record_ = (output: unknown, ok: boolean) => void;

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

/** The findings gathered so far for runbook `rbId`, by diagnostic id. */
function findingsOf(s: ToolSession, rbId: string): Record<string, Finding> {
  return Object.fromEntries([...(s.gathered.get(rbId)?.results ?? new Map<string, { title: string; finding: Finding }>())].map(([id, r]) => [id, r.finding]));
}

/**
 * Answers one tool call. `allowed` is the loop's verdict (undefined: go ahead; a text: refused for that reason,
 * e.g. a repeat or the tool budget). Records the call (output redacted, duration ms) in `s.records`.
 */
export async function handleToolCall(s: ToolSession, tc: ChatCompletionMessageToolCall, allowed: string | undefined): Promise<string> {
  const started = Date.now();
  const name = tc.type === 'function' ? tc.function.name : `custom:${tc.custom.name}`;
  let args: Record<string, unknown> = {};
  const record: Record_ = (output, ok) => s.records.push({ name, args, output: redactDeep(output), ok, ms: Date.now() - started });
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
  if (name === PROPOSE_TOOL) return proposeRemediation(s, args, record);
  return runDiagnosticTool(s, name, record);
}

/** `propose_remediation`: validated, grounded in the gathered findings and their inputs, then kept as a button. */
function proposeRemediation(s: ToolSession, args: Record<string, unknown>, record: Record_): string {
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
  const findings = findingsOf(s, rb.id);
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
  if (!s.proposals.some((x) => x.runbook === rb.id && x.remediation === rem.id)) {
    const sug = suggestion(rb.id, rem.id, input);
    if (sug) s.proposals.push(sug);
  }
  record({ proposed: `${rb.id}/${rem.id}`, input }, true);
  return `Button shown to the operator: "${rem.title}". Nothing was executed: it runs only if a person with the ${rem.requiredRole} role clicks and confirms it.`;
}

/** A `<runbook>__<diagnostic>` tool: runs it (raced against the deadline), stores its finding, returns the wrapped payload. */
async function runDiagnosticTool(s: ToolSession, name: string, record: Record_): Promise<string> {
  const target = parseToolName(name);
  if (!target) {
    record({ error: 'unknown tool' }, false);
    return toolError(`unknown tool ${name.slice(0, 80)}`);
  }
  const result = await beforeDeadline(s.runner(target.runbook, target.diagnostic), s.deadline, () => undefined);
  if (!result) {
    record({ error: 'deadline reached' }, false);
    return toolError('the answer deadline was reached before this diagnostic finished');
  }
  const entry = s.gathered.get(target.runbook.id) ?? { results: new Map() };
  entry.results.set(target.diagnostic, { title: result.title, finding: result.finding });
  s.gathered.set(target.runbook.id, entry);
  const indicated = indicatedCauses(target.runbook, findingsOf(s, target.runbook.id));
  const payload = toolPayload(target.runbook, target.diagnostic, result.title, result.finding, indicated, s.outMax);
  record(payload, result.finding.status !== 'error');
  s.progress?.tick(result.title);
  return wrapToolOutput(payload, s.outMax);
}
