/** Reads shared gateway state for metrics gauges at scrape time (provider_state and quota rows, domain/queries/). */
import type { MikroORM } from '@mikro-orm/postgresql';
import { PROVIDERS, type ProviderId } from '../config.js';
import { startOfUtcDay, type Clock } from '../clock.js';
import type { ProviderLimits } from './config.js';
import { breakerStates } from '../queries/breakers.js';
import { quotaUsageOn } from '../queries/provider-quotas.js';

const STATE_VALUE = { closed: 0, open: 1, half_open: 2 } as const;

/** Breaker state per provider as 0 closed, 1 open, 2 half_open (providers never called read as closed). */
export async function readBreakerStates(orm: MikroORM): Promise<Record<ProviderId, number>> {
  const rows = await breakerStates(orm.em);
  const out = Object.fromEntries(PROVIDERS.map((p) => [p, 0])) as Record<ProviderId, number>;
  for (const r of rows) if ((PROVIDERS as readonly string[]).includes(r.provider)) out[r.provider as ProviderId] = STATE_VALUE[r.state] ?? 0;
  return out;
}

/** Daily quota left today (UTC) per provider that has a daily quota; 0 when the provider said it is exhausted. */
export async function readQuotaRemaining(
  orm: MikroORM,
  clock: Clock,
  limits: Record<ProviderId, ProviderLimits>,
): Promise<Partial<Record<ProviderId, number>>> {
  const day = startOfUtcDay(clock.now()).toISOString().slice(0, 10);
  const rows = await quotaUsageOn(orm.em, day);
  const byProvider = new Map(rows.map((r) => [r.provider, r]));
  const out: Partial<Record<ProviderId, number>> = {};
  for (const p of PROVIDERS) {
    const daily = limits[p].daily;
    if (daily === undefined) continue;
    const r = byProvider.get(p);
    out[p] = r?.exhausted ? 0 : Math.max(0, daily - Number(r?.used ?? 0));
  }
  return out;
}
