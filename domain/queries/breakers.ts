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

// ---- The shared circuit breaker's own reads and writes (domain/gateway/breaker.ts) -------------------------------
// Every statement below runs on `em.getConnection()`, never in `em`'s transaction context: the breaker's state must
// change whatever transaction its caller is in. Every write is one atomic conditional statement.

/** The breaker columns of one `provider_state` row; times as epoch ms (float), null when unset. */
export interface BreakerRow {
  breaker_state: 'closed' | 'open' | 'half_open';
  consecutive_failures: number;
  generation: number;
  half_open_successes: number;
  opened_at: number | null;
  probe_until: number | null;
  last_transition_at: number | null;
  last_error: string | null;
  last_error_at: number | null;
  last_success_at: number | null;
}

type BreakerStateName = BreakerRow['breaker_state'];

const epochMs = (c: string) => `(extract(epoch from ${c}) * 1000)::float8 as ${c}`;
const SELECT_BREAKER_ROW = `select breaker_state, consecutive_failures, generation, half_open_successes, ${[
  'opened_at',
  'probe_until',
  'last_transition_at',
  'last_error_at',
  'last_success_at',
]
  .map(epochMs)
  .join(', ')}, last_error from provider_state where provider = ?`;

/** The breaker row of `provider` (times in epoch ms), or undefined when it has none yet. */
export async function breakerRow(em: EntityManager, provider: string): Promise<BreakerRow | undefined> {
  const [r] = await em.getConnection().execute<BreakerRow[]>(SELECT_BREAKER_ROW, [provider]);
  return r;
}

/** Creates `provider`'s `provider_state` row (closed, defaults) unless it exists. */
export async function ensureProviderStateRow(em: EntityManager, provider: string, now: Date): Promise<void> {
  await em.getConnection().execute(`insert into provider_state (provider, updated_at) values (?, ?) on conflict do nothing`, [provider, now]);
}

/**
 * open → half_open with a probe lease until `probeUntil`, when the row is still open in `generation` and opened at
 * or before `openedBefore` (the cooldown elapsed). Returns the row's last error when this caller won, else undefined.
 */
export async function claimProbeFromOpen(
  em: EntityManager,
  a: { provider: string; generation: number; probeUntil: Date; now: Date; openedBefore: Date },
): Promise<{ lastError: string | null } | undefined> {
  const [r] = await em.getConnection().execute<{ last_error: string | null }[]>(
    `update provider_state set breaker_state = 'half_open', probe_until = ?, half_open_successes = 0,
       last_transition_at = ?, updated_at = ?
     where provider = ? and breaker_state = 'open' and generation = ? and opened_at <= ? returning last_error`,
    [a.probeUntil, a.now, a.now, a.provider, a.generation, a.openedBefore],
  );
  return r ? { lastError: r.last_error } : undefined;
}

/** Takes the probe lease of a half_open breaker (generation `generation`) whose lease is free or ended; true when won. */
export async function claimProbeHalfOpen(
  em: EntityManager,
  a: { provider: string; generation: number; probeUntil: Date; now: Date },
): Promise<boolean> {
  const rows = await em.getConnection().execute<{ generation: number }[]>(
    `update provider_state set probe_until = ?, updated_at = ?
     where provider = ? and breaker_state = 'half_open' and generation = ? and (probe_until is null or probe_until <= ?)
     returning generation`,
    [a.probeUntil, a.now, a.provider, a.generation, a.now],
  );
  return rows.length > 0;
}

/**
 * A success outside a probe: stamps last_success_at and (closed, same generation) zeroes consecutive failures —
 * only when something changes (failures > 0, not closed, or the last stamp older than `staleBefore`).
 */
export async function stampBreakerSuccess(
  em: EntityManager,
  a: { provider: string; generation: number; now: Date; staleBefore: Date },
): Promise<void> {
  await em.getConnection().execute(
    `update provider_state set last_success_at = ?, updated_at = ?,
       consecutive_failures = case when generation = ? and breaker_state = 'closed' then 0 else consecutive_failures end
     where provider = ?
       and (consecutive_failures > 0 or breaker_state <> 'closed' or last_success_at is null or last_success_at < ?)`,
    [a.now, a.now, a.generation, a.provider, a.staleBefore],
  );
}

