/**
 * Circuit-breaker queries (table `provider_state`, with the `breaker.opened` ops event of the current trip and the
 * `breaker.reset` event of the current generation).
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** An open breaker: provider, when it opened, the last error, and who forced it open (operator remediations). */
export interface OpenBreaker {
  provider: string;
  openedAt: Date | null;
  lastError: string | null;
  /** The trip's reason when an operator forced it (`forced: by <actor> for N min`), else null. */
  forcedReason: string | null;
  /** `open`, or `half_open` for a breaker an operator reset that no call has proven healthy yet. */
  state: 'open' | 'half_open';
  /** Who reset it (the `breaker.reset` event's `by`), for a reset breaker; else null. */
  resetBy: string | null;
}

/**
 * Every open breaker, and every breaker reset by an operator that is still half_open (a reset is not a recovery:
 * it stays here until a real call closes it, or its probe fails and it is open again). `forcedReason` comes from the `breaker.opened` event of the breaker's current generation
 * (dedup key `breaker.opened:<provider>:<generation>`, written by domain/gateway/breaker.ts) when its reason starts
 * with `forced:`.
 */
export async function openBreakers(em: EntityManager): Promise<OpenBreaker[]> {
  const rows = await em.execute<
    { provider: string; state: 'open' | 'half_open'; last_error: string | null; opened_at: Date | string | null; reason: string | null; reset_by: string | null; reset: boolean }[]
  >(
    `select s.provider, s.breaker_state as state, s.last_error, s.opened_at, e.payload->>'reason' as reason,
            r.payload->>'by' as reset_by, r.id is not null as reset
       from provider_state s
       left join ops_events e on e.dedup_key = 'breaker.opened:' || s.provider || ':' || s.generation
       left join ops_events r on r.dedup_key = 'breaker.reset:' || s.provider || ':' || s.generation
      where s.breaker_state = 'open' or (s.breaker_state = 'half_open' and r.id is not null)
      order by s.provider`,
  );
  return rows.map((r) => ({
    provider: r.provider,
    openedAt: r.opened_at ? new Date(r.opened_at) : null,
    lastError: r.last_error,
    forcedReason: r.reason?.startsWith('forced:') ? r.reason : null,
    state: r.state,
    resetBy: r.reset ? (r.reset_by ?? 'an operator') : null,
  }));
}

/** "forced open by U123 for 30 min" from a forced trip's reason (`forced: by U123 for 30 min`). */
export function forcedOpenText(reason: string): string {
  return `forced open ${reason.replace(/^forced:\s*/, '')}`;
}

/** The last operator action on a breaker of its current generation (reset, forced open, kept open, force-closed). */
export interface BreakerOperatorAction {
  /** The ops event type: `breaker.reset`, `breaker.opened` (forced), `breaker.held_open`, `breaker.force_closed`. */
  type: string;
  /** Who (`slack:U123`, `cli:alice`), or null when the event did not say. */
  by: string | null;
  /** The event's reason, e.g. `forced: by slack:U1 for 60 min`, `reset: probe now by slack:U1`. */
  reason: string;
  at: Date;
  /** Until when a forced/kept-open breaker refuses calls (ISO 8601), when the event said. */
  until: string | null;
}

/** Everything the breaker cards show of one provider besides its live snapshot. */
export interface BreakerCardFacts {
  provider: string;
  /** The last trip (`breaker.opened` or `breaker.reopened`): its reason and the error recorded with it. */
  trip: { type: string; reason: string; lastError: string | null; at: Date } | null;
  operator: BreakerOperatorAction | null;
}

/**
 * Per provider with a `provider_state` row: its last trip event and the last operator action of its current
 * generation (events whose payload names `by`, or a `forced:` trip). Providers without a row are absent.
 */
export async function breakerCardFacts(em: EntityManager): Promise<BreakerCardFacts[]> {
  const rows = await em.execute<
    {
      provider: string;
      trip_type: string | null;
      trip: Record<string, unknown> | null;
      trip_at: Date | string | null;
      op_type: string | null;
      op: Record<string, unknown> | null;
      op_at: Date | string | null;
    }[]
  >(
    `select s.provider, t.type as trip_type, t.payload as trip, t.created_at as trip_at,
            o.type as op_type, o.payload as op, o.created_at as op_at
       from provider_state s
       left join lateral (select type, payload, created_at from ops_events
                           where type in ('breaker.opened', 'breaker.reopened') and payload->>'provider' = s.provider
                           order by id desc limit 1) t on true
       left join lateral (select type, payload, created_at from ops_events
                           where type in ('breaker.reset', 'breaker.opened', 'breaker.held_open', 'breaker.force_closed')
                             and payload->>'provider' = s.provider and (payload->>'generation')::int = s.generation
                             and (payload->>'by' is not null or payload->>'reason' like 'forced:%')
                           order by id desc limit 1) o on true
      order by s.provider`,
  );
  const parse = (v: unknown) => (typeof v === 'string' ? (JSON.parse(v) as Record<string, unknown>) : ((v ?? {}) as Record<string, unknown>));
  return rows.map((r) => {
    const trip = r.trip ? parse(r.trip) : null;
    const op = r.op ? parse(r.op) : null;
    const reason = String(op?.reason ?? '');
    return {
      provider: r.provider,
      trip: trip && r.trip_type ? { type: r.trip_type, reason: String(trip.reason ?? ''), lastError: trip.lastError == null ? null : String(trip.lastError), at: new Date(r.trip_at!) } : null,
      operator:
        op && r.op_type
          ? {
              type: r.op_type,
              by: op.by == null ? (reason.match(/^forced: by (\S+)/)?.[1] ?? null) : String(op.by),
              reason,
              at: new Date(r.op_at!),
              until: op.until == null ? null : String(op.until),
            }
          : null,
    };
  });
}
