/**
 * Honest verification of a remediation (issue #14 point 6). The motivating finding — the remediation's own
 * `verify.before`/`verify.after` checks when it declares them, else its `recheck` diagnostic — is taken BEFORE the
 * remediation runs and again AFTER it, and the answer is one of three verdicts:
 *
 * - `fixed`: the finding was not ok before and is ok after, measured afresh (a live call through the gateway for
 *   checks that have one; never our own write read back);
 * - `not_fixed_yet`: still not ok after (the summary says what was seen, e.g. "Yelp still answers HTTP 503");
 * - `nothing_to_fix`: the finding was already ok before the remediation ran.
 *
 * Waiting for an effect (a reset breaker's probe call) is bounded by `config.gateway.verify.waitMs` on the services'
 * clock, polling every `pollMs` (VERIFY_WAIT_MS, VERIFY_POLL_MS).
 */
import { flushLedgers } from '../domain/gateway/ledger.js';
import type { RunbookContext } from './context.js';
import { DEFAULT_DIAGNOSTIC_TIMEOUT_MS, runDiagnostic, type DiagnosticResult, type Finding, type Remediation, type Runbook } from './define.js';
import { redactDeep, redactSecrets } from './redact.js';

/** The three verdicts. */
export type Verdict = 'fixed' | 'not_fixed_yet' | 'nothing_to_fix';

/** How every renderer names a verdict. */
export const VERDICT_LABEL: Record<Verdict, string> = { fixed: 'Fixed', not_fixed_yet: 'Not fixed yet', nothing_to_fix: 'Nothing to fix' };

/** The motivating finding at one moment: what was checked (`title`), what it found, and the diagnostic re-run, if any. */
export interface Check {
  title: string;
  finding: Finding;
  /** The `recheck` diagnostic's run (after: always, for the `recheck` field callers read). */
  diagnostic?: DiagnosticResult;
}

/** A remediation's verification. */
export interface Verification {
  verdict: Verdict;
  before: Check;
  /** Absent for a remediation that failed (no verification then). */
  after?: Check;
  /** One sentence for every renderer: `Not fixed yet — Yelp still answers HTTP 503 …`. */
  summary: string;
}

async function guarded(title: string, ms: number, fn: () => Promise<Finding>): Promise<Finding> {
  let timer: NodeJS.Timeout | undefined;
  let f: Finding;
  try {
    f = await Promise.race([
      fn(),
      new Promise<Finding>((resolve) => {
        timer = setTimeout(() => resolve({ status: 'error', summary: `${title}: no answer within ${ms} ms` }), ms);
      }),
    ]);
  } catch (err) {
    f = { status: 'error', summary: `${title} failed: ${(err as Error)?.message ?? String(err)}` };
  } finally {
    clearTimeout(timer);
  }
  return { ...f, summary: redactSecrets(f.summary), ...(f.evidence ? { evidence: redactDeep(f.evidence) } : {}) };
}

const diagnosticOf = (runbook: Runbook<RunbookContext>, remediation: Remediation<RunbookContext>) =>
  runbook.diagnostics.find((d) => d.id === remediation.recheck);

/**
 * The motivating finding before the remediation runs (read-only). Never throws: a check that fails reads `error`
 * (not ok, so it can never yield "Nothing to fix").
 */
export async function checkBefore(
  ctx: RunbookContext,
  runbook: Runbook<RunbookContext>,
  remediation: Remediation<RunbookContext>,
  input: Record<string, unknown>,
): Promise<Check> {
  await flushLedgers().catch(() => undefined);
  if (remediation.verify) {
    const v = remediation.verify;
    return { title: remediation.title, finding: await guarded(remediation.title, DEFAULT_DIAGNOSTIC_TIMEOUT_MS, () => v.before(ctx, input)) };
  }
  const d = diagnosticOf(runbook, remediation);
  if (!d) return { title: remediation.recheck, finding: { status: 'error', summary: `no diagnostic ${remediation.recheck}` } };
  const r = await runDiagnostic(d, ctx);
  return { title: r.title, finding: r.finding, diagnostic: r };
}

/**
 * The motivating finding after a successful remediation: its `verify.after` (live, waiting up to
 * `config.gateway.verify.waitMs`) when declared, and the `recheck` diagnostic re-run. Never throws.
 */
export async function checkAfter(
  ctx: RunbookContext,
  runbook: Runbook<RunbookContext>,
  remediation: Remediation<RunbookContext>,
  input: Record<string, unknown>,
): Promise<Check> {
  const d = diagnosticOf(runbook, remediation);
  const rerun = async () => {
    await flushLedgers().catch(() => undefined); // diagnostics read the api_calls ledger: include the calls just made
    return d ? runDiagnostic(d, ctx) : undefined;
  };
  if (remediation.verify) {
    const v = remediation.verify;
    const { waitMs, pollMs } = ctx.services.config.gateway.verify;
    const deadline = new Date(ctx.services.clock.now().getTime() + waitMs);
    // the wait, plus one last live call's own time (bounded by the provider timeout)
    const finding = await guarded(remediation.title, waitMs + ctx.services.config.providerTimeoutMs + DEFAULT_DIAGNOSTIC_TIMEOUT_MS, () =>
      v.after(ctx, input, { deadline, pollMs }),
    );
    return { title: remediation.title, finding, diagnostic: await rerun() };
  }
  const r = await rerun();
  if (!r) return { title: remediation.recheck, finding: { status: 'error', summary: `no diagnostic ${remediation.recheck}` } };
  return { title: r.title, finding: r.finding, diagnostic: r };
}

/** The verdict from the two findings (see the module comment). Only `ok` counts as ok. */
export function verdictOf(before: Finding, after: Finding | undefined): Verdict {
  if (before.status === 'ok') return 'nothing_to_fix';
  return after?.status === 'ok' ? 'fixed' : 'not_fixed_yet';
}

/** Builds the {@link Verification} of a remediation that ran (`after` from {@link checkAfter}). */
export function verification(before: Check, after: Check): Verification {
  const verdict = verdictOf(before.finding, after.finding);
  const seen = verdict === 'nothing_to_fix' ? `already before it ran: ${before.finding.summary}` : after.finding.summary;
  return { verdict, before, after, summary: `${VERDICT_LABEL[verdict]} — ${seen}` };
}

/** Sleeps `ms` real milliseconds (the polls' pause). */
export const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
