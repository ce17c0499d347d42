/**
 * Forward-only email status transitions (DESIGN.md "Data"). Every change after the provider call (SendGrid event
 * webhook, the unsubscribe link) goes through {@link advanceStatus}, so redelivered, duplicated or out-of-order
 * events can never move an email backwards.
 *
 * Rank table ({@link STATUS_RANK}); a status may only be replaced by one of a strictly higher rank:
 *
 * | rank | statuses                      | why                                                                      |
 * |------|-------------------------------|--------------------------------------------------------------------------|
 * | 0    | pending, held, suppressed     | never handed to SendGrid                                                 |
 * | 1    | sending, failed               | handed over or maybe handed over (a timeout may still have been sent)    |
 * | 2    | sent                          | SendGrid accepted it (202) / `processed` event                           |
 * | 3    | deferred                      | receiving server said "try later"; only ever entered from `sent`         |
 * | 4    | delivered                     | receiving server accepted it                                             |
 * | 5    | bounced, dropped              | final failure; an async bounce after `delivered` is still a bounce       |
 * | 6    | spam_reported, unsubscribed   | the recipient's own decision: the strongest fact, never undone           |
 *
 * Equal ranks never replace each other, so the first terminal outcome is kept (an unsubscribe does not overwrite a
 * spam report or the reverse). `lastEventAt` only ever grows. Consequences: `delivered` never undoes `bounced`,
 * `processed`/`deferred` never override `delivered`, and an older event never lowers a newer state.
 */
import type { EmailStatus, IEmail } from '../../db/entities/index.js';

/** Rank of each email status (see the module comment). */
export const STATUS_RANK: Readonly<Record<EmailStatus, number>> = {
  pending: 0,
  held: 0,
  suppressed: 0,
  sending: 1,
  failed: 1,
  sent: 2,
  deferred: 3,
  delivered: 4,
  bounced: 5,
  dropped: 5,
  spam_reported: 6,
  unsubscribed: 6,
};

/** True when an email in `from` may move to `to` (strictly higher rank; `deferred` only from `sent`). */
export function canAdvance(from: EmailStatus, to: EmailStatus): boolean {
  if (to === 'deferred') return from === 'sent';
  return STATUS_RANK[to] > STATUS_RANK[from];
}

/**
 * Moves `email` to `to` when {@link canAdvance} allows it and records `at` (event time) in `lastEventAt` when it is
 * newer. Sets `deliveredAt` / `bouncedAt` / `bounceReason` for those outcomes. Mutates the entity only (the caller
 * flushes). Returns true when the status changed.
 */
export function advanceStatus(email: IEmail, to: EmailStatus, at: Date, reason?: string | null): boolean {
  if (!email.lastEventAt || at > email.lastEventAt) email.lastEventAt = at;
  if (!canAdvance(email.status, to)) return false;
  email.status = to;
  if (to === 'delivered') email.deliveredAt = at;
  if (to === 'bounced') email.bouncedAt = at;
  if ((to === 'bounced' || to === 'dropped' || to === 'deferred') && reason) email.bounceReason = reason;
  return true;
}
