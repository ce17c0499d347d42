/**
 * Breakers as chat objects (issue 19 point 5): `/lf breakers` posts ONE Slack message holding a card per provider
 * (yelp, pagespeed, openai, sendgrid, stripe) through the outbox (`post`, ref `breaker-cards:<channel>:<id>`), and
 * every breaker state change edits it in place: the notifier hands each `breaker.*` ops event to
 * {@link refreshBreakerCards}, which enqueues one `update` of each live card message with the dedup key
 * `breaker-cards:<ref>:<event dedup key>` (one per state change, however often the event is handed over).
 *
 * One message rather than five: a state change of one provider is one chat.update (not five posts queued behind
 * the channel's one-per-second gap), the five cards fit well inside Slack's 50 blocks, and a channel gets one
 * object to watch. Live cards: the newest card message of each channel, posted in the last {@link CARD_LIVE_MS};
 * a newer card in the same channel retires the older one (edited once to say so, without buttons).
 *
 * This module gathers the data (structured body `{ type: 'breaker_cards', … }`); bot/render/breaker-cards.ts
 * draws it (registered in bot/render/slack-messages.ts).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { PROVIDERS, type AppConfig, type ProviderId } from '../domain/config.js';
import type { BreakerSnapshot, CircuitBreaker } from '../domain/gateway/breaker.js';
import { PROVIDER_NAMES } from '../domain/gateway/checks.js';
import { breakerCardFacts, type BreakerCardFacts } from '../domain/queries/breakers.js';
import type { BreakerState } from '../db/entities/provider-state.entity.js';
import { enqueueSlack, latestPostsByChannel, type OutboxMessage } from './slack-outbox.js';

/** How long a posted card message keeps being edited (ms): 24 h. */
export const CARD_LIVE_MS = 24 * 3600_000;
/** The outbox ref prefix of card messages. */
export const CARD_REF_PREFIX = 'breaker-cards:';

/** One provider's card (JSON: it is stored in the outbox until sent). Times are ISO 8601 UTC. */
export interface BreakerCard {
  provider: ProviderId;
  name: string;
  state: BreakerState;
  /** Counted failures in a row (closed) and the threshold that trips it. */
  consecutiveFailures: number;
  failureThreshold: number;
  /** Successful probe calls so far and how many close it (half_open). */
  halfOpenSuccesses: number;
  halfOpenNeeded: number;
  generation: number;
  /** When the current trip opened it (open / half_open), from the breaker row's last transition. */
  openedAt: string | null;
  /** When the state last changed. */
  since: string | null;
  /** open: when a probe is allowed (half_open); half_open: when the probe in flight's lease ends, null when the next call probes. */
  nextProbeAt: string | null;
  /** Why it tripped, e.g. `5 consecutive failures (threshold 5); last: HTTP 503 (ProviderError)`; null when closed and never tripped. */
  why: string | null;
  /** The last error's class and HTTP status, when known. */
  lastErrorClass: string | null;
  lastStatus: number | null;
  lastError: string | null;
  lastErrorAt: string | null;
  /** The last operator action of this generation, e.g. `kept open by slack:U1 until …`, with who. */
  operator: { action: string; by: string | null; at: string; until: string | null } | null;
}

/** The stored body of a card message. `superseded`: a newer card in the channel took over (no buttons). */
export interface BreakerCardsBody {
  type: 'breaker_cards';
  ref: string;
  asOf: string;
  cards: BreakerCard[];
  superseded?: boolean;
  /** A copy shown only to the asker (no buttons: the live card message carries them). */
  readOnly?: boolean;
  [field: string]: unknown;
}

/** `ProviderError` and `503` from a breaker's recorded error text (`ProviderError: yelp search: HTTP 503 …`). */
export function errorClassAndStatus(text: string | null | undefined): { cls: string | null; status: number | null } {
  if (!text) return { cls: null, status: null };
  const cls = text.match(/^([A-Za-z]*Error)\b/)?.[1] ?? null;
  const m = text.match(/\b(?:HTTP|status)\s*(\d{3})\b/i) ?? text.match(/\b([45]\d{2})\b/);
  return { cls, status: m ? Number(m[1]) : null };
}

const OPERATOR_VERB: Record<string, string> = {
  'breaker.reset': 'reset',
  'breaker.opened': 'forced open',
  'breaker.held_open': 'kept open',
  'breaker.force_closed': 'force-closed',
};

function card(snap: BreakerSnapshot, facts: BreakerCardFacts | undefined, breaker: AppConfig['gateway']['breaker'], now: Date): BreakerCard {
  const { cls, status } = errorClassAndStatus(snap.lastError ?? facts?.trip?.lastError);
  const tripped = snap.state !== 'closed' || snap.consecutiveFailures > 0;
  let why: string | null = null;
  if (snap.state !== 'closed' && facts?.trip) {
    why = facts.trip.reason.startsWith('forced:') ? facts.trip.reason.replace(/^forced:\s*/, 'forced open ') : facts.trip.reason;
    if (status !== null || cls) why += `; last: ${status !== null ? `HTTP ${status}` : ''}${cls ? `${status !== null ? ' ' : ''}(${cls})` : ''}`;
  } else if (tripped && snap.consecutiveFailures > 0) {
    why = `${snap.consecutiveFailures} consecutive failure(s) of ${breaker.failureThreshold}${status !== null ? `; last: HTTP ${status}` : ''}`;
  }
  const op = facts?.operator;
  const action = op ? (op.type === 'breaker.reset' && /probe now/.test(op.reason) ? 'probe requested' : (OPERATOR_VERB[op.type] ?? op.type)) : '';
  const probeInFlight = snap.state === 'half_open' && snap.probeUntil && snap.probeUntil > now;
  return {
    provider: snap.provider,
    name: PROVIDER_NAMES[snap.provider],
    state: snap.state,
    consecutiveFailures: snap.consecutiveFailures,
    failureThreshold: breaker.failureThreshold,
    halfOpenSuccesses: snap.halfOpenSuccesses,
    halfOpenNeeded: breaker.halfOpenSuccesses,
    generation: snap.generation,
    openedAt: snap.state === 'closed' ? null : (facts?.trip?.at ?? snap.lastTransitionAt)?.toISOString() ?? null,
    since: snap.lastTransitionAt?.toISOString() ?? null,
    nextProbeAt: snap.state === 'open' ? (snap.retryAt?.toISOString() ?? null) : probeInFlight ? snap.probeUntil!.toISOString() : null,
    why,
    lastErrorClass: cls,
    lastStatus: status,
    lastError: snap.lastError?.slice(0, 300) ?? null,
    lastErrorAt: snap.lastErrorAt?.toISOString() ?? null,
    operator: op ? { action, by: op.by, at: op.at.toISOString(), until: op.until } : null,
  };
}

