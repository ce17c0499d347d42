/**
 * The offline planner: deterministic, no model. It looks everywhere, then explains:
 * 1. every read-only diagnostic of every runbook runs ({@link diagnoseSystem}), each under its own timeout
 *    (runbooks/define.ts `runDiagnostic`), at most {@link DIAGNOSTIC_CONCURRENCY} at a time — a whole-system
 *    diagnosis, whatever words the question uses (its cost is printed by `npm run eval`);
 * 2. the question is read into topics and providers (question.ts: stemming, typos, four languages);
 * 3. explain.ts names the most upstream indicated root cause that explains what was asked (following causes
 *    across runbooks, runbooks/causality.ts), the effects it explains, and the unrelated problems apart; a question
 *    it cannot place gets the whole-system picture.
 * The answer carries the supporting findings, remediation buttons whose inputs are grounded in the findings
 * (runbooks/grounding.ts), and a calibrated confidence.
 */
import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import type { RunbookContext } from '../../runbooks/context.js';
import { runDiagnostic, type Diagnosis, type DiagnosticResult, type Finding, type Runbook } from '../../runbooks/define.js';
import { causeProviders } from '../../runbooks/causality.js';
import { defaultInputFor, ungroundedInputs } from '../../runbooks/grounding.js';
import { RUNBOOKS } from '../../runbooks/index.js';
import { confidenceLabel, suggestion, type AnswerFinding, type AssistantAnswer, type SuggestedRemediation, type ToolCallRecord } from './answer.js';
import { explain, gatherCauses, type Explanation, type IndicatedCause } from './explain.js';
import { readQuestion } from './question.js';
import { indicatedCauses, replayRunner, toolName, type RecordedOutput, type ToolRunner } from './tools.js';
import { listAlerts } from '../../domain/queries/alerts.js';

/** A firing alert as the planner sees it. */
export interface ActiveAlert {
  name: string;
  severity: string;
  runbook: string | null;
}

/** Progress callbacks (the same shape as bot/commands/execute.ts `ExecuteOptions.progress`). */
export interface AskProgress {
  start(total: number, label: string): void;
  tick(label: string): void;
  stop(): void;
}

/** Diagnostics run at once in a whole-system diagnosis (each also bounded by its own timeout). */
export const DIAGNOSTIC_CONCURRENCY = 8;

/** Firing alerts (newest first, at most 20); none when the table cannot be read. */
export async function activeAlerts(ctx: RunbookContext): Promise<ActiveAlert[]> {
  try {
    const firing = (await listAlerts(ctx.em(), ['firing'])).sort((a, b) => b.id - a.id).slice(0, 20);
    return firing.map((r) => ({ name: r.name, severity: r.severity, runbook: r.runbook }));
  } catch {
    return [];
  }
}

/** Options of {@link planAnswer}. */
export interface PlanOptions {
  progress?: AskProgress;
  /** Firing alerts; default: read from the alerts table. */
  alerts?: ActiveAlert[];
  /** Replay recorded findings instead of running diagnostics (eval cases from exported answers). */
  recorded?: RecordedOutput[];
}

/** The findings whose removal (read as ok) makes the cause no longer indicated: the evidence for it. */
export function supportingFindings(runbook: Runbook<RunbookContext>, causeId: string, findings: Record<string, Finding>): string[] {
  const cause = runbook.rootCauses.find((c) => c.id === causeId);
  if (!cause) return [];
  const holds = (f: Record<string, Finding>) => {
    try {
      return cause.indicatedBy(f);
    } catch {
      return false;
    }
  };
  return Object.keys(findings).filter((id) => findings[id]!.status !== 'ok' && !holds({ ...findings, [id]: { status: 'ok', summary: '', evidence: {} } }));
}

/**
 * Runs every diagnostic of `runbooks` (default: all), at most `concurrency` at once, each under its own timeout;
 * never throws for a diagnostic's failure. Resolves with one diagnosis per runbook, in the guide's order.
 */
export async function diagnoseSystem(
  ctx: RunbookContext,
  opts: { runner?: ToolRunner; concurrency?: number; progress?: AskProgress; runbooks?: readonly Runbook<RunbookContext>[] } = {},
): Promise<Diagnosis[]> {
  const runbooks = opts.runbooks ?? RUNBOOKS;
  const limit = pLimit(opts.concurrency ?? DIAGNOSTIC_CONCURRENCY);
  const run: ToolRunner = opts.runner ?? (async (rb, id) => runDiagnostic(rb.diagnostics.find((d) => d.id === id)!, ctx));
  opts.progress?.start(runbooks.reduce((n, r) => n + r.diagnostics.length, 0), 'every runbook');
  try {
    return await Promise.all(
      runbooks.map(async (rb) => {
        const results: DiagnosticResult[] = await Promise.all(
          rb.diagnostics.map((d) =>
            limit(async () => {
              const r = await run(rb, d.id);
              opts.progress?.tick(r.title);
              return r;
            }),
          ),
        );
        const findings = Object.fromEntries(results.map((r) => [r.id, r.finding]));
        return { runbook: rb.id, title: rb.title, results, rootCauses: indicatedCauses(rb, findings) };
      }),
    );
  } finally {
    opts.progress?.stop();
  }
}

