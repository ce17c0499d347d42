/**
 * SendGrid Event Webhook processing (event fields: https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event;
 * recorded examples in shared/fixtures/real/sendgrid/event-webhook.*.json).
 *
 * Delivery is at least once and batches are redelivered (sendgrid/docs#2933), so each event is stored once in
 * `email_events` and its effect is applied in the same transaction:
 * - dedup key = `sg_event_id` when present, else `sg_message_id:event:timestamp:email`; in addition an event whose
 *   (`sg_message_id`, `event`, `timestamp`, `email`) matches a stored one is a duplicate even under a new
 *   `sg_event_id` (one report says redeliveries change it). A transaction-scoped advisory lock on that composite
 *   serialises concurrent copies.
 * - matching: `email_id` (our `custom_args`, which SendGrid flattens to the top level of each event; also read from
 *   `custom_args`/`unique_args` objects) when that email was sent to the event's `email`; else the `sg_message_id`
 *   prefix (before the first `.`) = our `provider_message_id` (SendGrid's `X-Message-Id`).
 * - effects (statuses forward-only, status.ts): processed → sent; deferred → deferred (only from sent);
 *   delivered → delivered; bounce → bounced (+ suppression `bounce` when `type` is `bounce`, i.e. a hard bounce;
 *   `blocked` is not suppressed); dropped → dropped (+ suppression by reason: Bounced Address → bounce, Invalid →
 *   invalid, Spam Reporting Address → spamreport, Unsubscribed Address → unsubscribe); spamreport → spam_reported
 *   (+ `spamreport`); unsubscribe / group_unsubscribe → unsubscribed (+ `unsubscribe`). open, click and
 *   group_resubscribe are stored only. Suppressions apply even when no email matches (the address is ours to
 *   protect either way). Bounce / drop / deferral `reason` is kept in `emails.bounce_reason`.
 */
import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Email, type EmailStatus, type IEmail } from '../../db/entities/index.js';
import { deadLetter, isTransientDbError } from '../intake/dead-letters.js';
import { advisoryXactLockText } from '../queries/advisory-locks.js';
import { emailEventSeen, insertEmailEvent } from '../queries/email-events.js';
import { rawJson, sanitizeDeep } from '../sanitize.js';
import { advanceStatus } from './status.js';
import { addSuppression, type SuppressionReason } from './suppression.js';

/** One event as SendGrid posts it (only the fields we read are typed; others are kept in `payload`). */
export interface SendGridEvent {
  email: string;
  event: string;
  /** Unix seconds. */
  timestamp: number;
  sg_event_id?: string;
  /** `<X-Message-Id>.<filter/server suffix>`. */
  sg_message_id?: string;
  reason?: string;
  /** bounce: `bounce` (hard) or `blocked`. */
  type?: string;
  email_id?: string | number;
  [k: string]: unknown;
}

/** Counters of one batch. `byType` counts newly stored events by `event`. */
export interface EventBatchResult {
  /** Events in the batch. */
  received: number;
  /** Newly stored in email_events. */
  stored: number;
  /** Already stored (same dedup key, or same message/event/timestamp/email). */
  duplicates: number;
  /** Newly stored events that changed an email's status or added a suppression. */
  applied: number;
  /** Newly stored events that matched no email. */
  unmatched: number;
  /** Not an object, or missing `event` (string), `email` (string) or `timestamp` (number); each is dead-lettered. */
  skipped: number;
  /** Events parked in `dead_letters` (not SendGrid events, or applying them failed for a reason other than the database being away). */
  deadLettered: number;
  /** Events stored with U+0000 or lone surrogates replaced (domain/sanitize.ts; the original kept in `raw_json`). */
  sanitized: number;
  byType: Record<string, number>;
}

/** `sg_message_id:event:timestamp:email` (email trimmed and lower-cased; empty message id when absent). */
export function compositeEventKey(ev: SendGridEvent): string {
  return `${ev.sg_message_id ?? ''}:${ev.event}:${ev.timestamp}:${ev.email.trim().toLowerCase()}`;
}

/** The stored dedup key: `sg_event_id`, else {@link compositeEventKey}; over 512 chars → `sha256:<hex>` of it. */
export function eventDedupKey(ev: SendGridEvent): string {
  const key = typeof ev.sg_event_id === 'string' && ev.sg_event_id !== '' ? ev.sg_event_id : compositeEventKey(ev);
  return key.length <= 512 ? key : `sha256:${createHash('sha256').update(key).digest('hex')}`;
}

/** True for objects with the three fields every SendGrid event has. */
export function isSendGridEvent(v: unknown): v is SendGridEvent {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  return typeof o.event === 'string' && typeof o.email === 'string' && typeof o.timestamp === 'number' && Number.isFinite(o.timestamp);
}

type Effect = { status?: EmailStatus; suppress?: SuppressionReason };

function dropReason(reason: string | undefined): SuppressionReason | undefined {
  const r = (reason ?? '').toLowerCase();
  if (r.includes('bounced')) return 'bounce';
  if (r.includes('spam reporting')) return 'spamreport';
  if (r.includes('unsubscribed')) return 'unsubscribe';
  if (r === 'invalid' || r.includes('invalid address')) return 'invalid';
  return undefined;
}