/** What reading the cards needs: the shared breaker (its snapshots), its thresholds and the time. */
export interface BreakerCardDeps {
  breaker: Pick<CircuitBreaker, 'snapshot'>;
  config: Pick<AppConfig, 'gateway'>;
  now: Date;
}

/**
 * The five cards now: each provider's breaker snapshot (the shared `provider_state` row) plus its last trip and
 * operator action (domain/queries/breakers.ts). Read-only.
 */
export async function loadBreakerCards(em: EntityManager, deps: BreakerCardDeps): Promise<BreakerCard[]> {
  const [facts, snaps] = await Promise.all([breakerCardFacts(em), Promise.all(PROVIDERS.map((p) => deps.breaker.snapshot(p)))]);
  return snaps.map((s) => card(s, facts.find((f) => f.provider === s.provider), deps.config.gateway.breaker, deps.now));
}

/** One line of plain text for the cards (notification text, console line): `Circuit breakers: Yelp OPEN, …`. */
export function cardsText(cards: readonly BreakerCard[]): string {
  return `Circuit breakers: ${cards.map((c) => `${c.name} ${c.state === 'closed' ? 'closed' : c.state.toUpperCase().replace('_', '-')}`).join(', ')}.`;
}

/** The outbox message of a card post or update for `ref` in `channel` (route `answers`: the asking conversation). */
export function breakerCardsMessage(args: { ref: string; channel: string; kind: 'post' | 'update'; dedupKey: string; cards: BreakerCard[]; asOf: Date; superseded?: boolean }): OutboxMessage {
  const body: BreakerCardsBody = { type: 'breaker_cards', ref: args.ref, asOf: args.asOf.toISOString(), cards: args.cards, ...(args.superseded ? { superseded: true } : {}) };
  const text = args.superseded ? `${cardsText(args.cards)} (superseded by a newer card in this channel)` : cardsText(args.cards);
  return { dedupKey: args.dedupKey, kind: args.kind, route: 'answers', channel: args.channel, ref: args.ref, text, body };
}

/**
 * Posts a card message in `channel` (the conversation `/lf breakers` was typed in) and retires that channel's
 * previous live card (one edit, no buttons). `id` makes the ref unique (the command's trigger id); `deps.cards`:
 * cards already read at `deps.now` (else they are read here); `deps.enqueue`: the outbox to use (default the table).
 * @returns the ref and the cards posted.
 */
export async function postBreakerCards(
  em: EntityManager,
  deps: BreakerCardDeps & { enqueue?: (msg: OutboxMessage) => Promise<boolean>; cards?: BreakerCard[] },
  channel: string,
  id: string,
): Promise<{ ref: string; cards: BreakerCard[] }> {
  const enqueue = deps.enqueue ?? ((m: OutboxMessage) => enqueueSlack(em, m, deps.now));
  const cards = deps.cards ?? (await loadBreakerCards(em, deps));
  const ref = `${CARD_REF_PREFIX}${channel}:${id}`;
  const previous = (await latestPostsByChannel(em, CARD_REF_PREFIX, new Date(deps.now.getTime() - CARD_LIVE_MS))).filter((m) => m.channel === channel && m.ref !== ref);
  await enqueue(breakerCardsMessage({ ref, channel, kind: 'post', dedupKey: `${ref}:post`, cards, asOf: deps.now }));
  for (const p of previous)
    await enqueue(breakerCardsMessage({ ref: p.ref, channel, kind: 'update', dedupKey: `${p.ref}:superseded`, cards, asOf: deps.now, superseded: true }));
  return { ref, cards };
}

/**
 * Edits every live card message in place after a breaker state change: one `update` per card message with the
 * dedup key `breaker-cards:<ref>:<cause>` (`cause`: the ops event's dedup key, or a remediation's claim), so a
 * change handed over twice edits once. Returns how many updates were enqueued.
 */
export async function refreshBreakerCards(em: EntityManager, deps: BreakerCardDeps, cause: string): Promise<number> {
  const live = await latestPostsByChannel(em, CARD_REF_PREFIX, new Date(deps.now.getTime() - CARD_LIVE_MS));
  if (live.length === 0) return 0;
  const cards = await loadBreakerCards(em, deps);
  let n = 0;
  for (const m of live) {
    const msg = breakerCardsMessage({ ref: m.ref, channel: m.channel, kind: 'update', dedupKey: `${m.ref}:${cause}`, cards, asOf: deps.now });
    if (await enqueueSlack(em, msg, deps.now)) n++;
  }
  return n;
}
