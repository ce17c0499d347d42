import { defineEntity, type InferEntity } from '@mikro-orm/core';

/** Outcome of an audited action. `refused`: role check or stale message; `duplicate`: already claimed. */
export const AUDIT_OUTCOMES = ['succeeded', 'failed', 'refused', 'duplicate'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/**
 * The audit log: every operator action (remediation buttons, CLI remediations, job run/pause/resume, quota
 * resets …) with who (`actor`, e.g. `slack:U123ABC` or `cli:alice`), their resolved role, what (`action`, e.g.
 * `remediation:pipeline-not-processing/reset-quotas`), the inputs, when, and the outcome.
 */
export const AuditLog = defineEntity({
  name: 'AuditLog',
  tableName: 'audit_log',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    at: p.datetime().columnType('timestamptz').index(),
    actor: p.string().index(),
    actorRole: p.string().nullable(),
    /** Where the action came from: slack | cli | assistant | system. */
    source: p.string(),
    action: p.string().index(),
    input: p.json<Record<string, unknown>>().default('{}'),
    outcome: p.enum([...AUDIT_OUTCOMES]),
    /** One sentence: the result, or why it was refused or failed. */
    detail: p.text().nullable(),
  }),
});
/** Inferred entity type of {@link AuditLog}. */
export type IAuditLog = InferEntity<typeof AuditLog>;

/** Claim status: `running` while the remediation executes, then `succeeded` or `failed`. */
export const CLAIM_STATUSES = ['running', 'succeeded', 'failed'] as const;
export type ClaimStatus = (typeof CLAIM_STATUSES)[number];

/**
 * One claim per remediation request: `claimKey` (remediation idempotency key + the id of the message that
 * offered the button) is unique, so a double click or a second person clicking the same button finds the claim
 * taken and the remediation runs once.
 */
export const RemediationClaim = defineEntity({
  name: 'RemediationClaim',
  tableName: 'remediation_claims',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    claimKey: p.string().length(512).unique(),
    runbook: p.string(),
    remediation: p.string(),
    input: p.json<Record<string, unknown>>().default('{}'),
    claimedBy: p.string(),
    claimedAt: p.datetime().columnType('timestamptz'),
    status: p.enum([...CLAIM_STATUSES]).default('running'),
    finishedAt: p.datetime().columnType('timestamptz').nullable(),
    summary: p.text().nullable(),
  }),
});
/** Inferred entity type of {@link RemediationClaim}. */
export type IRemediationClaim = InferEntity<typeof RemediationClaim>;

/**
 * Recent error-level log records (pino level ≥ 50), kept so `/lf errors` can query the log: message, the
 * component, an error code when the record had one, and a small context (ids only, as logged). Bounded by
 * the error-log writer (count and age).
 */
export const ErrorRecord = defineEntity({
  name: 'ErrorRecord',
  tableName: 'error_records',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    at: p.datetime().columnType('timestamptz').index(),
    level: p.string(),
    component: p.string().nullable(),
    msg: p.text(),
    code: p.string().nullable(),
    context: p.json<Record<string, unknown>>().default('{}'),
  }),
});
/** Inferred entity type of {@link ErrorRecord}. */
export type IErrorRecord = InferEntity<typeof ErrorRecord>;
