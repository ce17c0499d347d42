/**
 * The runbook model and engine. A runbook (one file each, from the troubleshooting guide) declares symptoms,
 * read-only diagnostics, root causes (which findings point to them) and remediations. `runDiagnostics` runs a
 * runbook's diagnostics concurrently, each under a timeout, and never throws: a diagnostic that fails or times
 * out yields a Finding with status `error`. `diagnose` adds the root causes whose findings match.
 */
import type { z } from 'zod';
import type { RunbookContext } from './context.js';
import { redactDeep, redactSecrets } from './redact.js';
import { flushLedgers } from '../domain/gateway/ledger.js';
import { createLogger, type Logger } from '../domain/logger.js';

let fallback: Logger | undefined;
/** The error log's logger, for callers that pass none. */
const fallbackLogger = (): Logger => (fallback ??= createLogger('error', { component: 'runbooks' }));

/** A diagnostic's verdict: ok | warn | problem | no_data | error (the diagnostic itself failed). */
export type FindingStatus = 'ok' | 'warn' | 'problem' | 'no_data' | 'error';

/** What a diagnostic found: a status, one sentence, and the evidence behind it (small, JSON-serialisable). */
export interface Finding {
  status: FindingStatus;
  summary: string;
  evidence?: Record<string, unknown>;
}

/** The evidence of finding `id` among the findings `f` (empty when it has none): what root causes and summaries read. */
export function evidenceOf(f: Record<string, Finding>, id: string): Record<string, unknown> {
  return f[id]?.evidence ?? {};
}

/** A read-only check. `run` gets the runbook's context (services) and must not write. */
export interface Diagnostic<C> {
  id: string;
  title: string;
  /** Per-diagnostic timeout in ms (default {@link DEFAULT_DIAGNOSTIC_TIMEOUT_MS}). */
  timeoutMs?: number;
  run(ctx: C): Promise<Finding>;
}

/** A root cause, suggested when `indicatedBy` holds for the findings (by diagnostic id). */
export interface RootCause {
  id: string;
  title: string;
  indicatedBy(findings: Record<string, Finding>): boolean;
  /**
   * One sentence naming what the findings show (counts, the provider's status, when it can be fixed), shown instead
   * of `title` once the cause is indicated (e.g. "45 sends failed on SendGrid 401 (auth) in the last 24 h; retryable
   * once the key is fixed"). Undefined, or a throw, falls back to `title`.
   */
  describe?(findings: Record<string, Finding>): string | undefined;
  /** Remediation ids that address it. */
  remediations: string[];
}

/** The title an indicated cause is shown with: its {@link RootCause.describe} sentence when it gives one, else `title`. Never throws. */
export function causeTitle(cause: RootCause, findings: Record<string, Finding>): string {
  try {
    const said = cause.describe?.(findings);
    return said ? redactSecrets(said) : cause.title;
  } catch {
    return cause.title;
  }
}

/** Risk of a remediation: read (no change), write, money, destructive. */
export type RemediationRisk = 'read' | 'write' | 'money' | 'destructive';

/** Roles, least to most privileged. */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** True when `have` is at least `need`. */
export function roleAtLeast(have: Role | undefined, need: Role): boolean {
  return have !== undefined && ROLES.indexOf(have) >= ROLES.indexOf(need);
}

