/**
 * Stripe webhook intake: verify the signature on the raw bytes once, on arrival (stripe/stripe-node#1254, slackapi/bolt-js#516; stripe/stripe-node#407); store the event
 * in `webhook_inbox` keyed by its id (a redelivery is acknowledged and ignored); apply it to the purchase in the
 * same transaction that marks the inbox row processed (stripe/stripe-cli#418: at-least-once, out of order). Replays and reprocessing never re-verify.
 */
import { checkSignatureTimestamp, FIVE_MINUTE_WINDOW } from '../signature-window.js';
import Stripe from 'stripe';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { PurchaseStatus } from '../../db/entities/index.js';
import { AppError } from '../errors.js';
import { recordOpsEvent } from '../events.js';
import { isTransientDbError } from '../intake/dead-letters.js';
import { purchaseHasPaymentIntent } from '../queries/purchases.js';
import {
  insertInboxEvent,
  lockInboxEvent,
  markInboxProcessed,
  parkedInboxEventIds,
  markInboxError,
  unprocessedInboxEventIds,
} from '../queries/webhook-inbox.js';
import type { StripeEvent } from '../providers/stripe/port.js';
import { applyToPurchase, type PurchaseEffect } from './apply.js';
import type { StorefrontDeps } from './deps.js';
import { deliverReport } from './report.js';

/** Seconds a `Stripe-Signature` timestamp may lag our clock (Stripe's default, 5 minutes). */
export const STRIPE_SIGNATURE_TOLERANCE_SECONDS = 300;

/** The inbox `provider` value of Stripe events. */
export const STRIPE_PROVIDER = 'stripe';

/** A webhook whose signature does not verify (wrong secret, altered bytes, stale timestamp, missing header). */
export class SignatureError extends AppError {
  constructor(message: string, cause?: unknown) {
    super('bad_request', message, { cause });
  }
}

/**
 * Verifies `raw` (the exact request bytes) against the `Stripe-Signature` header with
 * `stripe.webhooks.constructEvent(raw, header, secret, 300, undefined, nowMs)` and returns the event.
 * @throws SignatureError when the header is missing, the signature does not match or `t=` is more than 300 s old
 *   (against `nowMs`, our clock), or the body is not an event.
 */
export function verifyStripeEvent(raw: Buffer, header: string | undefined, secret: string, nowMs: number): StripeEvent {
  if (!header) throw new SignatureError('missing Stripe-Signature header');
  let event: unknown;
  try {
    event = Stripe.webhooks.constructEvent(raw, header, secret, STRIPE_SIGNATURE_TOLERANCE_SECONDS, undefined, nowMs);
  } catch (err) {
    throw new SignatureError(`Stripe signature rejected: ${(err as Error).message}`, err);
  }
  // the SDK's tolerance covers only the past side: a signature dated in the future is refused here
  const t = /(?:^|,)\s*t=(\d+)/.exec(header)?.[1];
  const verdict = checkSignatureTimestamp(t, nowMs, FIVE_MINUTE_WINDOW);
  if (verdict !== 'ok') throw new SignatureError(`Stripe signature timestamp ${verdict === 'in_future' ? 'is more than 5 minutes in the future' : verdict === 'too_old' ? 'is more than 5 minutes old' : 'is missing'}`);
  const e = event as Partial<StripeEvent>;
  if (typeof e.id !== 'string' || typeof e.type !== 'string' || typeof e.created !== 'number') {
    throw new SignatureError('signed body is not a Stripe event (id, type, created)');
  }
  return event as StripeEvent;
}

/**
 * Records the ops event `webhook.signature_failed` (warning), at most one per minute (dedup key
 * `webhook.signature_failed:stripe:<UTC minute>`).
 */
export async function recordSignatureFailure(deps: StorefrontDeps, reason: string): Promise<void> {
  const now = deps.clock.now();
  const minute = now.toISOString().slice(0, 16);
  await recordOpsEvent(
    deps.orm.em.fork(),
    { type: 'webhook.signature_failed', severity: 'warning', dedupKey: `webhook.signature_failed:stripe:${minute}`, payload: { provider: 'stripe', reason, minute } },
    now,
  );
}

