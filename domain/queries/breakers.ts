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
