/**
 * Worker-thread script: opens its own ORM pool on `url`, then (after the start signal) calls permit() `calls` times
 * concurrently at `nowMs` (a time past the cooldown) and reports how many probe permits it got.
 */
import { MikroORM } from '@mikro-orm/postgresql';
import { ormConfig } from '../../../db/orm.js';
import { ManualClock } from '../../../domain/clock.js';
import { CircuitBreaker } from '../../../domain/gateway/breaker.js';
import { CircuitOpenError } from '../../../domain/errors.js';

export default async function (
  data: { url: string; nowMs: number; calls: number; cooldownMs: number },
  ready: () => Promise<void>,
): Promise<{ probes: number; refused: number }> {
  const orm = await MikroORM.init(ormConfig(data.url, 4));
  try {
    const clock = new ManualClock(new Date(data.nowMs));
    const breaker = new CircuitBreaker({ orm, clock, config: { failureThreshold: 3, cooldownMs: data.cooldownMs, halfOpenSuccesses: 3 } });
    await orm.em.getConnection().execute('select 1'); // warm the pool before the start line
    await ready();
    const results = await Promise.allSettled(Array.from({ length: data.calls }, () => breaker.permit('yelp')));
    let probes = 0;
    let refused = 0;
    for (const r of results) {
      if (r.status === 'fulfilled' && r.value.probe) probes++;
      else if (r.status === 'rejected' && r.reason instanceof CircuitOpenError) refused++;
      else if (r.status === 'rejected') throw r.reason;
    }
    return { probes, refused };
  } finally {
    await orm.close(true);
  }
}