/** What an event does to the email and the suppression list (see the module comment). */
export function eventEffect(ev: SendGridEvent): Effect {
  switch (ev.event) {
    case 'processed':
      return { status: 'sent' };
    case 'deferred':
      return { status: 'deferred' };
    case 'delivered':
      return { status: 'delivered' };
    case 'bounce':
      return ev.type === undefined || ev.type === 'bounce' ? { status: 'bounced', suppress: 'bounce' } : { status: 'bounced' };
    case 'dropped': {
      const s = dropReason(ev.reason);
      return s ? { status: 'dropped', suppress: s } : { status: 'dropped' };
    }
    case 'spamreport':
      return { status: 'spam_reported', suppress: 'spamreport' };
    case 'unsubscribe':
    case 'group_unsubscribe':
      return { status: 'unsubscribed', suppress: 'unsubscribe' };
    default:
      return {};
  }
}

function emailIdOf(ev: SendGridEvent): number | undefined {
  const nested = (k: string) => {
    const o = ev[k];
    return typeof o === 'object' && o !== null ? (o as Record<string, unknown>).email_id : undefined;
  };
  const raw = ev.email_id ?? nested('custom_args') ?? nested('unique_args');
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d{1,10}$/.test(raw) ? Number(raw) : NaN;
  return Number.isSafeInteger(n) && n > 0 && n <= 2_147_483_647 ? n : undefined;
}

async function matchEmail(em: EntityManager, ev: SendGridEvent): Promise<IEmail | null> {
  const id = emailIdOf(ev);
  if (id !== undefined) {
    const byId = await em.findOne(Email, { id });
    if (byId && byId.toAddress.trim().toLowerCase() === ev.email.trim().toLowerCase()) return byId;
  }
  const prefix = ev.sg_message_id?.split('.')[0];
  if (prefix) return em.findOne(Email, { providerMessageId: prefix });
  return null;
}

type Outcome = 'duplicate' | { applied: boolean; matched: boolean };

async function processOne(em: EntityManager, ev: SendGridEvent, now: Date, original: string | null): Promise<Outcome> {
  const composite = compositeEventKey(ev);
  const dedupKey = eventDedupKey(ev);
  const occurredAt = new Date(ev.timestamp * 1000);
  return em.fork().transactional(async (tem): Promise<Outcome> => {
    await advisoryXactLockText(tem, composite);
    const seen = await emailEventSeen(tem, { dedupKey, sgMessageId: ev.sg_message_id ?? '', event: ev.event, occurredAt, email: ev.email.trim().toLowerCase() });
    if (seen) return 'duplicate';
    const email = await matchEmail(tem, ev);
    const inserted = await insertEmailEvent(tem, {
      dedupKey,
      sgEventId: typeof ev.sg_event_id === 'string' ? ev.sg_event_id : null,
      sgMessageId: typeof ev.sg_message_id === 'string' ? ev.sg_message_id : null,
      emailId: email?.id ?? null,
      event: ev.event,
      reason: typeof ev.reason === 'string' ? ev.reason : null,
      occurredAt,
      receivedAt: now,
      payloadJson: JSON.stringify(ev),
      raw: original,
    });
    if (!inserted) return 'duplicate';
    const effect = eventEffect(ev);
    let applied = false;
    if (email) {
      if (!email.providerMessageId && ev.sg_message_id) email.providerMessageId = ev.sg_message_id.split('.')[0]!;
      if (effect.status) applied = advanceStatus(email, effect.status, occurredAt, typeof ev.reason === 'string' ? ev.reason : null);
      else if (!email.lastEventAt || occurredAt > email.lastEventAt) email.lastEventAt = occurredAt;
    }
    if (effect.suppress && (await addSuppression(tem, ev.email, effect.suppress, 'sendgrid_webhook', now))) applied = true;
    return { applied, matched: email !== null };
  });
}

/**
 * Stores and applies a batch (the parsed JSON array SendGrid posted), event by event, each in its own
 * transaction, in the order given (order does not matter for the final state). Every event is made storable first
 * (domain/sanitize.ts; the original JSON kept in `raw_json`). One bad event never blocks the others: an item that is
 * not a SendGrid event, or whose application fails for any reason but an unreachable database, is dead-lettered
 * (domain/intake/dead-letters.ts: row + audit) and the batch goes on. Database-unavailable errors propagate after the
 * events before them were committed (the caller answers 5xx; a redelivery skips those as duplicates).
 */
export async function processSendGridEvents(em: EntityManager, events: unknown[], now: Date = new Date()): Promise<EventBatchResult> {
  const r: EventBatchResult = { received: events.length, stored: 0, duplicates: 0, applied: 0, unmatched: 0, skipped: 0, deadLettered: 0, sanitized: 0, byType: {} };
  for (const original of events) {
    const raw = rawJson(original) ?? 'undefined';
    if (!isSendGridEvent(original)) {
      r.skipped++;
      const key = `invalid:${createHash('sha256').update(raw).digest('hex')}`;
      await deadLetter(em, { source: 'sendgrid', dedupKey: key, eventType: null, reason: 'not a SendGrid event: needs event and email (strings) and timestamp (a number)', payload: original ?? null, raw, at: now });
      r.deadLettered++;
      continue;
    }
    const { value: ev, changes } = sanitizeDeep(original);
    if (changes.length) r.sanitized++;
    let out: Outcome;
    try {
      out = await processOne(em, ev, now, changes.length ? raw : null);
    } catch (err) {
      if (isTransientDbError(err)) throw err;
      const reason = err instanceof Error ? err.message : String(err);
      await deadLetter(em, { source: 'sendgrid', dedupKey: eventDedupKey(ev), eventType: ev.event, reason, payload: ev, raw, at: now });
      r.deadLettered++;
      continue;
    }
    if (out === 'duplicate') {
      r.duplicates++;
      continue;
    }
    r.stored++;
    r.byType[ev.event] = (r.byType[ev.event] ?? 0) + 1;
    if (out.applied) r.applied++;
    if (!out.matched) r.unmatched++;
  }
  return r;
}
