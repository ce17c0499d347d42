/**
 * Executes a parsed `/lf` subcommand for an actor and returns a structured result; Slack (Block Kit) and the CLI
 * (text tables or JSON) render it. Role checks happen here, so both doors enforce the same rules, and every
 * state-changing subcommand (run, pause, resume, fix) leaves an audit row.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { suggestion } from '../cli-args.js';
import { executeDb, executeTargets, type ReportResult } from './admin-commands.js';
import type { RunbookContext, JobInfo } from '../../runbooks/context.js';
import { diagnose, roleAtLeast, type Diagnosis, type DiagnosisResult, type Runbook } from '../../runbooks/define.js';
export type { DiagnosisResult };
import { audit, executeRemediation, recentAudit, type Actor, type RemediationOutcome } from '../../runbooks/actions.js';
import { RUNBOOKS, findRunbook } from '../../runbooks/index.js';
import { getPipelineStatus, type PipelineStatus } from '../../domain/status.js';
import { AppError } from '../../domain/errors.js';
import { describeUnstorable, hasUnstorable } from '../../domain/sanitize.js';
import { ask, type AssistantAnswer } from '../assistant/index.js';
import { parseKeyValues, type LfCommand, type ParsedLf } from './spec.js';
import { executeIncidentCommand, type IncidentResult } from './incident-commands.js';
import { executeOpsCommand, type OpsResult } from './ops-commands.js';
import { executeOncallCommand, type OncallResult } from './oncall-commands.js';
import { executeDrillCommand } from './drill-commands.js';
import type { ChatResult } from './chat-result.js';
import { loadBreakerCards, type BreakerCard } from '../../alerts/breaker-cards.js';

/** What a subcommand produced. */
export type LfResult =
  | { kind: 'help'; unknown?: string }
  | { kind: 'status'; status: PipelineStatus }
  | DiagnosisResult
  | { kind: 'runbooks'; runbooks: { id: string; title: string; symptoms: string[] }[]; unknown?: string }
  | { kind: 'jobs'; jobs: JobInfo[] }
  | { kind: 'job_action'; job: string; action: 'run' | 'pause' | 'resume'; ok: boolean; detail: string; actor: Actor }
  | { kind: 'remediation'; runbook: string; remediation: string; title: string; outcome: RemediationOutcome; actor: Actor }
  | { kind: 'audit'; rows: Awaited<ReturnType<typeof recentAudit>> }
  | { kind: 'assistant'; answer: AssistantAnswer }
  | IncidentResult
  | OpsResult
  | OncallResult
  | ReportResult
  | ChatResult
  | { kind: 'refused'; detail: string }
  /** `/lf breakers`: a card per provider (alerts/breaker-cards.ts); Slack posts them as one message, edited in place. */
  | { kind: 'breakers'; cards: BreakerCard[]; asOf: Date };

/** Options: how old a button may be (ms). */
export interface ExecuteOptions {
  staleAfterMs?: number;
  /** Progress of long operations: called when a diagnosis starts (with the count) and after each diagnostic. */
  progress?: { start(total: number, label: string): void; tick(label: string): void; stop(): void };
}

/** Runs a runbook, or a subset of its diagnostics (root causes are matched on what ran). */
export async function runView(
  ctx: RunbookContext,
  runbook: Runbook<RunbookContext>,
  diagnostics?: readonly string[],
  progress?: ExecuteOptions['progress'],
): Promise<DiagnosisResult> {
  const rb = diagnostics ? { ...runbook, diagnostics: runbook.diagnostics.filter((d) => diagnostics.includes(d.id)) } : runbook;
  progress?.start(rb.diagnostics.length, rb.title);
  let diagnosis: Diagnosis;
  try {
    diagnosis = await diagnose(rb, ctx, { onResult: (r) => progress?.tick(r.title) });
  } finally {
    progress?.stop();
  }
  return { kind: 'diagnosis', diagnosis, runbook, nonce: randomUUID(), issuedAt: ctx.services.clock.now(), full: !diagnostics };
}

function runbookList(unknown?: string): LfResult {
  return { kind: 'runbooks', runbooks: RUNBOOKS.map((r) => ({ id: r.id, title: r.title, symptoms: r.symptoms })), unknown };
}

/**
 * Executes `parsed` for `actor`.
 * @throws AppError `bad_request` for bad arguments (e.g. an unknown job, or text holding U+0000 or a lone surrogate,
 *   which is refused with an audit row); database errors as thrown.
 */
