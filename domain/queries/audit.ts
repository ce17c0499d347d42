/**
 * Named queries over `audit_log` (db/entities/ops-audit.entity.ts): the one insert every audited write and refusal
 * goes through (runbooks/actions.ts `audit`, webhook refusals, dead letters).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AuditOutcome } from '../../db/entities/ops-audit.entity.js';
import { sanitizeDeep, sanitizeText } from '../sanitize.js';

/** Longest audit `input` JSON kept (characters); longer inputs are stored truncated, marked so. */
export const AUDIT_INPUT_MAX = 4000;

/** One audit row. `actor` e.g. `slack:U123ABC`, `cli:alice`, `webhook:stripe`; `action` e.g. `job:pause`. */
export interface AuditRowInput {
  at: Date;
  actor: string;
  actorRole: string | null;
  /** slack | cli | assistant | system (webhooks are `system`) | web (visitors of public links, e.g. report links). */
  source: string;
  action: string;
  input?: Record<string, unknown>;
  outcome: AuditOutcome;
  /** One sentence; cut at 2,000 characters. */
  detail?: string;
}

/**
 * Inserts one audit row. Every text is made storable first (domain/sanitize.ts: U+0000 and lone surrogates become
 * U+FFFD), because refusals quote what users and providers sent; `input` over {@link AUDIT_INPUT_MAX} characters of
 * JSON is stored as `{truncated, length, head}`.
 */
export async function insertAudit(em: EntityManager, row: AuditRowInput): Promise<void> {
  let input = JSON.stringify(sanitizeDeep(row.input ?? {}).value);
  // inputs come from users (forged button values included): keep the row bounded
  if (input.length > AUDIT_INPUT_MAX) input = JSON.stringify({ truncated: true, length: input.length, head: input.slice(0, AUDIT_INPUT_MAX - 100) });
  await em
    .execute(
      `insert into audit_log (at, actor, actor_role, source, action, input, outcome, detail) values (?, ?, ?, ?, ?, ?::jsonb, ?, ?)`,
      [row.at, sanitizeText(row.actor), row.actorRole, row.source, row.action, input, row.outcome, sanitizeText(row.detail ?? '').slice(0, 2000) || null],
    );
}

/** One stored audit row (camelCase; `input` as stored JSON). */
export interface AuditRow {
  id: number;
  at: Date;
  actor: string;
  actorRole: string | null;
  source: string;
  action: string;
  input: Record<string, unknown>;
  outcome: AuditOutcome;
  detail: string | null;
}

/** Audit rows newest first (`action` filters exactly), at most `limit` (default 50). */
export async function recentAuditRows(em: EntityManager, opts: { limit?: number; action?: string } = {}): Promise<AuditRow[]> {
  const rows = await em.execute<
    { id: number; at: Date; actor: string; actor_role: string | null; source: string; action: string; input: Record<string, unknown>; outcome: AuditOutcome; detail: string | null }[]
  >(
    `select id, at, actor, actor_role, source, action, input, outcome, detail from audit_log
      where (?::text is null or action = ?) order by id desc limit ?`,
    [opts.action ?? null, opts.action ?? null, opts.limit ?? 50],
  );
  return rows.map((r) => ({ id: r.id, at: new Date(r.at), actor: r.actor, actorRole: r.actor_role, source: r.source, action: r.action, input: r.input, outcome: r.outcome, detail: r.detail }));
}
