/**
 * Applying a Stripe event to a purchase, safely under redelivery and out-of-order arrival (stripe/stripe-cli#418: at-least-once, out of order).
 *
 * Each handled event names a target status; whether it applies depends on the purchase's current status (by
 * rank) and on the event's `created` against `purchases.last_event_created`:
 *
 * | rank | status   |
 * | ---- | -------- |
 * | 0    | pending  |
 * | 1    | failed, expired |
 * | 2    | paid     |
 * | 3    | refunded |
 *
 * | current ↓ / event target → | paid    | failed  | expired | refunded |
 * | -------------------------- | ------- | ------- | ------- | -------- |
 * | pending                    | apply   | apply   | apply   | apply    |
 * | failed                     | apply   | refresh | keep    | apply    |
 * | expired                    | apply   | keep    | refresh | apply    |
 * | paid                       | refresh | keep    | keep    | apply    |
 * | refunded                   | keep    | keep    | keep    | refresh  |
 *
 * - apply: higher rank wins whatever the arrival order (a refund that arrives before the payment still ends
 *   `refunded`; a failure after `paid` never downgrades it; `expired` only ever replaces `pending`).
 * - refresh: same status again; its details (failure reason, payment intent) are taken only when the event is not
 *   older than the newest event applied (`created >= last_event_created`).
 * - keep: the event is acknowledged and changes nothing.
 * Facts that were unknown (payment intent id, buyer email) are filled in from any matching event.
 *
 * Matching: `metadata.purchase_id`, else the session id, else the payment intent id. A charge event (no metadata
 * of ours) whose payment intent is not known yet may be ours and early (a refund delivered before the payment):
 * it is parked (`unmatched`, `park: true`) and applied once an event links that payment intent to a purchase.
 * Other unmatched events are not from our checkout and are acknowledged with no effect.
 */
import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Purchase, type IPurchase, type PurchaseStatus } from '../../db/entities/index.js';
import type { StripeEvent } from '../providers/stripe/port.js';

/** Rank of each purchase status (see the module table). */
export const STATUS_RANK: Readonly<Record<PurchaseStatus, number>> = { pending: 0, failed: 1, expired: 1, paid: 2, refunded: 3 };

/** The event types the storefront acts on; any other type is stored and marked processed with no effect. */
export const HANDLED_EVENT_TYPES = [
  'checkout.session.completed',
  'checkout.session.expired',
  'payment_intent.succeeded',
  'payment_intent.payment_failed',
  'charge.refunded',
] as const;

/** What one event means for a purchase. `target` null = facts only (e.g. a completed but unpaid session). */
export interface Transition {
  target: PurchaseStatus | null;
  /** `metadata.purchase_id` of the object (we set it on sessions and, via payment_intent_data, on PaymentIntents). */
  purchaseId?: number;
  /** Checkout Session `id` (checkout.session.* events). */
  sessionId?: string;
  /** PaymentIntent id: `data.object.id` (payment_intent.*) or `data.object.payment_intent` (sessions, charges). */
  paymentIntentId?: string;
  /** `last_payment_error.message` (payment_intent.payment_failed). */
  failureReason?: string;
  /** `customer_details.email` of a completed session. */
  customerEmail?: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const rec = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {});
const idOf = (v: unknown): string | undefined => str(v) ?? str(rec(v).id);

/** The {@link Transition} of a handled event type, or undefined for any other type. */
export function transitionFor(event: StripeEvent): Transition | undefined {
  const o = rec(event.data?.object);
  const pid = Number(str(rec(o.metadata).purchase_id));
  const purchaseId = Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  switch (event.type) {
    case 'checkout.session.completed': {
      const paid = o.payment_status === 'paid' || o.payment_status === 'no_payment_required';
      return { target: paid ? 'paid' : null, purchaseId, sessionId: str(o.id), paymentIntentId: idOf(o.payment_intent), customerEmail: str(rec(o.customer_details).email) };
    }
    case 'checkout.session.expired':
      return { target: 'expired', purchaseId, sessionId: str(o.id) };
    case 'payment_intent.succeeded':
      return { target: 'paid', purchaseId, paymentIntentId: str(o.id) };
    case 'payment_intent.payment_failed': {
      const e = rec(o.last_payment_error);
      return { target: 'failed', purchaseId, paymentIntentId: str(o.id), failureReason: str(e.message) ?? str(e.code) ?? 'payment failed' };
    }
    case 'charge.refunded':
      // Sent for partial refunds too: only a full refund (`refunded: true`) makes the purchase `refunded`.
      return { target: o.refunded === true ? 'refunded' : null, purchaseId, paymentIntentId: idOf(o.payment_intent) };
    default:
      return undefined;
  }
}

