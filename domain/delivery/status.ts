/**
 * Forward-only email status transitions (DESIGN.md "Data"). Every change after the provider call (SendGrid event
 * webhook, the unsubscribe link) goes through {@link advanceStatus}, so redelivered, duplicated or out-of-order
 * events can never move an email backwards.
 *
 * Rank table ({@link STATUS_RANK}); a status may only be replaced by one of a strictly higher rank:
 *
 * | rank | status                    | why                                                                      |
 * |------|---------------------------|--------------------------------------------------------------------------|
 * | 0    | pending, held, suppressed | never handed to SendGrid                                                 |
 * | 1    | sending, failed           | handed over or maybe handed over (a timeout may still have been sent)    |
 * | 2    | sent                      | SendGrid accepted it (202) / `processed` event                           |
 * | 3    | deferred                  | receiving server said "try later"; only ever entered from `sent`         |
 * | 4    | delivered                 | receiving server accepted it                                             |
 * | 5    | dropped                   | SendGrid refused to send it (suppressed or invalid address)             |
 * | 6    | bounced                   | final failure; an async bounce after `delivered` is still a bounce       |
 * | 7    | unsubscribed              | the recipient's decision                                                 |
 * | 8    | spam_reported             | the recipient's complaint: the strongest fact, never undone              |
 *
 * Every status SendGrid events can set has its own rank, so the final status is the highest one seen whatever the
 * arrival order (the only order-sensitive rule is `deferred`, which counts only while the email is `sent`).
 * `lastEventAt` only ever grows; `deliveredAt` / `bouncedAt` keep the earliest such event even when the status does
 * not change (a `delivered` after a spam report still records when it was delivered). Consequences: `delivered`
 * never undoes `bounced`, `processed`/`deferred` never override `delivered`, and an older event never lowers a newer
 * state.
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
  dropped: 5,
  bounced: 6,
  unsubscribed: 7,
  spam_reported: 8,
};

/** True when an email in `from` may move to `to` (strictly higher rank; `deferred` only from `sent`). */
export function canAdvance(from: EmailStatus, to: EmailStatus): boolean {
  if (to === 'deferred') return from === 'sent';
  return STATUS_RANK[to] > STATUS_RANK[from];
}

/**
 * Moves `email` to `to` when {@link canAdvance} allows it, and records `at` (event time): in `lastEventAt` when newer,
 * in `deliveredAt` / `bouncedAt` (for `to` delivered / bounced) when earlier or unset, whether or not the status
 * changes. `bounceReason` is set when the status changes to bounced, dropped or deferred. Mutates the entity only
 * (the caller flushes). Returns true when the status changed.
 */
export function advanceStatus(email: IEmail, to: EmailStatus, at: Date, reason?: string | null): boolean {
  if (!email.lastEventAt || at > email.lastEventAt) email.lastEventAt = at;
  if (to === 'delivered' && (!email.deliveredAt || at < email.deliveredAt)) email.deliveredAt = at;
  if (to === 'bounced' && (!email.bouncedAt || at < email.bouncedAt)) email.bouncedAt = at;
  if (!canAdvance(email.status, to)) return false;
  email.status = to;
  if ((to === 'bounced' || to === 'dropped' || to === 'deferred') && reason) email.bounceReason = reason;
  return true;
}
