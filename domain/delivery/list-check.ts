/**
 * Checking the send queue's addresses before they go out (the guide's "validate the email list"): every email still
 * to be sent (`pending` or `held`) is run through {@link checkAddressRules} (syntax and DNS-free rules); invalid
 * addresses can then be suppressed (reason `invalid`), so the delivery stage skips them instead of bouncing.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { queuedEmailAddresses } from '../queries/emails.js';
import { suppressedHashesAmong } from '../queries/suppressions.js';
import { addSuppression, emailHash } from './suppression.js';
import { checkAddressRules, type AddressRuleOptions } from './validate.js';

/** One queued email whose address fails the rules. `suppressed`: its address is already on the suppression list. */
export interface UnsendableEmail {
  id: number;
  reason: string;
  suppressed: boolean;
}

/** Result of {@link findUnsendable}: emails checked and those that fail (id order). */
export interface QueueCheck {
  checked: number;
  invalid: UnsendableEmail[];
}

/** Read-only: checks the address of every `pending`/`held` email (address and hash are never returned). */
export async function findUnsendable(em: EntityManager, opts: AddressRuleOptions = {}): Promise<QueueCheck> {
  const rows = await queuedEmailAddresses(em);
  const failing: { id: number; reason: string; hash: string }[] = [];
  for (const r of rows) {
    const c = checkAddressRules(r.toAddress, opts);
    if (!c.ok) failing.push({ id: r.id, reason: c.reason, hash: emailHash(r.toAddress) });
  }
  const suppressed = new Set<string>();
  for (let i = 0; i < failing.length; i += 500) {
    const chunk = failing.slice(i, i + 500).map((f) => f.hash);
    for (const hash of await suppressedHashesAmong(em, chunk)) suppressed.add(hash);
  }
  return { checked: rows.length, invalid: failing.map((f) => ({ id: f.id, reason: f.reason, suppressed: suppressed.has(f.hash) })) };
}

/** Result of {@link suppressUnsendable}. `byReason`: invalid emails per rule reason. */
export interface ListValidation {
  checked: number;
  invalid: number;
  /** Addresses added to the suppression list now. */
  newlySuppressed: number;
  /** Invalid addresses that were already suppressed. */
  alreadySuppressed: number;
  byReason: Record<string, number>;
}

/**
 * Checks the queue ({@link findUnsendable}) and adds every failing address to the suppression list (reason
 * `invalid`, `source`, default `operator`). Idempotent: a second call suppresses nothing new. The emails keep their
 * status; the delivery stage marks them `suppressed` when it reaches them (send.ts).
 */
export async function suppressUnsendable(em: EntityManager, now: Date, opts: AddressRuleOptions & { source?: string } = {}): Promise<ListValidation> {
  const rows = await queuedEmailAddresses(em);
  const byReason: Record<string, number> = {};
  let invalid = 0;
  let newlySuppressed = 0;
  for (const r of rows) {
    const c = checkAddressRules(r.toAddress, opts);
    if (c.ok) continue;
    invalid++;
    byReason[c.reason] = (byReason[c.reason] ?? 0) + 1;
    if (await addSuppression(em, emailHash(r.toAddress), 'invalid', opts.source ?? 'operator', now)) newlySuppressed++;
  }
  return { checked: rows.length, invalid, newlySuppressed, alreadySuppressed: invalid - newlySuppressed, byReason };
}