/**
 * Inserts `event` into `webhook_inbox` (provider `stripe`, `event_id` = `event.id`, `event_created` = `created`,
 * the full event as `payload`, `raw` as `raw_json`: the body as received, given when `event` had to be made storable)
 * with `on conflict do nothing`. `event` must be storable (domain/sanitize.ts). Returns true when the row is new.
 */
export async function storeEvent(em: EntityManager, event: StripeEvent, now: Date, raw: string | null = null): Promise<boolean> {
  return insertInboxEvent(em, {
    provider: STRIPE_PROVIDER,
    eventId: event.id,
    type: event.type,
    eventCreated: event.created,
    payload: event,
    receivedAt: now,
    raw,
  });
}

/** Inbox `error` prefix of a parked event (unprocessed until a later event links its payment intent). */
export const PARKED_PREFIX = 'unmatched:';

/**
 * What happened to one event. `duplicate`: already processed earlier; `parked`: possibly ours but no purchase
 * links its payment intent yet (kept unprocessed, applied when one does); `failed`: application threw (inbox keeps
 * `error`). `followUps`: parked events this one unblocked and that were applied right after it.
 */
export interface EventResult {
  eventId: string;
  type: string;
  outcome: PurchaseEffect['outcome'] | 'duplicate' | 'parked' | 'failed';
  followUps?: EventResult[];
  purchaseId?: number;
  status?: PurchaseStatus;
  becamePaid: boolean;
  /** True when this call inserted the inbox row (first delivery). */
  stored: boolean;
  error?: string;
  /** For `failed`: the database was unreachable (redelivery will apply it), not a problem with the event. */
  transient?: boolean;
}

/**
 * Applies the stored, unprocessed inbox event `eventId` once: in one transaction it locks the inbox row, skips it
 * when already processed, applies it to the purchase ({@link applyToPurchase}) and sets `processed_at` (clearing
 * `error`). Concurrent callers serialise on the row lock; the second sees `duplicate`. When the application throws,
 * the transaction rolls back and the row keeps the message in `error` (retried on the next delivery or by
 * {@link reprocessInbox}). A payment failure applied records the ops event `payment.failed` (warning, per event).
 */
export async function processInboxEvent(deps: StorefrontDeps, eventId: string, stored = false): Promise<EventResult> {
  const em = deps.orm.em.fork();
  let type = 'unknown';
  try {
    const r = await em.transactional(async (tem) => {
      const row = await lockInboxEvent<StripeEvent>(tem, STRIPE_PROVIDER, eventId);
      if (!row) throw new AppError('not_found', `event ${eventId} is not in the inbox`);
      type = row.type;
      if (row.processedAt) return undefined;
      const payload = typeof row.payload === 'string' ? (JSON.parse(row.payload) as StripeEvent) : row.payload;
      const effect = await applyToPurchase(tem, payload);
      if (effect.park) return effect;
      await tem.flush();
      await markInboxProcessed(tem, STRIPE_PROVIDER, eventId, deps.clock.now());
      return effect;
    });
    if (!r) return { eventId, type, outcome: 'duplicate', becamePaid: false, stored };
    if (r.park) {
      await markInboxError(em, STRIPE_PROVIDER, eventId, `${PARKED_PREFIX} no purchase has this payment intent yet`);
      // An event linking this payment intent may have committed meanwhile, and looked for parked rows before ours
      // was marked: check again now that it is.
      if (await purchaseHasPaymentIntent(em, r.park)) return { ...(await processInboxEvent(deps, eventId)), stored };
      deps.logger.info({ eventId, type }, 'stripe event parked until its payment intent is linked');
      return { eventId, type, outcome: 'parked', becamePaid: false, stored };
    }
    if (r.outcome === 'unmatched') deps.logger.warn({ eventId, type }, 'stripe event matches no purchase of ours; acknowledged');
    if (r.paymentFailed) {
      await recordOpsEvent(em, {
        type: 'payment.failed',
        severity: 'warning',
        dedupKey: `payment.failed:${eventId}`,
        payload: { purchaseId: r.purchaseId, eventId, reason: r.paymentFailed.reason, amountCents: r.paymentFailed.amountCents },
      }, deps.clock.now());
    }
    const followUps = r.linkedPaymentIntentId ? await unpark(deps, r.linkedPaymentIntentId) : [];
    return { eventId, type, outcome: r.outcome, purchaseId: r.purchaseId, status: r.status, becamePaid: r.becamePaid, stored, ...(followUps.length ? { followUps } : {}) };
  } catch (err) {
    const message = (err as Error).message;
    deps.logger.error({ eventId, type, err: message }, 'stripe event application failed');
    await markInboxError(em, STRIPE_PROVIDER, eventId, message.slice(0, 2000)).catch(() => undefined);
    return { eventId, type, outcome: 'failed', becamePaid: false, stored, error: message, transient: isTransientDbError(err) };
  }
}

