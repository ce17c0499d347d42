/**
 * Poison-proof intake: what to do with an inbound event that cannot be applied. A database that is away is a
 * transient failure (the caller answers 5xx and the provider redelivers: nothing is lost); anything else about one
 * event (its data, its shape, an error applying it) parks that event in `dead_letters` with its reason and the
 * payload, leaves an audit row, and lets the rest of the batch go on — the provider gets its 2xx and stops retrying.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { isConnectionError } from '../db-retry.js';
import { insertAudit } from '../queries/audit.js';
import { upsertDeadLetter, type DeadLetterInput } from '../queries/dead-letters.js';

/** SQLSTATEs beyond a lost connection that mean "try again later": resources (53), serialization, deadlock, lock not available. */
const RETRY_LATER_SQLSTATE = /^(53|40001|40P01|55P03)/;

/**
 * True when `err` says the database is unreachable or busy rather than that the event is bad: a lost connection
 * (domain/db-retry.ts isConnectionError: socket errors, SQLSTATE 08, 57P01–57P03, pool messages) or, anywhere in its
 * cause chain, SQLSTATE class 53 (resources), 40001/40P01 (serialization, deadlock) or 55P03 (lock not available).
 */
export function isTransientDbError(err: unknown): boolean {
  if (isConnectionError(err)) return true;
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const o = e as { code?: unknown; sqlState?: unknown; cause?: unknown };
    const code = typeof o.code === 'string' ? o.code : typeof o.sqlState === 'string' ? o.sqlState : '';
    if (RETRY_LATER_SQLSTATE.test(code)) return true;
    e = o.cause;
  }
  return false;
}

/** Actor recorded on intake audit rows: `webhook:<source>`. */
export const intakeActor = (source: string): string => `webhook:${source}`;

/**
 * Parks one event: stores the dead letter (deduplicated per source and dedup key) and writes the audit row
 * (`intake:dead_letter`, outcome `refused`, actor `webhook:<source>`). Returns the dead letter's id.
 * @throws database errors (the caller then answers 5xx: the provider redelivers and nothing is lost).
 */
export async function deadLetter(em: EntityManager, d: Omit<DeadLetterInput, 'reason'> & { reason: string }): Promise<number> {
  const r = await upsertDeadLetter(em, d);
  await insertAudit(em, {
    at: d.at,
    actor: intakeActor(d.source),
    actorRole: null,
    source: 'system',
    action: 'intake:dead_letter',
    input: { deadLetterId: r.id, source: d.source, dedupKey: d.dedupKey, eventType: d.eventType, attempts: r.attempts },
    outcome: 'refused',
    detail: `${d.source} event ${d.dedupKey} dead-lettered (#${r.id}, attempt ${r.attempts}): ${d.reason}`,
  });
  return r.id;
}

/**
 * Audits a refused delivery (bad signature or token, unparseable body): action `intake:<source>:<what>`, outcome
 * `refused`, actor `webhook:<source>`. Never throws: a refusal must not turn into a 500 because the audit failed
 * (failures are passed to `onError`).
 */
export async function auditRefusal(
  em: EntityManager,
  r: { source: string; what: string; detail: string; at: Date; input?: Record<string, unknown> },
  onError: (err: unknown) => void = () => {},
): Promise<void> {
  try {
    await insertAudit(em, { at: r.at, actor: intakeActor(r.source), actorRole: null, source: 'system', action: `intake:${r.source}:${r.what}`, input: r.input ?? {}, outcome: 'refused', detail: r.detail });
  } catch (err) {
    onError(err);
  }
}
