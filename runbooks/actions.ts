/**
 * Executes remediations for every door (Slack buttons, the CLI, the assistant's proposals once approved):
 * look up → role check → stale check → input validation → claim once in the database → run → audit → re-check.
 *
 * - Claim: `remediation_claims.claim_key` = `<runbook>/<remediation>:<idempotency key>:<nonce>` is unique, where
 *   the nonce identifies the message (diagnosis) that offered the button. A double click or a second person
 *   clicking the same button finds the claim taken (`duplicate`, naming who acted). A failed claim can be taken
 *   again (a retry after a failure is allowed).
 * - Audit: every request leaves one `audit_log` row (succeeded | failed | refused | duplicate) with actor, role,
 *   source, action `remediation:<runbook>/<remediation>`, inputs and a one-sentence detail.
 * - Verification (runbooks/verify.ts): the motivating finding is taken before the run and again after a successful
 *   one (with its live probe, waiting for the effect), giving the verdict `fixed` | `not_fixed_yet` |
 *   `nothing_to_fix`; the audit row's detail ends with it, so the incident timeline shows it. `recheck` (the
 *   diagnostic's re-run) and `fixed` (verdict is `fixed`) stay for older callers.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AuditOutcome } from '../db/entities/ops-audit.entity.js';
import { insertAudit } from '../domain/queries/audit.js';
import { claimRemediation, finishRemediationClaim, remediationClaimHolder } from '../domain/queries/remediation-claims.js';
import type { RunbookContext } from './context.js';
import { roleAtLeast, type DiagnosticResult, type Remediation, type Role, type Runbook } from './define.js';
import { checkAfter, checkBefore, verification, type Verdict, type Verification } from './verify.js';

/** Who asks: `id` is audited (`slack:U123ABC`, `cli:alice`, `assistant:U123ABC`); `role` already resolved. */
export interface Actor {
  id: string;
  role: Role | undefined;
  source: 'slack' | 'cli' | 'assistant' | 'system';
  /** How to mention them in Slack (`<@U123ABC>`), or a plain name. */
  display: string;
}

/** A request to run one remediation. */
export interface RemediationRequest {
  runbook: string;
  remediation: string;
  input?: Record<string, unknown>;
  /** Identifies the offer (message / diagnosis) so one button is claimed once; fresh per CLI invocation. */
  nonce: string;
  /** When the offering message was rendered (buttons carry it); older than `staleAfterMs` is refused. */
  issuedAt?: Date;
}

/** What happened. */
export type RemediationOutcome =
  | { status: 'refused'; reason: 'unknown' | 'role' | 'stale' | 'bad_input'; detail: string }
  | { status: 'duplicate'; detail: string; claimedBy: string; claimedAt: Date; claimStatus: string }
  | {
      status: 'succeeded' | 'failed';
      detail: string;
      /** After success only: fixed | not_fixed_yet | nothing_to_fix (runbooks/verify.ts). */
      verdict?: Verdict;
      /** After success only: the findings before and after, and the verdict's sentence. */
      verification?: Verification;
      /** The re-run of the remediation's `recheck` diagnostic (after success only). */
      recheck?: DiagnosticResult;
      /** True when the verdict is `fixed` (kept for older callers; prefer `verdict`). */
      fixed?: boolean;
    };

/** Default age (ms) after which a button is stale: 30 minutes. */
export const DEFAULT_STALE_AFTER_MS = 30 * 60 * 1000;

/** Finds a runbook's remediation, or undefined. */
export function findRemediation(
  runbooks: readonly Runbook<RunbookContext>[],
  runbookId: string,
  remediationId: string,
): { runbook: Runbook<RunbookContext>; remediation: Remediation<RunbookContext> } | undefined {
  const runbook = runbooks.find((r) => r.id === runbookId);
  const remediation = runbook?.remediations.find((m) => m.id === remediationId);
  return runbook && remediation ? { runbook, remediation } : undefined;
}

export { AUDIT_INPUT_MAX } from '../domain/queries/audit.js';

/** Writes one audit row (domain/queries/audit.ts). `action` e.g. `remediation:pipeline-not-processing/reset-quotas`, `job:pause`. */
export async function audit(
  em: EntityManager,
  row: { at: Date; actor: Actor; action: string; input?: Record<string, unknown>; outcome: AuditOutcome; detail?: string },
): Promise<void> {
  await insertAudit(em, { at: row.at, actor: row.actor.id, actorRole: row.actor.role ?? null, source: row.actor.source, action: row.action, input: row.input, outcome: row.outcome, detail: row.detail });
}

/** The audit rows, newest first (for `/lf audit` and tests). */
export { recentAuditRows as recentAudit } from '../domain/queries/audit.js';

/** A refusal before anything is claimed. */
type Refusal = { reason: 'unknown' | 'role' | 'stale' | 'bad_input'; detail: string };

/**
 * The checks before a claim: the remediation exists, the actor's role suffices, the button is neither from the
 * future nor stale, the input validates. The remediation and its validated input, or why it is refused.
 */
