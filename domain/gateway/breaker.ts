/**
 * The shared circuit breaker: one `provider_state` row per provider, so every worker thread, process and replica
 * sees the same state (nodeshift/opossum#719: a breaker built per call never opens). closed → open after `failureThreshold` consecutive counted failures; open refuses
 * until `cooldownMs` after `opened_at`; then exactly ONE caller gets a probe permit (an atomic conditional UPDATE
 * claims the probe lease `probe_until`) and the breaker is half_open; `halfOpenSuccesses` probe successes in a row
 * close it, a probe failure re-opens it (same generation). An operator's {@link CircuitBreaker.reset} puts an open
 * breaker in half_open (event `breaker.reset`), never straight to closed: only successful calls record
 * `breaker.closed`, the recovery. Only failures that say something about the provider's
 * health count ({@link countsAsFailure}, nodeshift/opossum#262).
 *
 * `generation` counts trips and resets; results of calls permitted under another generation (or, for probes,
 * another lease) change nothing (nodeshift/opossum#119, #819: a slow success from before the trip must not close the breaker, a late
 * failure from before a reset must not re-open it). No timers: time comes from the injected clock (`BreakerDeps.clock`).
 *
 * The statements are named queries in domain/queries/breakers.ts, run on the connection outside any transaction of
 * the caller; the contract (deps, permits, snapshot, {@link countsAsFailure}) is in breaker-types.ts.
 */
import type { ProviderId } from '../config.js';
import type { BreakerState } from '../../db/entities/provider-state.entity.js';
import { CircuitOpenError } from '../errors.js';
import { recordOpsEvent } from '../events.js';
import { ProviderStateCache, invalidateProviderState } from './breaker-cache.js';
import * as q from '../queries/breakers.js';
import { countsAsFailure, type BreakerDeps, type BreakerSnapshot, type BreakerTransition, type Permit } from './breaker-types.js';

export { countsAsFailure, type BreakerDeps, type BreakerSnapshot, type BreakerTransition, type Permit } from './breaker-types.js';


type Row = q.BreakerRow;

const date = (v: number | null) => (v == null ? undefined : new Date(v));

function describe(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return text.slice(0, 1000);
}

/** last_success_at is refreshed at most this often (ms) while the breaker is closed and healthy. */
export const SUCCESS_STAMP_MS = 1000;

/** The shared breaker; see the module comment. Safe to construct per thread: all state is in the database. */
export class CircuitBreaker {
  private readonly deps: BreakerDeps;
  private readonly cache: ProviderStateCache<Row>;

  /** @param deps database, clock, thresholds, an optional transition callback and the cache TTL. */
  constructor(deps: BreakerDeps) {
    this.deps = deps;
    this.cache = new ProviderStateCache<Row>(deps.cacheMs ?? 0);
  }

  private get em() {
    return this.deps.orm.em;
  }

  /**
   * Runs one write (domain/queries/breakers.ts, on the connection outside any transaction), then drops this
   * process's cached rows; other processes hear the trigger's NOTIFY. (writes are rare: transitions, failures, and
   * at most one success stamp a second per provider)
   */
  private async write<T>(w: Promise<T>): Promise<T> {
    const r = await w;
    invalidateProviderState('*');
    return r;
  }

  private async row(provider: ProviderId, create: boolean): Promise<Row | undefined> {
    const r = await q.breakerRow(this.em, provider);
    if (r) this.cache.set(provider, r);
    if (r || !create) return r;
    await this.write(q.ensureProviderStateRow(this.em, provider, this.deps.clock.now()));
    const created = await q.breakerRow(this.em, provider);
    if (created) this.cache.set(provider, created);
    return created;
  }

  /** The permit (or refusal) a fresh cached row decides on its own: closed, or open within its cooldown. */
  private fromCache(provider: ProviderId, now: number): Permit | undefined {
    const c = this.cache.get(provider);
    if (!c) return undefined;
    if (c.breaker_state === 'closed') return { provider, generation: c.generation, probe: false };
    const retryAt = (c.opened_at ?? 0) + this.deps.config.cooldownMs;
    if (c.breaker_state === 'open' && now < retryAt) throw new CircuitOpenError(provider, new Date(retryAt), 'open');
    return undefined;
  }