/** A fix. `recheck` names the diagnostic run before and again afterwards to show whether it worked. */
export interface Remediation<C> {
  id: string;
  title: string;
  risk: RemediationRisk;
  requiredRole: Role;
  /** Shown before acting, naming the effect. */
  confirmation: string;
  /**
   * Claims for the same key (plus the id of the message offering the button) are taken once: double clicks
   * and two people clicking run it once.
   */
  idempotencyKey(input: Record<string, unknown>): string;
  /**
   * The diagnostic that motivates this remediation: it runs before the remediation (already ok → "Nothing to fix")
   * and again afterwards (runbooks/verify.ts); ok afterwards, having not been ok before, is "Fixed".
   */
  recheck: string;
  /**
   * For a remediation whose `recheck` would only read back what it wrote (a breaker reset would read the breaker it
   * just closed): its own before/after checks, which replace the diagnostic in the verdict. `before` runs before the
   * remediation and must only read. `after` proves the effect with a live call (e.g. through the gateway), waiting
   * for it until `deadline` (a time on the services' clock) and pausing `pollMs` between polls; it must not throw.
   */
  verify?: {
    before(ctx: C, input: Record<string, unknown>): Promise<Finding>;
    after(ctx: C, input: Record<string, unknown>, opts: { deadline: Date; pollMs: number }): Promise<Finding>;
  };
  /** Validates the input (from a button's value, CLI `key=value` pairs, or the assistant); default: none taken. */
  inputSchema?: z.ZodType<Record<string, unknown>>;
  /** The input a button carries, chosen from the findings (e.g. half the current batch size). Default `{}`. */
  defaultInput?(findings: Record<string, Finding>): Record<string, unknown>;
  /** Performs the fix; `actor` (e.g. `slack:U123`) is recorded on what it writes. Throws on failure. */
  run(ctx: C, input: Record<string, unknown>, actor: string): Promise<{ summary: string }>;
}

/** A runbook from the troubleshooting guide. */
export interface Runbook<C> {
  id: string;
  title: string;
  symptoms: string[];
  diagnostics: Diagnostic<C>[];
  rootCauses: RootCause[];
  remediations: Remediation<C>[];
}

/** Default timeout per diagnostic (ms). */
export const DEFAULT_DIAGNOSTIC_TIMEOUT_MS = 5000;

/**
 * Declares a runbook, checking that ids are unique and that root causes and remediations refer to existing ids.
 * @throws Error naming the dangling or duplicate id.
 */
export function defineRunbook<C>(rb: Runbook<C>): Runbook<C> {
  const dupes = (ids: string[]) => ids.filter((id, i) => ids.indexOf(id) !== i);
  const diagIds = rb.diagnostics.map((d) => d.id);
  const remIds = rb.remediations.map((r) => r.id);
  for (const d of [...dupes(diagIds), ...dupes(remIds), ...dupes(rb.rootCauses.map((c) => c.id))])
    throw new Error(`runbook ${rb.id}: duplicate id "${d}"`);
  for (const c of rb.rootCauses)
    for (const r of c.remediations)
      if (!remIds.includes(r)) throw new Error(`runbook ${rb.id}: root cause ${c.id} names unknown remediation "${r}"`);
  for (const r of rb.remediations)
    if (!diagIds.includes(r.recheck)) throw new Error(`runbook ${rb.id}: remediation ${r.id} re-checks unknown diagnostic "${r.recheck}"`);
  return rb;
}

/** One diagnostic's outcome with its timing. */
export interface DiagnosticResult {
  id: string;
  title: string;
  finding: Finding;
  durationMs: number;
}

/** Runs one diagnostic under its timeout; never throws. */
export async function runDiagnostic<C>(d: Diagnostic<C>, ctx: C): Promise<DiagnosticResult> {
  const t0 = performance.now();
  const ms = d.timeoutMs ?? DEFAULT_DIAGNOSTIC_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  let finding: Finding;
  try {
    finding = await Promise.race([
      d.run(ctx),
      new Promise<Finding>((resolve) => {
        timer = setTimeout(() => resolve({ status: 'error', summary: `timed out after ${ms} ms` }), ms);
      }),
    ]);
  } catch (err) {
    finding = { status: 'error', summary: `diagnostic failed: ${(err as Error)?.message ?? String(err)}` };
  } finally {
    clearTimeout(timer);
  }
  // no key, token or secret leaves a diagnostic, whatever the provider echoed
  finding = { ...finding, summary: redactSecrets(finding.summary), ...(finding.evidence ? { evidence: redactDeep(finding.evidence) } : {}) };
  return { id: d.id, title: d.title, finding, durationMs: Math.round(performance.now() - t0) };
}