function admit(
  runbooks: readonly Runbook<RunbookContext>[],
  req: RemediationRequest,
  actor: Actor,
  now: Date,
  staleAfter: number,
): { found: { runbook: Runbook<RunbookContext>; remediation: Remediation<RunbookContext> }; input: Record<string, unknown> } | Refusal {
  const found = findRemediation(runbooks, req.runbook, req.remediation);
  if (!found) return { reason: 'unknown', detail: `unknown remediation ${req.runbook}/${req.remediation}` };
  const { remediation } = found;
  if (!roleAtLeast(actor.role, remediation.requiredRole))
    return { reason: 'role', detail: `${remediation.title} needs the ${remediation.requiredRole} role; ${actor.id} has ${actor.role ?? 'no role'}` };
  // a button's time must be a real time, not in the future (beyond a minute of clock skew), and not too old
  if (req.issuedAt && (!Number.isFinite(req.issuedAt.getTime()) || req.issuedAt.getTime() - now.getTime() > 60_000))
    return { reason: 'stale', detail: 'this button carries an invalid issue time; run the diagnosis again' };
  if (req.issuedAt && now.getTime() - req.issuedAt.getTime() > staleAfter)
    return {
      reason: 'stale',
      detail: `this button is from ${req.issuedAt.toISOString()}, older than ${Math.round(staleAfter / 60000)} min; run the diagnosis again for current findings`,
    };
  let input: Record<string, unknown> = req.input ?? {};
  if (remediation.inputSchema) {
    const parsed = remediation.inputSchema.safeParse(input);
    if (!parsed.success)
      return { reason: 'bad_input', detail: `invalid input for ${remediation.id}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ')}` };
    input = parsed.data;
  }
  return { found, input };
}

/**
 * Runs a remediation for `actor` (see the module comment). Never throws for the remediation's own failure
 * (that is `failed`, audited); database errors while claiming or auditing do throw.
 */
export async function executeRemediation(
  ctx: RunbookContext,
  runbooks: readonly Runbook<RunbookContext>[],
  req: RemediationRequest,
  actor: Actor,
  opts: { staleAfterMs?: number } = {},
): Promise<RemediationOutcome> {
  const now = ctx.services.clock.now();
  const action = `remediation:${req.runbook}/${req.remediation}`;
  const em = ctx.em();
  const admitted = admit(runbooks, req, actor, now, opts.staleAfterMs ?? DEFAULT_STALE_AFTER_MS);
  if (!('found' in admitted)) {
    await audit(em, { at: now, actor, action, input: req.input, outcome: 'refused', detail: admitted.detail });
    return { status: 'refused', reason: admitted.reason, detail: admitted.detail };
  }
  const { found, input } = admitted;
  const claimKey = `${req.runbook}/${req.remediation}:${found.remediation.idempotencyKey(input)}:${req.nonce}`.slice(0, 512);
  const claimId = await claimRemediation(em, { claimKey, runbook: req.runbook, remediation: req.remediation, input, claimedBy: actor.id, at: now });
  if (claimId === undefined) {
    const held = await remediationClaimHolder(em, claimKey);
    const claimedAt = held?.claimedAt ?? now;
    const detail = `already ${held?.status === 'running' ? 'being done' : 'done'} by ${held?.claimedBy ?? 'someone'} at ${claimedAt.toISOString()}`;
    await audit(em, { at: now, actor, action, input, outcome: 'duplicate', detail });
    return { status: 'duplicate', detail, claimedBy: held?.claimedBy ?? 'unknown', claimedAt, claimStatus: held?.status ?? 'unknown' };
  }
  return runClaimed(ctx, found, input, actor, action, claimId);
}

/** Runs a claimed remediation between its before and after checks, ends the claim and audits the outcome once. */
async function runClaimed(
  ctx: RunbookContext,
  found: { runbook: Runbook<RunbookContext>; remediation: Remediation<RunbookContext> },
  input: Record<string, unknown>,
  actor: Actor,
  action: string,
  claimId: number,
): Promise<RemediationOutcome> {
  const em = ctx.em();
  const { remediation } = found;
  // the motivating finding before anything changes: already ok means there is nothing to fix
  const before = await checkBefore(ctx, found.runbook, remediation, input);
  let status: 'succeeded' | 'failed';
  let detail: string;
  try {
    detail = (await remediation.run(ctx, input, actor.id)).summary;
    status = 'succeeded';
  } catch (err) {
    status = 'failed';
    detail = `failed: ${(err as Error)?.message ?? String(err)}`;
  }
  const finishedAt = ctx.services.clock.now();
  await finishRemediationClaim(em, claimId, status, finishedAt, detail);
  if (status === 'failed') {
    await audit(em, { at: finishedAt, actor, action, input, outcome: status, detail });
    return { status, detail };
  }
  const v = verification(before, await checkAfter(ctx, found.runbook, remediation, input));
  // audited once, with the verdict, so the incident timeline and the postmortem show what was verified
  await audit(em, { at: finishedAt, actor, action, input, outcome: status, detail: `${detail} Verification: ${v.summary}` });
  return { status, detail, verdict: v.verdict, verification: v, recheck: v.after?.diagnostic, fixed: v.verdict === 'fixed' };
}