/** The decision of the module table for `target` on a purchase in `current` with `lastCreated`, for an event at `created`. */
export function decide(current: PurchaseStatus, lastCreated: number | null | undefined, target: PurchaseStatus, created: number): 'apply' | 'refresh' | 'keep' {
  if (STATUS_RANK[target] > STATUS_RANK[current]) return 'apply';
  if (target === current) return lastCreated === null || lastCreated === undefined || created >= lastCreated ? 'refresh' : 'keep';
  return 'keep';
}

/** What applying one event did to its purchase. */
export interface PurchaseEffect {
  /** `unhandled`: type not acted on; `unmatched`: no purchase found; `applied`: status or details changed; `kept`: acknowledged, nothing changed. */
  outcome: 'unhandled' | 'unmatched' | 'applied' | 'kept';
  purchaseId?: number;
  from?: PurchaseStatus;
  status?: PurchaseStatus;
  /** True when this event moved the purchase into `paid` (the report must go out). */
  becamePaid: boolean;
  /** Unmatched but possibly ours (a charge whose payment intent is not linked yet): that payment intent id. */
  park?: string;
  /** A payment intent id this event linked to the purchase for the first time (parked events may now match). */
  linkedPaymentIntentId?: string;
  /** Set when a payment failure was applied (for the `payment.failed` ops event). */
  paymentFailed?: { reason: string; amountCents: number };
}

async function findPurchase(em: EntityManager, t: Transition): Promise<IPurchase | null> {
  const lock = { lockMode: LockMode.PESSIMISTIC_WRITE } as const;
  if (t.purchaseId !== undefined) {
    const p = await em.findOne(Purchase, { id: t.purchaseId }, lock);
    if (p) return p;
  }
  if (t.sessionId) {
    const p = await em.findOne(Purchase, { stripeSessionId: t.sessionId }, lock);
    if (p) return p;
  }
  if (t.paymentIntentId) return em.findOne(Purchase, { stripePaymentIntentId: t.paymentIntentId }, lock);
  return null;
}

/**
 * Applies `event` to its purchase inside the caller's transaction `em` (the purchase row is locked `FOR UPDATE`;
 * changes are flushed by the caller's commit). The purchase is found by `metadata.purchase_id`, else the session
 * id, else the payment intent id.
 */
export async function applyToPurchase(em: EntityManager, event: StripeEvent): Promise<PurchaseEffect> {
  const t = transitionFor(event);
  if (!t) return { outcome: 'unhandled', becamePaid: false };
  const p = await findPurchase(em, t);
  if (!p) {
    const park = event.type.startsWith('charge.') && t.purchaseId === undefined ? t.paymentIntentId : undefined;
    return { outcome: 'unmatched', becamePaid: false, ...(park ? { park } : {}) };
  }
  const from = p.status;
  let changed = false;
  let linkedPaymentIntentId: string | undefined;
  if (t.paymentIntentId && !p.stripePaymentIntentId) {
    p.stripePaymentIntentId = linkedPaymentIntentId = t.paymentIntentId;
    changed = true;
  }
  if (t.customerEmail && !p.customerEmail) {
    p.customerEmail = t.customerEmail;
    changed = true;
  }
  const decision = t.target ? decide(from, p.lastEventCreated, t.target, event.created) : 'keep';
  if (decision !== 'keep' && t.target) {
    p.status = t.target;
    if (t.target === 'failed') p.failureReason = t.failureReason ?? p.failureReason;
    if (t.target === 'paid' && decision === 'apply') p.failureReason = null;
    p.lastEventCreated = Math.max(p.lastEventCreated ?? 0, event.created);
    changed = true;
  }
  return {
    outcome: changed ? 'applied' : 'kept',
    purchaseId: p.id,
    from,
    status: p.status,
    becamePaid: decision === 'apply' && t.target === 'paid',
    ...(linkedPaymentIntentId ? { linkedPaymentIntentId } : {}),
    ...(decision !== 'keep' && t.target === 'failed' ? { paymentFailed: { reason: p.failureReason ?? 'payment failed', amountCents: p.totalCents } } : {}),
  };
}
