/**
 * The assistant's tools: every diagnostic of every runbook (`<runbook>__<diagnostic>`, read-only) plus
 * `propose_remediation` (renders a button, never executes). Parameter schemas are generated from zod with
 * `z.toJSONSchema` and are strict (every property required, `additionalProperties: false`).
 *
 * A {@link ToolRunner} runs one diagnostic: live (runbooks/define.ts `runDiagnostic`, under its own timeout) or from
 * a recorded answer (eval replays of exported wrong answers).
 */
import { z } from 'zod';
import type { RunbookContext } from '../../runbooks/context.js';
import { causeTitle, runDiagnostic, type DiagnosticResult, type Finding, type Runbook } from '../../runbooks/define.js';
import { RUNBOOKS } from '../../runbooks/index.js';

/** Name of the proposal tool. */
export const PROPOSE_TOOL = 'propose_remediation';

/** Separator between runbook and diagnostic ids in a tool name. */
export const TOOL_SEP = '__';

/** `<runbook>__<diagnostic>` restricted to [a-zA-Z0-9_-] and 64 characters (OpenAI's rule for function names). */
export function toolName(runbook: string, diagnostic: string): string {
  const name = `${runbook}${TOOL_SEP}${diagnostic}`.replace(/[^a-zA-Z0-9_-]/g, '_');
  if (name.length > 64) throw new Error(`tool name too long (${name.length} > 64): ${name}`);
  return name;
}

/** The runbook and diagnostic a tool name stands for, or undefined. */
export function parseToolName(name: string): { runbook: Runbook<RunbookContext>; diagnostic: string } | undefined {
  const i = name.indexOf(TOOL_SEP);
  if (i < 0) return undefined;
  const runbook = RUNBOOKS.find((r) => r.id === name.slice(0, i));
  const diagnostic = name.slice(i + TOOL_SEP.length);
  return runbook?.diagnostics.some((d) => d.id === diagnostic) ? { runbook, diagnostic } : undefined;
}

/** A chat-completions function tool. */
export interface FunctionTool {
  type: 'function';
  function: { name: string; description: string; parameters: Record<string, unknown>; strict: true };
}

/** JSON schema of a zod schema, without `$schema` (OpenAI takes the bare object). */
export function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { target: 'draft-7' }) as Record<string, unknown>;
  return rest;
}

/** Diagnostics take no arguments. */
export const DiagnosticArgs = z.object({});

/** One key/value pair of a remediation's input (strict schemas cannot hold open objects). */
export const InputPair = z.object({ key: z.string().max(64), value: z.union([z.string().max(200), z.number(), z.boolean()]) });

/** Arguments of `propose_remediation`. */
export const ProposeArgs = z.object({
  runbook: z.enum(RUNBOOKS.map((r) => r.id) as [string, ...string[]]),
  remediation: z.enum([...new Set(RUNBOOKS.flatMap((r) => r.remediations.map((m) => m.id)))] as [string, ...string[]]),
  input: z.array(InputPair).max(10).describe('the remediation input as key/value pairs; [] for the defaults chosen from the findings'),
  reason: z.string().max(300).describe('which finding makes this the fix'),
});
export type ProposeArgs = z.infer<typeof ProposeArgs>;

/** Every tool: one per diagnostic, then propose_remediation. */
export function toolCatalog(runbooks: readonly Runbook<RunbookContext>[] = RUNBOOKS): FunctionTool[] {
  const params = jsonSchema(DiagnosticArgs);
  const tools: FunctionTool[] = [];
  for (const rb of runbooks)
    for (const d of rb.diagnostics)
      tools.push({
        type: 'function',
        function: {
          name: toolName(rb.id, d.id),
          description: `[${rb.title}] ${d.title} (read-only). Runbook symptoms: ${rb.symptoms.slice(0, 6).join('; ')}.`.slice(0, 1000),
          parameters: params,
          strict: true,
        },
      });
  tools.push({
    type: 'function',
    function: {
      name: PROPOSE_TOOL,
      description:
        'Show the operator a button for one remediation of a runbook. It does NOT execute anything: a person with the required role must click and confirm. ' +
        'Only for a remediation of a root cause the findings indicate.',
      parameters: jsonSchema(ProposeArgs),
      strict: true,
    },
  });
  return tools;
}

/** Runs one diagnostic of a runbook and returns its result. */
export type ToolRunner = (runbook: Runbook<RunbookContext>, diagnosticId: string) => Promise<DiagnosticResult>;

/** The live runner: the engine's `runDiagnostic` (timeout, never throws, findings redacted). */
export function liveRunner(ctx: RunbookContext): ToolRunner {
  return async (runbook, id) => {
    const d = runbook.diagnostics.find((x) => x.id === id);
    if (!d) return { id, title: id, finding: { status: 'error', summary: `unknown diagnostic ${id}` }, durationMs: 0 };
    return runDiagnostic(d, ctx);
  };
}

/** A recorded tool output (from an exported answer). */
export interface RecordedOutput {
  runbook: string;
  diagnostic: string;
  title: string;
  finding: Finding;
}

/** A runner that replays recorded findings; a diagnostic that was not recorded reads `no_data`. */
export function replayRunner(recorded: readonly RecordedOutput[]): ToolRunner {
  return async (runbook, id) => {
    const r = recorded.find((x) => x.runbook === runbook.id && x.diagnostic === id);
    const title = runbook.diagnostics.find((d) => d.id === id)?.title ?? id;
    return { id, title, finding: r?.finding ?? { status: 'no_data', summary: 'not recorded' }, durationMs: 0 };
  };
}

/** Root causes of `runbook` that the findings gathered so far indicate (a throwing matcher counts as no). */
export function indicatedCauses(runbook: Runbook<RunbookContext>, findings: Record<string, Finding>): { id: string; title: string; remediations: string[] }[] {
  return runbook.rootCauses
    .filter((c) => {
      try {
        return c.indicatedBy(findings);
      } catch {
        return false;
      }
    })
    .map((c) => ({ id: c.id, title: causeTitle(c, findings), remediations: c.remediations }));
}