/** The remediation buttons for a cause: each runbook's default input, the cause's provider filled in, grounded and valid. */
export function groundedSuggestions(cause: IndicatedCause, diagnoses: readonly Diagnosis[]): SuggestedRemediation[] {
  const { findings: all } = gatherCauses(diagnoses);
  const out: SuggestedRemediation[] = [];
  for (const rbId of cause.runbooks) {
    const rb = RUNBOOKS.find((r) => r.id === rbId);
    const c = rb?.rootCauses.find((x) => x.id === cause.id);
    if (!rb || !c) continue;
    const findings = all[rbId] ?? {};
    const provider = causeProviders(cause.id, all)[0];
    for (const remId of c.remediations) {
      const rem = rb.remediations.find((m) => m.id === remId);
      if (!rem || out.some((s) => s.remediation === remId)) continue;
      let input = defaultInputFor(rem, findings);
      if (provider && !('provider' in input) && rem.inputSchema?.safeParse({ ...input, provider }).success) input = { ...input, provider };
      if (rem.inputSchema && !rem.inputSchema.safeParse(input).success) continue; // e.g. no provider to name
      if (ungroundedInputs(rem, input, findings).length) continue;
      const s = suggestion(rbId, remId, input);
      if (s) out.push(s);
    }
  }
  return out;
}

function answerFindings(diagnoses: readonly Diagnosis[], ex: Explanation): AnswerFinding[] {
  const asFinding = (runbook: string, id: string): AnswerFinding | undefined => {
    const r = diagnoses.find((x) => x.runbook === runbook)?.results.find((x) => x.id === id);
    return r ? { runbook, diagnostic: id, title: r.title, status: r.finding.status, summary: r.finding.summary } : undefined;
  };
  const refs = ex.best ? [ex.best, ...ex.effects].flatMap((c) => c.support) : [];
  const seen = new Set<string>();
  const out: AnswerFinding[] = [];
  for (const ref of refs) {
    const f = asFinding(ref.runbook, ref.diagnostic);
    // the same check in two runbooks (e.g. the connection test) is shown once
    const key = `${f?.title}|${f?.summary}`;
    if (f && !seen.has(key)) {
      out.push(f);
      seen.add(key);
    }
  }
  if (!ex.best)
    for (const d of diagnoses)
      for (const r of d.results)
        if ((r.finding.status === 'problem' || r.finding.status === 'error') && out.length < 5) out.push(asFinding(d.runbook, r.id)!);
  return out.slice(0, 8);
}

function summaryOf(ex: Explanation, findings: AnswerFinding[], diagnoses: readonly Diagnosis[]): string {
  const names = (cs: IndicatedCause[]) => cs.map((c) => c.title.replace(/[.;]\s.*$/, '').replace(/\.$/, '')).join('; ');
  if (!ex.best) {
    const bad = findings.length;
    return bad
      ? `No root cause is indicated anywhere, but ${bad} check(s) report a problem; see the findings.`
      : `All ${diagnoses.reduce((n, d) => n + d.results.length, 0)} checks of the ${diagnoses.length} runbooks find nothing wrong.`;
  }
  const lead = findings[0];
  const parts = [`Most likely: ${ex.best.title.replace(/\.$/, '')}.${lead ? ` ${lead.title}: ${lead.summary}` : ''}`];
  if (ex.relevance <= 0 && ex.reasons.includes('no indicated cause explains what was asked')) parts.push('It does not obviously explain what was asked; it is the most important problem found.');
  if (ex.effects.length) parts.push(`It explains: ${names(ex.effects)}.`);
  if (ex.unrelated.length) parts.push(`Unrelated: ${names(ex.unrelated)}.`);
  return parts.join(' ');
}

/** Answers `question` offline: diagnose the whole system, read the question, explain. */
export async function planAnswer(ctx: RunbookContext, question: string, opts: PlanOptions = {}): Promise<AssistantAnswer> {
  const t0 = performance.now();
  const alerts = opts.alerts ?? (await activeAlerts(ctx));
  const diagnoses = await diagnoseSystem(ctx, { progress: opts.progress, runner: opts.recorded ? replayRunner(opts.recorded) : undefined });
  const reading = readQuestion(question);
  const ex = explain(diagnoses, reading, alerts);
  const toolCalls: ToolCallRecord[] = diagnoses.flatMap((d) =>
    d.results.map((r) => ({ name: toolName(d.runbook, r.id), args: {}, output: { title: r.title, ...r.finding }, ok: r.finding.status !== 'error', ms: r.durationMs })),
  );
  const findings = answerFindings(diagnoses, ex);
  const ref = (c: IndicatedCause) => ({ runbook: c.runbooks[0]!, id: c.id, title: c.title });
  const notes = [...(alerts.length ? [`${alerts.length} firing alert(s) considered`] : []), ...ex.reasons.filter((r) => r !== 'nothing indicated')];
  if (reading.unplaced) notes.push('the question names no symptom I know: this is the whole-system picture');
  return {
    question,
    mode: 'offline',
    rootCause: ex.best ? ref(ex.best) : null,
    alternatives: ex.alternatives.slice(0, 3).map(ref),
    effects: ex.effects.map(ref),
    unrelated: ex.unrelated.map(ref),
    summary: summaryOf(ex, findings, diagnoses),
    findings,
    suggestions: ex.best ? groundedSuggestions(ex.best, diagnoses) : [],
    confidence: { label: confidenceLabel(ex.confidence), score: ex.confidence },
    runbooks: diagnoses.map((d) => d.runbook),
    toolCalls,
    notes,
    durationMs: Math.round(performance.now() - t0),
    nonce: randomUUID(),
    issuedAt: ctx.services.clock.now(),
  };
}