export async function executeLf(ctx: RunbookContext, parsed: ParsedLf, actor: Actor, opts: ExecuteOptions = {}): Promise<LfResult> {
  const typed = [parsed.word, ...parsed.args].join(' ');
  if (hasUnstorable(typed)) {
    // U+0000 or a lone surrogate: refused clearly (and audited) before anything reads or stores the arguments
    const detail = `the command text contains characters that cannot be stored (${describeUnstorable(typed)}); retype it without them`;
    await audit(ctx.em(), { at: ctx.services.clock.now(), actor, action: `command:${parsed.command?.name ?? 'unknown'}`, input: { args: parsed.args, word: parsed.word }, outcome: 'refused', detail });
    throw new AppError('bad_request', detail);
  }
  try {
    return await executeInner(ctx, parsed, actor, opts);
  } catch (err) {
    // a refused state-changing command (bad arguments) is audited like any other refusal
    if (err instanceof AppError && err.code === 'bad_request' && parsed.command && AUDITED.has(parsed.command.name))
      await audit(ctx.em(), { at: ctx.services.clock.now(), actor, action: `command:${parsed.command.name}`, input: { args: parsed.args }, outcome: 'refused', detail: err.message });
    throw err;
  }
}

/** The keys a remediation's input schema names (`known`, undefined when it is not an object schema) and requires. */
function inputKeys(schema: z.ZodType<Record<string, unknown>> | undefined): { known: string[] | undefined; required: string[] } {
  if (!(schema instanceof z.ZodObject)) return { known: schema ? undefined : [], required: [] };
  const shape = schema.shape as Record<string, z.ZodType>;
  return { known: Object.keys(shape), required: Object.keys(shape).filter((k) => !shape[k]!.safeParse(undefined).success) };
}

/** Subcommands that change state (their refusals are audited too). */
const AUDITED = new Set(['run', 'pause', 'resume', 'fix', 'eval', 'drill']);

async function executeInner(ctx: RunbookContext, parsed: ParsedLf, actor: Actor, opts: ExecuteOptions): Promise<LfResult> {
  const cmd: LfCommand | undefined = parsed.command;
  if (!cmd) return { kind: 'help', unknown: parsed.word };
  if (!roleAtLeast(actor.role, cmd.role)) {
    const detail = `\`${cmd.name}\` needs the ${cmd.role} role; ${actor.display} has ${actor.role ?? 'no role'}`;
    await audit(ctx.em(), { at: ctx.services.clock.now(), actor, action: `command:${cmd.name}`, input: { args: parsed.args }, outcome: 'refused', detail });
    return { kind: 'refused', detail };
  }
  // `/lf db verify|backups`: their own subcommands, never the database runbook behind a silently ignored word
  if (cmd.name === 'db' && parsed.args.length > 0) return executeDb(ctx, parsed.args, actor);
  if (cmd.view) {
    if (parsed.args.length > 0) throw new AppError('bad_request', `${cmd.name} takes no arguments (got "${parsed.args.join(' ')}")`);
    const rb = findRunbook(cmd.view.runbook);
    if (!rb) throw new AppError('internal', `runbook ${cmd.view.runbook} is not registered`);
    return runView(ctx, rb, cmd.view.diagnostics, opts.progress);
  }
  switch (cmd.name) {
    case 'help':
      return { kind: 'help' };
    case 'status':
      return { kind: 'status', status: await getPipelineStatus(ctx.em(), { clock: ctx.services.clock }) };
    case 'diagnose': {
      const name = parsed.args[0];
      if (!name) return runbookList();
      const rb = findRunbook(name);
      return rb ? runView(ctx, rb, undefined, opts.progress) : runbookList(name);
    }
    case 'jobs':
      return { kind: 'jobs', jobs: await ctx.jobs.list() };
    case 'run':
    case 'pause':
    case 'resume':
      return executeJobAction(ctx, cmd, cmd.name, parsed.args[0], actor);
    case 'fix':
      return executeFix(ctx, cmd, parsed.args, actor, opts);
    case 'ask': {
      const mode = parsed.args.includes('--offline') ? 'offline' : parsed.args.includes('--llm') ? 'llm' : 'auto';
      const question = parsed.args.filter((a) => a !== '--offline' && a !== '--llm').join(' ');
      return { kind: 'assistant', answer: await ask(ctx, question, actor, { ...(opts.progress ? { progress: opts.progress } : {}), mode }) };
    }
    case 'audit':
      return { kind: 'audit', rows: await recentAudit(ctx.em(), { limit: 20 }) };
    case 'breakers': {
      if (parsed.args.length > 0) throw new AppError('bad_request', `breakers takes no arguments (got "${parsed.args.join(' ')}")`);
      const asOf = ctx.services.clock.now();
      return { kind: 'breakers', cards: await loadBreakerCards(ctx.em(), { breaker: ctx.services.gateway.breaker, config: ctx.services.config, now: asOf }), asOf };
    }
    case 'targets':
      return executeTargets(ctx, parsed.args, actor);
    case 'incident':
    case 'incidents':
    case 'silence':
    case 'silences':
    case 'unsilence':
      return executeIncidentCommand(ctx, cmd, parsed.args, actor);
    case 'oncall':
      return executeOncallCommand(ctx, parsed.args, actor);
    case 'drill':
      return executeDrillCommand(ctx, parsed.args, actor);
    case 'costs':
    case 'purchases':
    case 'changes':
    case 'eval':
      return executeOpsCommand(ctx, cmd, parsed.args, actor);
    default:
      return { kind: 'help', unknown: parsed.word };
  }
}

