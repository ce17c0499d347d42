/** Circuit-breaker queries (table `provider_state`, with the `breaker.opened` ops event of the current trip). */
import type { EntityManager } from '@mikro-orm/postgresql';

/** An open breaker: provider, when it opened, the last error, and who forced it open (operator remediations). */
export interface OpenBreaker {
  provider: string;
  openedAt: Date | null;
  lastError: string | null;
  /** The trip's reason when an operator forced it (`forced: by <actor> for N min`), else null. */
  forcedReason: string | null;
}

/**
 * Every open breaker. `forcedReason` comes from the `breaker.opened` event of the breaker's current generation
 * (dedup key `breaker.opened:<provider>:<generation>`, written by domain/gateway/breaker.ts) when its reason starts
 * with `forced:`.
 */
export async function openBreakers(em: EntityManager): Promise<OpenBreaker[]> {
  const rows = await em.getConnection().execute<{ provider: string; last_error: string | null; opened_at: Date | string | null; reason: string | null }[]>(
    `select s.provider, s.last_error, s.opened_at, e.payload->>'reason' as reason
       from provider_state s
       left join ops_events e on e.dedup_key = 'breaker.opened:' || s.provider || ':' || s.generation
      where s.breaker_state = 'open'
      order by s.provider`,
  );
  return rows.map((r) => ({
    provider: r.provider,
    openedAt: r.opened_at ? new Date(r.opened_at) : null,
    lastError: r.last_error,
    forcedReason: r.reason?.startsWith('forced:') ? r.reason : null,
  }));
}

/** "forced open by U123 for 30 min" from a forced trip's reason (`forced: by U123 for 30 min`). */
export function forcedOpenText(reason: string): string {
  return `forced open ${reason.replace(/^forced:\s*/, '')}`;
}
