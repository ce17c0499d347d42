/**
 * The suppression list (`email_suppressions`): addresses we never email again. Rows are keyed by
 * {@link emailHash} so the address itself is not stored. Reasons used: `bounce`, `spamreport`, `unsubscribe`,
 * `invalid`; sources: `send` (validation before sending), `sendgrid_webhook`, `unsubscribe_link`, `operator`.
 */
import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { countSuppressions, deleteSuppression, insertSuppression, isHashSuppressed } from '../queries/suppressions.js';

/** Why an address is suppressed. */
export type SuppressionReason = 'bounce' | 'spamreport' | 'unsubscribe' | 'invalid' | (string & {});

/** Hex SHA-256 (64 lower-case hex chars) of the trimmed, lower-cased address. */
export function emailHash(address: string): string {
  return createHash('sha256').update(address.trim().toLowerCase(), 'utf8').digest('hex');
}

const HEX64 = /^[0-9a-f]{64}$/;
const toHash = (addressOrHash: string): string => (HEX64.test(addressOrHash) ? addressOrHash : emailHash(addressOrHash));

/**
 * True when the address (or a 64-hex {@link emailHash}) is suppressed. Database errors propagate: the caller must
 * not send when the check could not be made (v1 assumed "not suppressed" on errors; we don't).
 */
export async function isSuppressed(em: EntityManager, addressOrHash: string): Promise<boolean> {
  return isHashSuppressed(em, toHash(addressOrHash));
}

/**
 * Adds the address (or hash) to the list. Idempotent: when a row exists it is kept unchanged (the first reason
 * and source win). Returns true when a new row was inserted. Uses `on conflict do nothing`, so concurrent
 * writers never fail; runs inside the caller's transaction when `em` is transactional.
 */
export async function addSuppression(
  em: EntityManager,
  addressOrHash: string,
  reason: SuppressionReason,
  source: string,
  now: Date = new Date(),
): Promise<boolean> {
  return insertSuppression(em, toHash(addressOrHash), reason, source, now);
}

/** Removes the address (or hash) from the list (an operator's decision). Returns true when a row was deleted. */
export async function removeSuppression(em: EntityManager, addressOrHash: string): Promise<boolean> {
  return deleteSuppression(em, toHash(addressOrHash));
}

/** Number of suppressed addresses, optionally for one reason only. */
export async function suppressionCount(em: EntityManager, reason?: SuppressionReason): Promise<number> {
  return countSuppressions(em, reason);
}
