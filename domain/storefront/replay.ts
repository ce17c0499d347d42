/** Replaying missed Stripe events from the events API (e.g. after the webhook endpoint was down). */
import { AppError } from '../errors.js';
import type { StripeEvent } from '../providers/stripe/port.js';
import { inboxEventIdsAmong } from '../queries/webhook-inbox.js';
import { HANDLED_EVENT_TYPES } from './apply.js';
import type { StorefrontDeps } from './deps.js';
import { rawJson, sanitizeDeep } from '../sanitize.js';
import { STRIPE_PROVIDER, ingestStripeEvent, sendReportsFor, type EventResult } from './webhook.js';

/** Stripe keeps events for 30 days; `GET /v1/events` returns nothing older. */
export const STRIPE_EVENT_RETENTION_DAYS = 30;

/** Options of {@link replayEvents}. */
export interface ReplayOptions {
  /** Replay events with `created` ≥ this instant (sent as `created[gte]`, Unix seconds). */
  since: Date;
  /** Event types to list (`types[]`); default the handled ones ({@link HANDLED_EVENT_TYPES}). */
  types?: string[];
  /** Stop after this many pages of 100 (default 50). */
  maxPages?: number;
}

/** What {@link replayEvents} did. `missing` = events not in the inbox before; `results` one per missing event. */
export interface ReplaySummary {
  listed: number;
  missing: number;
  results: EventResult[];
  /** True when `maxPages` stopped the listing before Stripe's `has_more` was false. */
  truncated: boolean;
}

/**
 * Lists events since `since` through the gateway (`GET /v1/events`, pages of 100 via `starting_after`), stores and
 * applies, oldest first, those missing from `webhook_inbox` — without re-verifying any signature (stripe/stripe-node#407: they
 * come from Stripe's API over our authenticated connection, not from a webhook) — then emails the reports of
 * purchases that became paid. Events already in the inbox are left to the webhook path / `reprocessInbox`.
 * @throws AppError `bad_request` when `since` is not a valid date; gateway/ProviderError from Stripe.
 */
export async function replayEvents(deps: StorefrontDeps, opts: ReplayOptions): Promise<ReplaySummary> {
  const sinceMs = opts.since.getTime();
  if (!Number.isFinite(sinceMs)) throw new AppError('bad_request', 'replayEvents: since is not a valid date');
  const retentionStart = deps.clock.now().getTime() - STRIPE_EVENT_RETENTION_DAYS * 86_400_000;
  if (sinceMs < retentionStart) deps.logger.warn({ since: opts.since.toISOString() }, 'Stripe keeps events 30 days; older ones cannot be replayed');
  const listed: StripeEvent[] = [];
  let startingAfter: string | undefined;
  let truncated = false;
  for (let page = 0; ; page++) {
    if (page >= (opts.maxPages ?? 50)) {
      truncated = true;
      break;
    }
    const res = await deps.providers.stripe.listEvents({
      createdGte: Math.floor(sinceMs / 1000),
      limit: 100,
      types: opts.types ?? [...HANDLED_EVENT_TYPES],
      ...(startingAfter ? { startingAfter } : {}),
    });
    listed.push(...res.events);
    const last = res.events.at(-1);
    if (!res.hasMore || !last) break;
    startingAfter = last.id;
  }
  const known = new Set<string>();
  const ids = listed.map((e) => e.id);
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    for (const id of await inboxEventIdsAmong(deps.orm.em.fork(), STRIPE_PROVIDER, chunk)) known.add(id);
  }
  // Stripe lists newest first; apply oldest first (ties keep Stripe's order reversed).
  const missing = listed.filter((e) => !known.has(e.id)).reverse();
  const results: EventResult[] = [];
  for (const e of missing) {
    const { value, changes } = sanitizeDeep(e); // Stripe's text made storable, the original kept beside it
    results.push(await ingestStripeEvent(deps, value, changes.length ? rawJson(e) : null));
  }
  await sendReportsFor(deps, results);
  deps.logger.info({ listed: listed.length, missing: missing.length, failed: results.filter((r) => r.outcome === 'failed').length }, 'stripe events replayed');
  return { listed: listed.length, missing: missing.length, results, truncated };
}