/**
 * A probe's success (same generation and lease): one more half_open success, lease released; the `need`-th closes
 * the breaker. Returns the new state, success count and last error, or undefined when the permit was stale.
 */
export async function recordProbeSuccess(
  em: EntityManager,
  a: { provider: string; generation: number; probeUntil: Date; now: Date; need: number },
): Promise<{ state: BreakerStateName; halfOpenSuccesses: number; lastError: string | null } | undefined> {
  const [r] = await em.getConnection().execute<{ breaker_state: BreakerStateName; half_open_successes: number; last_error: string | null }[]>(
    `update provider_state set
       half_open_successes = half_open_successes + 1, probe_until = null, last_success_at = ?, updated_at = ?,
       consecutive_failures = 0,
       breaker_state = case when half_open_successes + 1 >= ? then 'closed' else 'half_open' end,
       opened_at = case when half_open_successes + 1 >= ? then null else opened_at end,
       last_transition_at = case when half_open_successes + 1 >= ? then ? else last_transition_at end
     where provider = ? and generation = ? and breaker_state = 'half_open' and probe_until = ?
     returning breaker_state, half_open_successes, last_error`,
    [a.now, a.now, a.need, a.need, a.need, a.now, a.provider, a.generation, a.probeUntil],
  );
  return r ? { state: r.breaker_state, halfOpenSuccesses: r.half_open_successes, lastError: r.last_error } : undefined;
}

/** Stamps last_success_at of `provider` unconditionally (a stale probe's success). */
export async function noteBreakerSuccess(em: EntityManager, provider: string, now: Date): Promise<void> {
  await em.getConnection().execute(`update provider_state set last_success_at = ?, updated_at = ? where provider = ?`, [now, now, provider]);
}

/** Hands a probe's lease back (same generation and lease) without counting a success or a failure. */
export async function releaseProbe(em: EntityManager, a: { provider: string; generation: number; probeUntil: Date; now: Date }): Promise<void> {
  await em.getConnection().execute(
    `update provider_state set probe_until = null, updated_at = ?
     where provider = ? and generation = ? and breaker_state = 'half_open' and probe_until = ?`,
    [a.now, a.provider, a.generation, a.probeUntil],
  );
}

/**
 * A counted failure of a closed breaker (same generation): one more consecutive failure, recorded as last error;
 * at `threshold` it opens (generation + 1). Returns the new state, generation and count, or undefined when stale.
 */
export async function recordClosedFailure(
  em: EntityManager,
  a: { provider: string; generation: number; now: Date; error: string; threshold: number },
): Promise<{ state: BreakerStateName; generation: number; consecutiveFailures: number } | undefined> {
  const n = a.threshold;
  const [r] = await em.getConnection().execute<{ breaker_state: BreakerStateName; generation: number; consecutive_failures: number }[]>(
    `update provider_state set
       consecutive_failures = consecutive_failures + 1, last_error = ?, last_error_at = ?, updated_at = ?,
       breaker_state = case when consecutive_failures + 1 >= ? then 'open' else 'closed' end,
       generation = case when consecutive_failures + 1 >= ? then generation + 1 else generation end,
       opened_at = case when consecutive_failures + 1 >= ? then ? else opened_at end,
       last_transition_at = case when consecutive_failures + 1 >= ? then ? else last_transition_at end,
       half_open_successes = 0, probe_until = null
     where provider = ? and generation = ? and breaker_state = 'closed'
     returning breaker_state, generation, consecutive_failures`,
    [a.error, a.now, a.now, n, n, n, a.now, n, a.now, a.provider, a.generation],
  );
  return r ? { state: r.breaker_state, generation: r.generation, consecutiveFailures: r.consecutive_failures } : undefined;
}

/** A probe's counted failure (same generation and lease): half_open → open with opened_at = now; true when applied. */
export async function reopenAfterProbe(
  em: EntityManager,
  a: { provider: string; generation: number; probeUntil: Date; now: Date; error: string },
): Promise<boolean> {
  const rows = await em.getConnection().execute<{ generation: number }[]>(
    `update provider_state set breaker_state = 'open', opened_at = ?, probe_until = null, half_open_successes = 0,
       last_transition_at = ?, last_error = ?, last_error_at = ?, updated_at = ?
     where provider = ? and generation = ? and breaker_state = 'half_open' and probe_until = ?
     returning generation`,
    [a.now, a.now, a.error, a.now, a.now, a.provider, a.generation, a.probeUntil],
  );
  return rows.length > 0;
}

