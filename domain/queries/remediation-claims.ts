/**
 * Named queries over `remediation_claims` (runbooks/actions.ts): a remediation request is claimed once per claim key
 * (`<runbook>/<remediation>:<idempotency key>:<nonce>`); a `failed` claim can be taken again.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** A claim to take. `input` is stored as JSON; `at` is when it was claimed. */
export interface RemediationClaimInput {
  claimKey: string;
  runbook: string;
  remediation: string;
  input: Record<string, unknown>;
  claimedBy: string;
  at: Date;
}

/** Takes the claim (`running`), or re-takes a `failed` one; the claim's id, or undefined when another holds it. */
export async function claimRemediation(em: EntityManager, c: RemediationClaimInput): Promise<number | undefined> {
  const rows = await em.execute<{ id: number }[]>(
    `insert into remediation_claims (claim_key, runbook, remediation, input, claimed_by, claimed_at, status)
     values (?, ?, ?, ?::jsonb, ?, ?, 'running')
     on conflict (claim_key) do update set claimed_by = excluded.claimed_by, claimed_at = excluded.claimed_at,
       status = 'running', finished_at = null, summary = null, input = excluded.input
       where remediation_claims.status = 'failed'
     returning id`,
    [c.claimKey, c.runbook, c.remediation, JSON.stringify(c.input), c.claimedBy, c.at],
  );
  return rows[0]?.id;
}

/** Who holds the claim `claimKey`, since when and its status (`running`, `succeeded`, `failed`); undefined when none. */
export async function remediationClaimHolder(em: EntityManager, claimKey: string): Promise<{ claimedBy: string; claimedAt: Date; status: string } | undefined> {
  const [row] = await em.execute<{ claimed_by: string; claimed_at: Date; status: string }[]>(
    'select claimed_by, claimed_at, status from remediation_claims where claim_key = ?',
    [claimKey],
  );
  return row ? { claimedBy: row.claimed_by, claimedAt: new Date(row.claimed_at), status: row.status } : undefined;
}

/** Ends the claim `id` with its outcome and one-sentence summary. */
export async function finishRemediationClaim(em: EntityManager, id: number, status: 'succeeded' | 'failed', finishedAt: Date, summary: string): Promise<void> {
  await em.execute('update remediation_claims set status = ?, finished_at = ?, summary = ? where id = ?', [status, finishedAt, summary, id]);
}