/**
 * `/lf run|pause|resume <job>`, audited (succeeded, duplicate for a run already going, failed, or refused).
 * @throws AppError `bad_request` without a job name or for an unknown job.
 */
async function executeJobAction(ctx: RunbookContext, cmd: LfCommand, name: 'run' | 'pause' | 'resume', job: string | undefined, actor: Actor): Promise<LfResult> {
  if (!job) throw new AppError('bad_request', `usage: ${cmd.usage}`);
  const at = ctx.services.clock.now();
  const action = `job:${name}`;
  let ok = true;
  let detail: string;
  try {
    if (name === 'run') {
      const r = await ctx.jobs.runNow(job, actor.id);
      ok = r.started && !r.failed;
      detail = r.detail;
      if (r.failed) {
        await audit(ctx.em(), { at, actor, action, input: { job }, outcome: 'failed', detail });
        return { kind: 'job_action', job, action: name, ok: false, detail, actor };
      }
    } else if (name === 'pause') {
      await ctx.jobs.pause(job, actor.id);
      detail = `${job} paused: scheduled runs are skipped until resumed`;
    } else {
      await ctx.jobs.resume(job, actor.id);
      detail = `${job} resumed`;
    }
  } catch (err) {
    await audit(ctx.em(), { at, actor, action, input: { job }, outcome: err instanceof AppError && err.code === 'bad_request' ? 'refused' : 'failed', detail: (err as Error).message });
    throw err;
  }
  await audit(ctx.em(), { at, actor, action, input: { job }, outcome: ok ? 'succeeded' : 'duplicate', detail });
  return { kind: 'job_action', job, action: name, ok, detail, actor };
}

/**
 * Checks `/lf fix` inputs exactly: an empty value, an unknown key or a missing required one is a usage error naming
 * it (with the value a button would propose, from a fresh diagnosis), never a silent default (e.g. a halved rate
 * limit). @throws AppError `bad_request`.
 */
async function checkFixInput(
  ctx: RunbookContext,
  rb: Runbook<RunbookContext>,
  rem: Runbook<RunbookContext>['remediations'][number],
  input: Record<string, unknown>,
  rest: string[],
  opts: ExecuteOptions,
): Promise<void> {
  const { known, required } = inputKeys(rem.inputSchema);
  for (const [k, v] of Object.entries(input)) {
    if (v === '') throw new AppError('bad_request', `${k}= needs a value`);
    if (known && !known.includes(k)) throw new AppError('bad_request', `${rem.id} has no input "${k}"${suggestion(k, known)} (inputs: ${known.join(', ') || 'none'})`);
  }
  const missing = required.filter((k) => !(k in input));
  if (missing.length === 0) return;
  let proposed: Record<string, unknown> = {};
  if (rem.defaultInput) {
    const fresh = await runView(ctx, rb, undefined, opts.progress);
    try {
      proposed = rem.defaultInput(Object.fromEntries(fresh.diagnosis.results.map((r) => [r.id, r.finding])));
    } catch {
      /* no proposal */
    }
  }
  const hint = missing.map((k) => (proposed[k] !== undefined ? `${k}=${String(proposed[k])}` : `${k}=…`)).join(' ');
  throw new AppError('bad_request', `${rem.id} needs ${missing.join(', ')}: fix ${rb.id} ${rem.id} ${[...rest, hint].join(' ')}${Object.keys(proposed).length ? ' (values the diagnosis proposes)' : ''}`);
}

/** `/lf fix <runbook> <remediation> [key=value…]`. @throws AppError `bad_request` for a bad runbook, remediation or input. */
async function executeFix(ctx: RunbookContext, cmd: LfCommand, args: string[], actor: Actor, opts: ExecuteOptions): Promise<LfResult> {
  const [rbName, remId, ...rest] = args;
  const rb = rbName ? findRunbook(rbName) : undefined;
  if (!rb || !remId) {
    const ids = rb ? rb.remediations.map((r) => r.id).join(', ') : RUNBOOKS.map((r) => r.id).join(', ');
    throw new AppError('bad_request', `usage: ${cmd.usage}; ${rb ? `remediations of ${rb.id}` : 'runbooks'}: ${ids}`);
  }
  const rem = rb.remediations.find((r) => r.id === remId);
  if (!rem) throw new AppError('bad_request', `unknown remediation "${remId}"; remediations of ${rb.id}: ${rb.remediations.map((r) => r.id).join(', ')}`);
  let input: Record<string, unknown>;
  try {
    input = parseKeyValues(rest);
  } catch (err) {
    throw new AppError('bad_request', (err as Error).message);
  }
  await checkFixInput(ctx, rb, rem, input, rest, opts);
  const outcome = await executeRemediation(ctx, RUNBOOKS, { runbook: rb.id, remediation: rem.id, input, nonce: `${actor.source}:${randomUUID()}` }, actor, opts);
  return { kind: 'remediation', runbook: rb.id, remediation: rem.id, title: rem.title, outcome, actor };
}