  private async transition(t: BreakerTransition, now: Date, lastError: string | null, by?: string): Promise<void> {
    const { provider, generation, to } = t;
    const at = now.getTime();
    const ev =
      to === 'open' && t.from === 'closed'
        ? { type: 'breaker.opened', severity: 'critical' as const, dedupKey: `breaker.opened:${provider}:${generation}` }
        : to === 'open'
          ? { type: 'breaker.reopened', severity: 'warning' as const, dedupKey: `breaker.reopened:${provider}:${generation}:${at}` }
          : to === 'half_open'
            ? { type: 'breaker.half_opened', severity: 'info' as const, dedupKey: `breaker.half_opened:${provider}:${generation}:${at}` }
            : { type: 'breaker.closed', severity: 'info' as const, dedupKey: `breaker.closed:${provider}:${generation}` };
    await recordOpsEvent(this.deps.orm.em, { ...ev, payload: { ...t, lastError, ...(by ? { by } : {}) } }, now);
    try {
      this.deps.onTransition?.(t);
    } catch {
      // a listener must not break the call path
    }
  }

  /**
   * Asks to make one call. closed → a normal permit; open before the cooldown → refused; open after the cooldown,
   * or half_open with no live probe → exactly one caller gets a probe permit (open → half_open).
   * @throws CircuitOpenError with `retryAt` = openedAt + cooldown (open), the probe lease end (half_open with a
   *   probe in flight), or about a second from now when the state changed under contention.
   */
  async permit(provider: ProviderId): Promise<Permit> {
    const cached = this.fromCache(provider, this.deps.clock.now().getTime());
    if (cached) return cached;
    const { cooldownMs } = this.deps.config;
    const lease = this.deps.probeTimeoutMs ?? 30_000;
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = this.deps.clock.now();
      const r = await this.row(provider, true);
      if (!r || r.breaker_state === 'closed') return { provider, generation: r?.generation ?? 0, probe: false };
      const probeUntil = new Date(now.getTime() + lease);
      if (r.breaker_state === 'open') {
        const retryAt = (r.opened_at ?? 0) + cooldownMs;
        if (now.getTime() < retryAt) throw new CircuitOpenError(provider, new Date(retryAt), 'open');
        const openedBefore = new Date(now.getTime() - cooldownMs);
        const won = await this.write(q.claimProbeFromOpen(this.em, { provider, generation: r.generation, probeUntil, now, openedBefore }));
        if (won) {
          const reason = `cooldown of ${cooldownMs} ms elapsed; one probe call allowed`;
          await this.transition({ provider, from: 'open', to: 'half_open', generation: r.generation, reason }, now, won.lastError);
          return { provider, generation: r.generation, probe: true, probeUntil };
        }
        continue;
      }
      if (r.probe_until != null && r.probe_until > now.getTime()) {
        throw new CircuitOpenError(provider, new Date(r.probe_until), 'half_open (probe in flight)');
      }
      const won = await this.write(q.claimProbeHalfOpen(this.em, { provider, generation: r.generation, probeUntil, now }));
      if (won) return { provider, generation: r.generation, probe: true, probeUntil };
    }
    const r = await this.snapshot(provider);
    throw new CircuitOpenError(provider, r.retryAt ?? new Date(this.deps.clock.now().getTime() + 1000), r.state);
  }

  /**
   * Reports a successful call. closed (same generation): resets consecutive failures (last_success_at is kept to
   * within {@link SUCCESS_STAMP_MS}). half_open probe (same
   * generation and lease): counts a success and releases the lease; the `halfOpenSuccesses`-th closes the breaker.
   * Always records last_success_at. Stale permits change nothing else.
   */
  async onSuccess(permit: Permit): Promise<void> {
    const now = this.deps.clock.now();
    const { provider, generation } = permit;
    if (!permit.probe || !permit.probeUntil) {
      // The common case (closed, no failures, a success recorded in the last second) writes nothing: a commit per
      // call would dominate the gateway's overhead. With a fresh cached row it does not even ask the database.
      const c = this.cache.get(provider);
      if (
        c && c.breaker_state === 'closed' && c.generation === generation && c.consecutive_failures === 0 &&
        c.last_success_at != null && c.last_success_at >= now.getTime() - SUCCESS_STAMP_MS
      ) return;
      const staleBefore = new Date(now.getTime() - SUCCESS_STAMP_MS);
      await this.write(q.stampBreakerSuccess(this.em, { provider, generation, now, staleBefore }));
      return;
    }
    const need = this.deps.config.halfOpenSuccesses;
    const r = await this.write(q.recordProbeSuccess(this.em, { provider, generation, probeUntil: permit.probeUntil, now, need }));
    if (!r) {
      await this.write(q.noteBreakerSuccess(this.em, provider, now));
      return;
    }
    if (r.state === 'closed') {
      const reason = `${r.halfOpenSuccesses} probe call(s) succeeded`;
      await this.transition({ provider, from: 'half_open', to: 'closed', generation, reason }, now, r.lastError);
    }
  }

  /**
   * Reports a failed call. Unless {@link countsAsFailure}(err) it changes nothing, except that a probe hands its
   * lease back (neither success nor failure: e.g. a 404, or our own rate-limit refusal before the call). closed (same generation): one more
   * consecutive failure, at the threshold → open (generation + 1: a new trip). half_open probe (same generation and
   * lease) → open again with opened_at = now (same generation: a re-open). Always records last_error(_at).
   */
  async onFailure(permit: Permit, err: unknown): Promise<void> {
    const now = this.deps.clock.now();
    const { provider, generation } = permit;
    if (!countsAsFailure(err)) {
      // says nothing about health; a probe that ends this way only hands its lease back so the next caller probes
      if (permit.probe && permit.probeUntil) {
        await this.write(q.releaseProbe(this.em, { provider, generation, probeUntil: permit.probeUntil, now }));
      }
      return;
    }
    const msg = describe(err);
    if (!permit.probe || !permit.probeUntil) {
      const n = this.deps.config.failureThreshold;
      const r = await this.write(q.recordClosedFailure(this.em, { provider, generation, now, error: msg, threshold: n }));
      if (!r) return this.noteError(provider, msg, now);
      if (r.state === 'open') {
        const reason = `${r.consecutiveFailures} consecutive failures (threshold ${n})`;
        await this.transition({ provider, from: 'closed', to: 'open', generation: r.generation, reason }, now, msg);
      }
      return;
    }
    const reopened = await this.write(q.reopenAfterProbe(this.em, { provider, generation, probeUntil: permit.probeUntil, now, error: msg }));
    if (!reopened) return this.noteError(provider, msg, now);
    await this.transition({ provider, from: 'half_open', to: 'open', generation, reason: `probe call failed: ${msg}` }, now, msg);
  }

  private async noteError(provider: ProviderId, msg: string, now: Date): Promise<void> {
    await this.write(q.noteBreakerError(this.em, provider, msg, now));
  }

  /** The breaker's state for runbooks (defaults to a fresh closed breaker when the provider has no row yet). */
  async snapshot(provider: ProviderId): Promise<BreakerSnapshot> {
    const r = await this.row(provider, false);
    const now = this.deps.clock.now().getTime();
    const state = r?.breaker_state ?? 'closed';
    const retryAt =
      state === 'open'
        ? (r?.opened_at ?? now) + this.deps.config.cooldownMs
        : state === 'half_open'
          ? Math.max(now, r?.probe_until ?? now)
          : null;
    return {
      provider,
      state,
      consecutiveFailures: r?.consecutive_failures ?? 0,
      openedAt: date(r?.opened_at ?? null),
      retryAt: date(retryAt),
      generation: r?.generation ?? 0,
      halfOpenSuccesses: r?.half_open_successes ?? 0,
      probeUntil: date(r?.probe_until ?? null),
      lastTransitionAt: date(r?.last_transition_at ?? null),
      lastError: r?.last_error ?? undefined,
      lastErrorAt: date(r?.last_error_at ?? null),
      lastSuccessAt: date(r?.last_success_at ?? null),
    };
  }

  /**
   * Remediation: opens the breaker now. closed → open is a new trip (generation + 1, `breaker.opened`);
   * half_open → open is a re-open; open stays open with the cooldown restarted. Probes in flight become stale.
   * `opts.forMs` keeps it open for that long instead of the configured cooldown (ms): `opened_at` is then set to
   * `now + forMs − cooldownMs`, so the snapshot's `retryAt` is `now + forMs` (its `openedAt` is shifted by the
   * same amount; `lastTransitionAt` still says when it opened). `opts.by` (e.g. `slack:U123`) is recorded on the
   * event. An open breaker kept open records `breaker.held_open` (info; payload provider, from, to, generation,
   * reason, by, until), so who holds it open is on record like every other operator action.
   */
  async forceOpen(provider: ProviderId, reason: string, opts: { forMs?: number; by?: string } = {}): Promise<void> {
    for (;;) {
      const now = this.deps.clock.now();
      const openedAt = opts.forMs === undefined ? now : new Date(now.getTime() + opts.forMs - this.deps.config.cooldownMs);
      const r = (await this.row(provider, true))!;
      const gen = r.breaker_state === 'closed' ? r.generation + 1 : r.generation;
      const from = { provider, generation: r.generation, state: r.breaker_state, now };
      if (!(await this.write(q.forceBreakerOpen(this.em, from, gen, openedAt)))) continue;
      if (r.breaker_state !== 'open') {
        await this.transition({ provider, from: r.breaker_state, to: 'open', generation: gen, reason: `forced: ${reason}` }, now, r.last_error, opts.by);
      } else {
        const until = new Date(openedAt.getTime() + this.deps.config.cooldownMs).toISOString();
        await recordOpsEvent(
          this.deps.orm.em,
          {
            type: 'breaker.held_open',
            severity: 'info',
            dedupKey: `breaker.held_open:${provider}:${gen}:${now.getTime()}`,
            payload: { provider, from: 'open', to: 'open', generation: gen, reason: `forced: ${reason}`, by: opts.by ?? null, until, lastError: r.last_error },
          },
          now,
        );
      }
      return;
    }
  }

  /**
   * Remediation (admin): closes the breaker now, without a probe — an operator's word that the provider is healthy.
   * From open or half_open: closed with generation + 1 and every counter at 0 (results of calls permitted before
   * change nothing), recording `breaker.force_closed` (warning: not a recovery; payload provider, from, to,
   * generation, reason, `by`, lastError). From closed it only zeroes the counters (generation + 1, no event).
   * @param by who closed it (e.g. `slack:U123`).
   * @returns the state before and the new generation.
   */
  async forceClose(provider: ProviderId, reason: string, by?: string): Promise<{ from: BreakerState; generation: number }> {
    for (;;) {
      const now = this.deps.clock.now();
      const r = (await this.row(provider, true))!;
      const from = { provider, generation: r.generation, state: r.breaker_state, now };
      const generation = await this.write(q.forceBreakerClosed(this.em, from));
      if (generation === undefined) continue;
      if (r.breaker_state !== 'closed') {
        const t: BreakerTransition = { provider, from: r.breaker_state, to: 'closed', generation, reason: `force-closed: ${reason}` };
        await recordOpsEvent(
          this.deps.orm.em,
          { type: 'breaker.force_closed', severity: 'warning', dedupKey: `breaker.force_closed:${provider}:${generation}`, payload: { ...t, by: by ?? null, lastError: r.last_error } },
          now,
        );
        try {
          this.deps.onTransition?.(t);
        } catch {
          // a listener must not break the call path
        }
      }
      return { from: r.breaker_state, generation };
    }
  }

  /**
   * Remediation: an operator's reset. It does NOT declare the provider healthy: from open or half_open the breaker
   * goes to half_open with no probe in flight (generation + 1, counters at 0, so results of calls permitted before
   * the reset change nothing), so the very next call is the probe and decides — `halfOpenSuccesses` successes close
   * it (`breaker.closed`, the recovery, from a real call), a failure re-opens it. Records `breaker.reset` (info,
   * payload: provider, from, to, generation = the new one, reason, `by`). From closed it only zeroes the counters
   * (generation + 1, no event).
   * @param by who reset it (e.g. `slack:U123`), recorded on the event.
   * @returns the state before and after.
   */
  async reset(provider: ProviderId, reason: string, by?: string): Promise<{ from: BreakerState; to: BreakerState; generation: number }> {
    for (;;) {
      const now = this.deps.clock.now();
      const r = (await this.row(provider, true))!;
      const to: BreakerState = r.breaker_state === 'closed' ? 'closed' : 'half_open';
      const from = { provider, generation: r.generation, state: r.breaker_state, now };
      const generation = await this.write(q.resetBreakerRow(this.em, from, to));
      if (generation === undefined) continue;
      if (r.breaker_state !== 'closed') {
        const t: BreakerTransition = { provider, from: r.breaker_state, to, generation, reason: `reset: ${reason}` };
        await recordOpsEvent(
          this.deps.orm.em,
          { type: 'breaker.reset', severity: 'info', dedupKey: `breaker.reset:${provider}:${generation}`, payload: { ...t, by: by ?? null, lastError: r.last_error } },
          now,
        );
        try {
          this.deps.onTransition?.(t);
        } catch {
          // a listener must not break the call path
        }
      }
      return { from: r.breaker_state, to, generation };
    }
  }
}