/** Records `error` as the last error of `provider` (a stale permit's failure). */
export async function noteBreakerError(em: EntityManager, provider: string, error: string, now: Date): Promise<void> {
  await em.getConnection().execute(`update provider_state set last_error = ?, last_error_at = ?, updated_at = ? where provider = ?`, [
    error,
    now,
    now,
    provider,
  ]);
}

/** Where an operator's remediation starts from: the row's generation and state as read (the update's guard). */
export interface BreakerFrom {
  provider: string;
  generation: number;
  state: BreakerStateName;
  now: Date;
}

/**
 * Forces the breaker open with generation `generation` and opened_at `openedAt` (counters 0, probes stale), when
 * the row is still as read (`from`). true when applied.
 */
export async function forceBreakerOpen(em: EntityManager, from: BreakerFrom, generation: number, openedAt: Date): Promise<boolean> {
  const rows = await em.getConnection().execute<{ generation: number }[]>(
    `update provider_state set breaker_state = 'open', generation = ?, opened_at = ?, probe_until = null,
       half_open_successes = 0, consecutive_failures = 0,
       last_transition_at = case when breaker_state = 'open' then last_transition_at else ? end, updated_at = ?
     where provider = ? and generation = ? and breaker_state = ? returning generation`,
    [generation, openedAt, from.now, from.now, from.provider, from.generation, from.state],
  );
  return rows.length > 0;
}

/** Closes the breaker (generation + 1, counters 0) when the row is still as read; the new generation, or undefined. */
export async function forceBreakerClosed(em: EntityManager, from: BreakerFrom): Promise<number | undefined> {
  const rows = await em.getConnection().execute<{ generation: number }[]>(
    `update provider_state set breaker_state = 'closed', generation = generation + 1, probe_until = null, opened_at = null,
       half_open_successes = 0, consecutive_failures = 0,
       last_transition_at = case when breaker_state = 'closed' then last_transition_at else ? end, updated_at = ?
     where provider = ? and generation = ? and breaker_state = ? returning generation`,
    [from.now, from.now, from.provider, from.generation, from.state],
  );
  return rows[0]?.generation;
}

/** Resets the breaker to state `to` (generation + 1, counters 0, no probe) when the row is still as read; the new generation, or undefined. */
export async function resetBreakerRow(em: EntityManager, from: BreakerFrom, to: BreakerStateName): Promise<number | undefined> {
  const rows = await em.getConnection().execute<{ generation: number }[]>(
    `update provider_state set breaker_state = ?, generation = generation + 1, probe_until = null,
       half_open_successes = 0, consecutive_failures = 0,
       last_transition_at = case when breaker_state = 'closed' then last_transition_at else ? end, updated_at = ?
     where provider = ? and generation = ? and breaker_state = ? returning generation`,
    [to, from.now, from.now, from.provider, from.generation, from.state],
  );
  return rows[0]?.generation;
}

/** Breaker state of every provider with a `provider_state` row (for the metrics gauges). */
export async function breakerStates(em: EntityManager): Promise<{ provider: string; state: BreakerStateName }[]> {
  const rows = await em.getConnection().execute<{ provider: string; breaker_state: BreakerStateName }[]>('select provider, breaker_state from provider_state');
  return rows.map((r) => ({ provider: r.provider, state: r.breaker_state }));
}

/**
 * A Retry-After: keeps calls to `provider` off until `until` (never moves `blocked_until` earlier); creates the row
 * when missing.
 */
export async function blockProviderUntil(em: EntityManager, provider: string, until: Date, now: Date): Promise<void> {
  await em.getConnection().execute(
    `insert into provider_state (provider, blocked_until, updated_at) values (?, ?, ?)
     on conflict (provider) do update
     set blocked_until = greatest(provider_state.blocked_until, excluded.blocked_until), updated_at = excluded.updated_at`,
    [provider, until, now],
  );
}

/** Sends `payload` on the NOTIFY `channel` through a plain pg client (the breaker cache's delivery probe). */
export async function notifyChannel(client: { query(sql: string, params: unknown[]): Promise<unknown> }, channel: string, payload: string): Promise<void> {
  await client.query(`select pg_notify($1, $2)`, [channel, payload]);
}
