/**
 * Worker-thread script: opens its own ORM pool on `url`, then (after the start signal) runs `concurrency` loops of
 * acquire() for one provider on the real clock, for `durationMs` or `attempts` calls, whichever ends first.
 * Reports each grant as [start, end] (epoch ms around the acquire() call that got it: the limiter's grant time lies
 * between them) and refusal counts by error code.
 */
import { MikroORM } from '@mikro-orm/postgresql';
import { ormConfig } from '../../../db/orm.js';
import { systemClock } from '../../../domain/clock.js';
import type { ProviderId } from '../../../domain/config.js';
import { AppError } from '../../../domain/errors.js';
import type { ProviderLimits } from '../../../domain/gateway/config.js';
import { RateLimiter } from '../../../domain/gateway/limiter.js';

export default async function (
  data: { url: string; limits: Record<ProviderId, ProviderLimits>; durationMs: number; attempts: number; concurrency: number; maxWaitMs: number },
  ready: () => Promise<void>,
): Promise<{ grants: [number, number][]; refused: Record<string, number> }> {
  const orm = await MikroORM.init(ormConfig(data.url, data.concurrency + 1));
  try {
    const limiter = new RateLimiter({ orm, clock: systemClock, limits: data.limits, maxWaitMs: data.maxWaitMs });
    await orm.em.getConnection().execute('select 1');
    await ready();
    const end = Date.now() + data.durationMs;
    const grants: [number, number][] = [];
    const refused: Record<string, number> = {};
    let left = data.attempts;
    const loop = async () => {
      while (left > 0 && Date.now() < end) {
        left--;
        const start = Date.now();
        try {
          await limiter.acquire('yelp');
          grants.push([start, Date.now()]);
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
          refused[err.code] = (refused[err.code] ?? 0) + 1;
        }
      }
    };
    await Promise.all(Array.from({ length: data.concurrency }, loop));
    return { grants, refused };
  } finally {
    await orm.close(true);
  }
}
