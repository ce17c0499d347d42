/**
 * The LLM loop's outcome turned into the shared answer shape (answer.ts), believing the model only as far as the
 * findings gathered bear it out:
 * - a **refusal** (`message.refusal`) is reported as a refusal: its text is the summary, no root cause, low confidence;
 * - an answer **cut off** at the output limit (`finish_reason: "length"`) is not an answer: the root cause comes from
 *   the findings gathered, at low confidence, and the note says so;
 * - a root-cause id that does not exist, or that the gathered findings do not indicate, is **never shown as the
 *   cause**: the model's summary and confidence are dropped with it, the note names what the model said, and the
 *   cause the findings indicate (if any) is shown at low confidence instead.
 */
import { randomUUID } from 'node:crypto';
import type { RunbookContext } from '../../runbooks/context.js';
import type { Finding } from '../../runbooks/define.js';
import { RUNBOOKS } from '../../runbooks/index.js';
import { confidenceLabel, type AnswerFinding, type AnswerUsage, type AssistantAnswer, type SuggestedRemediation, type ToolCallRecord } from './answer.js';
import { supportingFindings } from './planner.js';
import { indicatedCauses, parseToolName } from './tools.js';

/** The model's final JSON (leniently read from its content). */
export interface FinalJson {
  root_cause?: unknown;
  summary?: unknown;
  findings?: unknown;
  confidence?: unknown;
}

/** The first `{…}` object in `content`, or undefined. */
export function parseFinal(content: string): FinalJson | undefined {
  const start = content.indexOf('{');
  const end = content.lastIndexOf('}');
  if (start < 0 || end <= start) return undefined;
  try {
    const v = JSON.parse(content.slice(start, end + 1)) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as FinalJson) : undefined;
  } catch {
    return undefined;
  }
}

/** Findings gathered by the loop, per runbook id then diagnostic id. */
export type Gathered = Map<string, { results: Map<string, { title: string; finding: Finding }> }>;

/** What the loop hands over. */
export interface LoopOutcome {
  finalContent: string | undefined;
  refusal: string | undefined;
  cutOff: boolean;
  gathered: Gathered;
  proposals: SuggestedRemediation[];
  records: ToolCallRecord[];
  notes: string[];
  usage: AnswerUsage;
  endpoint: { sandbox: boolean };
  t0: number;
}

type Cause = { runbook: string; id: string; title: string };

function findingsOf(g: Gathered, rbId: string): Record<string, Finding> {
  return Object.fromEntries([...(g.get(rbId)?.results ?? new Map<string, { title: string; finding: Finding }>())].map(([id, r]) => [id, r.finding]));
}

/** Root causes the gathered findings indicate, in the order the runbooks were consulted. */
export function gatheredCauses(g: Gathered): Cause[] {
  return [...g.keys()].flatMap((rbId) => {
    const rb = RUNBOOKS.find((r) => r.id === rbId)!;
    return indicatedCauses(rb, findingsOf(g, rbId)).map((c) => ({ runbook: rbId, id: c.id, title: c.title }));
  });
}

/** The model's verdict checked against the findings: the cause to show, its summary, its label. */
function judgeFinal(s: LoopOutcome, indicated: Cause[]): { rootCause: Cause | null; summary: string; label: 'high' | 'medium' | 'low' } {
  const fallback = (why: string) => {
    const rootCause = indicated[0] ?? null;
    return {
      rootCause,
      summary: `${why} ${rootCause ? `The findings gathered indicate: ${rootCause.title}.` : 'The findings gathered indicate no root cause.'}`.trim(),
      label: 'low' as const,
    };
  };
  if (s.refusal !== undefined) {
    s.notes.push('the model refused to answer');
    return { rootCause: null, summary: `The model refused: ${s.refusal.slice(0, 600)}`, label: 'low' };
  }
  if (s.cutOff) {
    s.notes.push('the model was cut off at its output limit (finish_reason length); the cause shown comes from the findings');
    return fallback('The model ran out of output tokens before finishing its answer.');
  }
  if (s.finalContent === undefined) return fallback('');
  const final = parseFinal(s.finalContent);
  if (!final) {
    s.notes.push('the model did not answer in the agreed JSON form');
    const f = fallback('');
    return { ...f, summary: s.finalContent.slice(0, 1200) || f.summary };
  }
  const rc = typeof final.root_cause === 'string' ? final.root_cause.trim() : '';
  const summary = typeof final.summary === 'string' ? final.summary.slice(0, 1200) : '';
  const label = final.confidence === 'high' || final.confidence === 'medium' ? final.confidence : 'low';
  if (!rc) return indicated.length ? fallback('The model named no root cause.') : { rootCause: null, summary, label };
  const [a, b] = rc.includes('/') ? rc.split('/', 2) : [undefined, rc];
  const named = indicated.find((c) => c.id === b && (!a || c.runbook === a));
  if (named) return { rootCause: named, summary, label };
  const exists = RUNBOOKS.some((r) => (!a || r.id === a) && r.rootCauses.some((c) => c.id === b));
  s.notes.push(exists ? `the model named "${rc.slice(0, 80)}", which the findings gathered do not indicate` : `the model named an unknown root cause "${rc.slice(0, 80)}"`);
  return fallback(`The model's answer ("${rc.slice(0, 80)}") is not borne out by the findings and is not shown.`);
}

/** Turns the loop's outcome into the shared answer shape (also when it ended without a final message). */
export function buildLlmAnswer(ctx: RunbookContext, question: string, s: LoopOutcome): AssistantAnswer {
  const indicated = gatheredCauses(s.gathered);
  const { rootCause, summary, label } = judgeFinal(s, indicated);
  const asFinding = (rbId: string, id: string): AnswerFinding | undefined => {
    const r = s.gathered.get(rbId)?.results.get(id);
    return r ? { runbook: rbId, diagnostic: id, title: r.title, status: r.finding.status, summary: r.finding.summary } : undefined;
  };
  let findings: AnswerFinding[] = [];
  if (rootCause) {
    const rb = RUNBOOKS.find((r) => r.id === rootCause.runbook)!;
    findings = supportingFindings(rb, rootCause.id, findingsOf(s.gathered, rb.id))
      .map((id) => asFinding(rb.id, id))
      .filter((f): f is AnswerFinding => f !== undefined);
  }
  const final = s.finalContent !== undefined && !s.cutOff && s.refusal === undefined ? parseFinal(s.finalContent) : undefined;
  const named = final && Array.isArray(final.findings) ? final.findings.filter((x): x is string => typeof x === 'string') : [];
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
    ...(s.refusal !== undefined ? { refusal: s.refusal.slice(0, 1000) } : {}),
  };
}