/** Applies the parked events whose `data.object.payment_intent` is `paymentIntentId` (oldest first). */
async function unpark(deps: StorefrontDeps, paymentIntentId: string): Promise<EventResult[]> {
  const ids = await parkedInboxEventIds(deps.orm.em.fork(), STRIPE_PROVIDER, PARKED_PREFIX, paymentIntentId);
  const out: EventResult[] = [];
  for (const id of ids) out.push(await processInboxEvent(deps, id));
  return out;
}

/** The results and their follow-ups, flattened. */
export function flattenResults(results: EventResult[]): EventResult[] {
  return results.flatMap((r) => [r, ...flattenResults(r.followUps ?? [])]);
}

/**
 * Stores a verified (or replayed) event and applies it unless a previous delivery already did: a redelivery of a
 * processed event is `duplicate`; a redelivery of one whose application failed is applied again.
 * `event` must be storable (domain/sanitize.ts sanitizeDeep); `raw` is the body as received when it was not.
 * Does not send the report: callers pass results with `becamePaid` to {@link sendReportsFor}.
 * @throws database errors from the insert (the caller answers 500 so Stripe redelivers).
 */
export async function ingestStripeEvent(deps: StorefrontDeps, event: StripeEvent, raw: string | null = null): Promise<EventResult> {
  const stored = await storeEvent(deps.orm.em.fork(), event, deps.clock.now(), raw);
  return processInboxEvent(deps, event.id, stored);
}

/** Emails the report (exactly once, {@link deliverReport}) for each result that made a purchase `paid`; errors are logged. */
export async function sendReportsFor(deps: StorefrontDeps, results: EventResult[]): Promise<void> {
  for (const r of flattenResults(results)) {
    if (!r.becamePaid || r.purchaseId === undefined) continue;
    await deliverReport(deps, r.purchaseId).catch((err: unknown) =>
      deps.logger.error({ purchaseId: r.purchaseId, err: (err as Error).message }, 'audit report delivery failed'),
    );
  }
}

/**
 * Applies every unprocessed Stripe inbox row (oldest `event_created` first, at most `limit`, default 100), e.g.
 * after a database outage made applications fail, then sends the reports of purchases that became paid. Parked
 * rows (see {@link PARKED_PREFIX}) are included only with `includeParked`.
 * Never re-verifies signatures: the rows were verified when they arrived.
 */
export async function reprocessInbox(deps: StorefrontDeps, opts: { limit?: number; includeParked?: boolean } = {}): Promise<EventResult[]> {
  const ids = await unprocessedInboxEventIds(deps.orm.em.fork(), STRIPE_PROVIDER, opts.limit ?? 100, opts.includeParked ? undefined : PARKED_PREFIX);
  const results: EventResult[] = [];
  for (const id of ids) results.push(await processInboxEvent(deps, id));
  await sendReportsFor(deps, results);
  return results;
}