/** A runbook's diagnosis: every finding, and the root causes they indicate (with their remediation ids). */
export interface Diagnosis {
  runbook: string;
  title: string;
  results: DiagnosticResult[];
  rootCauses: { id: string; title: string; remediations: string[] }[];
}

/** Id prefix of the `error` finding added for a root-cause check that threw. */
export const ROOT_CAUSE_CHECK_PREFIX = 'root-cause-check:';

/**
 * Runs every diagnostic concurrently and matches the root causes. Never throws for a diagnostic's failure. Fails
 * closed: a root-cause check (`indicatedBy`) that throws is logged (`opts.logger`, else the error log) and shown as an
 * `error` finding `root-cause-check:<id>` — never silently counted as "not indicated".
 */
export async function diagnose<C>(
  rb: Runbook<C>,
  ctx: C,
  opts: { onResult?: (r: DiagnosticResult) => void; logger?: Pick<Logger, 'error'> } = {},
): Promise<Diagnosis> {
  await flushLedgers(); // diagnostics read the api_calls ledger: include this process's calls so far
  const results = await Promise.all(
    rb.diagnostics.map(async (d) => {
      const r = await runDiagnostic(d, ctx);
      opts.onResult?.(r);
      return r;
    }),
  );
  const byId = Object.fromEntries(results.map((r) => [r.id, r.finding]));
  const failedChecks: DiagnosticResult[] = [];
  const rootCauses = rb.rootCauses
    .filter((c) => {
      try {
        return c.indicatedBy(byId);
      } catch (err) {
        const message = (err as Error)?.message ?? String(err);
        (opts.logger ?? fallbackLogger()).error({ runbook: rb.id, rootCause: c.id, err: message }, 'root-cause check threw');
        failedChecks.push({
          id: `${ROOT_CAUSE_CHECK_PREFIX}${c.id}`,
          title: `Root-cause check: ${c.title}`,
          finding: { status: 'error', summary: redactSecrets(`the check for "${c.title}" failed: ${message}; this root cause could not be ruled in or out`) },
          durationMs: 0,
        });
        return false;
      }
    })
    .map((c) => ({ id: c.id, title: causeTitle(c, byId), remediations: c.remediations }));
  return { runbook: rb.id, title: rb.title, results: [...results, ...failedChecks], rootCauses };
}

const MARK: Record<FindingStatus, string> = { ok: 'OK', warn: 'WARN', problem: 'PROBLEM', no_data: 'NO DATA', error: 'ERROR' };

/** Plain-text rendering (CLI). */
export function renderDiagnosisText(d: Diagnosis): string {
  const lines = [`${d.title} (${d.runbook})`, ''];
  for (const r of d.results) lines.push(`  [${MARK[r.finding.status]}] ${r.title}: ${r.finding.summary}`);
  lines.push('');
  if (d.rootCauses.length === 0) lines.push('No root cause indicated.');
  for (const c of d.rootCauses) lines.push(`Root cause: ${c.title}${c.remediations.length ? ` — fixes: ${c.remediations.join(', ')}` : ''}`);
  return `${lines.join('\n')}\n`;
}

/** A diagnosis plus what is needed to offer its remediation buttons. */
/** A diagnosis plus what is needed to offer its remediation buttons (Slack, the alert posts, the assistant). */
export interface DiagnosisResult {
  kind: 'diagnosis';
  diagnosis: Diagnosis;
  runbook: Runbook<RunbookContext>;
  /** Identifies this offer: buttons carry it, so each is claimed once. */
  nonce: string;
  issuedAt: Date;
  /** True when the whole runbook ran (root causes and buttons shown). */
  full: boolean;
}

