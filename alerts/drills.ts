/**
 * Fault drills (issue #19 point 4): `/lf drill <provider> <fault> [duration]` (and `lf drill …`) calls
 * {@link startDrill}, which checks the request (admin; the provider served by the sandbox, not a real API; its
 * breaker closed; no other drill active — the database's unique index decides), injects the fault into the
 * sandbox (`PUT /sandbox/faults/<provider>`, the same as `lf sandbox fault`) and answers at once. The measuring is
 * done by the service's drill keeper ({@link createDrillKeeper}, a tick loop beside the incident-channel keeper):
 * each tick it
 * 1. sends the provider one call through the real gateway (limiter, breaker, ledger; never cached), as the pipeline
 *    would, so that an idle service still meets the fault (at most one such call in flight);
 * 2. measures from what the system recorded: detection = the provider's breaker opened (`ops_events`) or an alert
 *    labelled with the provider fired; diagnosis = the alert post (outbox) carrying a root cause that names the
 *    provider; the incident the alert opened gets a `drill` entry on its timeline;
 * 3. at `endsAt` clears the fault, then waits for recovery: a successful call after the clear and the breaker
 *    closed again (failed after `recoveryTimeoutMs`);
 * 4. posts the drill report through the Slack outbox (route `drills`), adds `drill_report` to the incident's
 *    timeline and audits the end.
 * Safety: a drill is measured by one keeper at a time (`owner` + a lease renewed every tick). A drill whose keeper
 * is gone — the service restarted mid-drill — is aborted: the fault is cleared and the drill recorded `aborted` with
 * its report, at start-up ({@link abortOrphanedDrills}: every active drill on the single-process embedded database,
 * the ones whose lease ran out on PostgreSQL) and by any keeper once the dead owner's lease runs out.
 */
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { PROVIDERS, envKeyName, type ProviderId } from '../domain/config.js';
import { AppError } from '../domain/errors.js';
import { cheapestCall } from '../domain/gateway/diagnostics.js';
import { flushLedgers } from '../domain/gateway/ledger.js';
import { FAULT_KINDS, sandboxAdmin, type FaultKind } from '../domain/sandbox/index.js';
import type { Services } from '../domain/services.js';
import { activeDrill, claimDrills, firingProviderAlerts, insertDrill, orphanedDrills, updateDrill, type DrillPatch, type DrillRow } from '../domain/queries/drills.js';
import { audit, type Actor } from '../runbooks/actions.js';
import { drillReport, drillSummary, spanText } from './drill-report.js';
import { measureDrill, recoveredAt } from './drill-measure.js';
import { addEvent, who } from './incidents.js';
import { enqueueSlack } from './slack-outbox.js';
import { routed } from './slack-routing.js';
import { createTickLoop, type TickLoop } from './tick-loop.js';

/** Default drill length (ms) when the command names none. */
export const DRILL_DEFAULT_MS = 2 * 60_000;
/** Shortest and longest drill (ms). */
export const DRILL_MIN_MS = 1000;
export const DRILL_MAX_MS = 60 * 60_000;

/** How often the keeper ticks, how long its claim lasts, how long recovery may take after the clear (ms). */
export interface DrillTimings {
  intervalMs: number;
  leaseMs: number;
  recoveryTimeoutMs: number;
}

/** The service's timings: a tick every 2 s, a 15 s lease, 5 min for recovery (the breaker cooldown is 60 s). */
export const DEFAULT_DRILL_TIMINGS: DrillTimings = { intervalMs: 2000, leaseMs: 15_000, recoveryTimeoutMs: 5 * 60_000 };

/** What drills use of the services. */
export type DrillServices = Pick<Services, 'config' | 'gateway' | 'rawProviders' | 'sandboxUrl' | 'clock' | 'logger'>;

/**
 * `90s`, `2m`, `2min`, `1h` → ms; undefined for anything else.
 */
export function parseDrillDuration(text: string): number | undefined {
  const m = /^(\d{1,4})(s|m|min|h)$/i.exec(text.trim());
  if (!m) return undefined;
  const unit = m[2]!.toLowerCase();
  return Number(m[1]) * (unit === 's' ? 1000 : unit === 'h' ? 3_600_000 : 60_000);
}

/** What {@link startDrill} did: `started` (the fault is in force), `refused` (why not), `failed` (the sandbox refused). */
export type StartOutcome = { status: 'started'; drill: DrillRow; text: string } | { status: 'refused' | 'failed'; detail: string };

/** A drill request: the provider, the sandbox fault kind and the length (ms). */
export interface DrillRequest {
  provider: string;
  fault: string;
  durationMs: number;
}

/** Why a drill may not start (undefined: it may), before anything is written. */
async function refusal(s: DrillServices, em: EntityManager, r: DrillRequest): Promise<string | undefined> {
  if (!(PROVIDERS as readonly string[]).includes(r.provider)) return `unknown provider "${r.provider}" (${PROVIDERS.join(', ')})`;
  if (!(FAULT_KINDS as readonly string[]).includes(r.fault)) return `unknown fault "${r.fault}" (${FAULT_KINDS.join(', ')})`;
  if (r.fault === 'runtime_error' && r.provider !== 'pagespeed') return 'runtime_error is a PageSpeed (Lighthouse) fault only';
  if (!Number.isFinite(r.durationMs) || r.durationMs < DRILL_MIN_MS || r.durationMs > DRILL_MAX_MS) return `a drill lasts ${spanText(DRILL_MIN_MS)} to ${spanText(DRILL_MAX_MS)}`;
  const p = r.provider as ProviderId;
  if (!s.config.providers[p].sandbox)
    return `${p} is served by its real API (${envKeyName(p)} is set): drills run only against the sandbox, never against a real provider`;
  if (!s.sandboxUrl) return `no sandbox is running for ${p}`;
  const breaker = await s.gateway.breaker.snapshot(p);
  if (breaker.state !== 'closed') return `the ${p} breaker is ${breaker.state} already: a drill now would measure nothing (\`/lf breakers\`)`;
  const firing = await firingProviderAlerts(em, p);
  if (firing.length > 0) return `${firing.join(', ')} is firing for ${p} already: a drill now would measure nothing`;
  const active = await activeDrill(em);
  if (active) return `drill #${active.id} (${active.provider} ${active.fault}, started by ${active.startedBy}) is still ${active.status}: one drill at a time`;
  return undefined;
}

/**
 * Starts a drill for `actor` (the caller checked the admin role): checks, inserts the drill (the unique index turns a
 * concurrent second start into a refusal), injects the fault, records the time it was in force. Audited
 * (`drill:start`, with the outcome). Never throws for a refusal; database errors propagate.
 */
export async function startDrill(em: () => EntityManager, s: DrillServices, r: DrillRequest, actor: Actor, timings: Partial<DrillTimings> = {}): Promise<StartOutcome> {
  const t = { ...DEFAULT_DRILL_TIMINGS, ...timings };
  const at = s.clock.now();
  const input = { provider: r.provider, fault: r.fault, durationMs: r.durationMs };
  const refuse = async (detail: string, outcome: 'refused' | 'failed' = 'refused'): Promise<StartOutcome> => {
    await audit(em(), { at, actor, action: 'drill:start', input, outcome, detail });
    return { status: outcome, detail };
  };
  const why = await refusal(s, em(), r);
  if (why) return refuse(why);
  const inserted = await insertDrill(em(), { ...input, startedBy: actor.id, startedAt: at, sandboxUrl: s.sandboxUrl!, leaseUntil: new Date(at.getTime() + t.leaseMs) });
  if (!('drill' in inserted))
    return refuse(inserted.active ? `drill #${inserted.active.id} (${inserted.active.provider} ${inserted.active.fault}) is still ${inserted.active.status}: one drill at a time` : 'another drill started at the same moment: one drill at a time');
  const drill = inserted.drill;
  try {
    await sandboxAdmin(s.sandboxUrl!).setFault(r.provider as ProviderId, { fault: r.fault as FaultKind });
  } catch (err) {
    const detail = `the sandbox refused the fault: ${(err as Error).message}`;
    await updateDrill(em(), drill.id, { status: 'failed', lastError: detail, finishedAt: s.clock.now(), leaseUntil: null }, ['running']);
    return refuse(detail, 'failed');
  }
  // measured from the moment the sandbox confirmed the fault: detection can only come after it
  const inForce = s.clock.now();
  const started = (await updateDrill(em(), drill.id, { startedAt: inForce, endsAt: new Date(inForce.getTime() + r.durationMs) }, ['running'])) ?? drill;
  const text = `drill #${drill.id} started: ${r.provider} ${r.fault} for ${spanText(r.durationMs)}`;
  await audit(em(), { at, actor, action: 'drill:start', input: { ...input, drill: drill.id }, outcome: 'succeeded', detail: text });
  s.logger.info({ drill: drill.id, provider: r.provider, fault: r.fault, durationMs: r.durationMs, by: actor.id }, 'drill started');
  return { status: 'started', drill: started, text };
}

const SYSTEM: Actor = { id: 'system:drill', role: 'admin', source: 'system', display: 'drill keeper' };
const hhmm = (d: Date) => `${d.toISOString().slice(11, 19)} UTC`;

/** Posts the report (outbox, route `drills`), adds it to the incident's timeline, audits the end. Idempotent per drill. */
async function report(em: EntityManager, s: DrillServices, d: DrillRow): Promise<void> {
  const now = s.clock.now();
  const r = drillReport(d);
  await enqueueSlack(em, { dedupKey: `drill:${d.id}:report`, kind: 'post', ...routed(s.config, 'drills'), ref: `drill:${d.id}`, text: r.text, body: r.body }, now);
  if (d.incidentId !== null) await addEvent(em, d.incidentId, now, 'drill_report', SYSTEM.id, `${drillSummary(d)}. ${r.body.lines.join('; ')}`, { drill: d.id, ...r.body.times });
  await audit(em, { at: now, actor: SYSTEM, action: 'drill:finish', input: { drill: d.id, provider: d.provider, fault: d.fault }, outcome: d.status === 'done' ? 'succeeded' : 'failed', detail: drillSummary(d) });
}

/** Clears the drill's fault in its sandbox; the error text when that failed (an unreachable sandbox died with its process). */
async function clearFault(d: DrillRow): Promise<string | undefined> {
  if (!d.sandboxUrl) return 'no sandbox recorded';
  try {
    await sandboxAdmin(d.sandboxUrl).clearFaults(d.provider as ProviderId);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Aborts the drills nobody measures any more (see the module comment): clears each fault, records `aborted` and
 * posts the report. `all`: every active drill (start-up on the single-process embedded database); `mine`: those
 * `owner` measures (it is stopping); else those of other owners whose lease ran out. Returns their ids.
 */
export async function abortOrphanedDrills(em: () => EntityManager, s: DrillServices, opts: { owner?: string; all?: boolean; mine?: boolean; why?: string } = {}): Promise<number[]> {
  const out: number[] = [];
  const which = opts.all ? 'all' : opts.mine ? 'mine' : 'orphans';
  for (const d of await orphanedDrills(em(), opts.owner ?? '', s.clock.now(), which)) {
    const failed = await clearFault(d);
    const now = s.clock.now();
    const note = `${opts.why ?? 'the service stopped mid-drill'}; ${failed ? `clearing the fault failed (${failed}): a sandbox that stopped with its process holds no fault` : `fault cleared at ${hhmm(now)}`}`;
    const aborted = await updateDrill(em(), d.id, { status: 'aborted', faultClearedAt: d.faultClearedAt ?? (failed ? null : now), lastError: note, finishedAt: now, leaseUntil: null }, ['running', 'recovering']);
    if (!aborted) continue;
    await report(em(), s, aborted);
    s.logger.warn({ drill: d.id, provider: d.provider, fault: d.fault, cleared: !failed }, 'drill aborted');
    out.push(d.id);
  }
  return out;
}

/** What one keeper tick did (drill ids). */
export interface DrillTick {
  measured: number[];
  cleared: number[];
  finished: number[];
  aborted: number[];
}

/**
 * A running keeper; `owner` is its lease holder id; `idle()` waits for its drill traffic in flight; `abortOwn(why)`
 * aborts the drills it measures (a clean shutdown: the fault is cleared now, not at the next start).
 */
export type DrillKeeper = TickLoop<DrillTick> & { owner: string; idle(): Promise<void>; abortOwn(why: string): Promise<number[]> };

/** What the keeper needs. `owner` defaults to a fresh id (a restarted process is a new owner). */
export interface DrillKeeperDeps {
  em(): EntityManager;
  services: DrillServices;
  timings?: Partial<DrillTimings>;
  owner?: string;
}

/** Creates the drill keeper (see the module comment). */
export function createDrillKeeper(deps: DrillKeeperDeps): DrillKeeper {
  const s = deps.services;
  const t = { ...DEFAULT_DRILL_TIMINGS, ...deps.timings };
  const owner = deps.owner ?? `drill-keeper:${randomUUID()}`;
  const inflight = new Map<string, Promise<void>>();

  // one call at a time per provider: a `timeout` fault holds it until PROVIDER_TIMEOUT_MS, the tick goes on
  const traffic = (provider: ProviderId) => {
    if (inflight.has(provider)) return;
    const call = s.gateway
      .call({ provider, operation: 'drill.probe', kind: 'read', fn: () => cheapestCall(s, provider) })
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => inflight.delete(provider));
    inflight.set(provider, call);
  };

  async function step(em: EntityManager, d: DrillRow, out: DrillTick): Promise<void> {
    const provider = d.provider as ProviderId;
    traffic(provider);
    await flushLedgers(); // the measurement reads the api_calls ledger
    const patch: DrillPatch = await measureDrill(em, s, d);
    if (patch.incidentId !== undefined && patch.incidentId !== null && d.incidentId === null)
      await addEvent(em, patch.incidentId, s.clock.now(), 'drill', d.startedBy, `Drill #${d.id}: ${d.provider} ${d.fault} injected in the sandbox on purpose by ${who(d.startedBy)} at ${hhmm(d.startedAt)} — this incident is a drill`, { drill: d.id, provider: d.provider, fault: d.fault });
    let cur = (await updateDrill(em, d.id, patch, [d.status])) ?? d;
    out.measured.push(d.id);
    const now = s.clock.now();
    if (cur.status === 'running' && now >= cur.endsAt) {
      const failed = await clearFault(cur);
      if (failed) {
        await updateDrill(em, cur.id, { lastError: `clearing the fault failed (${failed}); retried` }, ['running']);
        s.logger.warn({ drill: cur.id, err: failed }, 'drill: clearing the fault failed; retried next tick');
        return;
      }
      cur = (await updateDrill(em, cur.id, { status: 'recovering', faultClearedAt: s.clock.now(), lastError: null }, ['running'])) ?? cur;
      out.cleared.push(cur.id);
      return;
    }
    if (cur.status !== 'recovering' || !cur.faultClearedAt) return;
    const back = await recoveredAt(em, s, cur);
    const timedOut = !back && now.getTime() - cur.faultClearedAt.getTime() >= t.recoveryTimeoutMs;
    if (!back && !timedOut) return;
    const end: DrillPatch = back
      ? { status: 'done', recoveredAt: back, finishedAt: now, leaseUntil: null }
      : { status: 'failed', lastError: `${d.provider} did not recover within ${spanText(t.recoveryTimeoutMs)} of the clear`, finishedAt: now, leaseUntil: null };
    const finished = await updateDrill(em, cur.id, end, ['recovering']);
    if (!finished) return;
    await report(em, s, finished);
    s.logger.info({ drill: finished.id, status: finished.status }, 'drill finished');
    out.finished.push(finished.id);
  }

  async function tickOnce(): Promise<DrillTick> {
    const out: DrillTick = { measured: [], cleared: [], finished: [], aborted: [] };
    out.aborted = await abortOrphanedDrills(deps.em, s, { owner, why: 'the keeper measuring it stopped (its lease ran out)' });
    if (!s.sandboxUrl) return out;
    const em = deps.em();
    for (const d of await claimDrills(em, owner, s.sandboxUrl, new Date(s.clock.now().getTime() + t.leaseMs))) {
      try {
        await step(em, d, out);
      } catch (err) {
        s.logger.error({ drill: d.id, err: (err as Error).message }, 'drill step failed; retried next tick');
      }
    }
    return out;
  }

  const loop = createTickLoop(tickOnce, t.intervalMs, (err) => s.logger.error({ err: (err as Error).message }, 'drill keeper tick failed'));
  return {
    ...loop,
    owner,
    async idle() {
      await Promise.all([...inflight.values()]);
    },
    abortOwn: (why) => abortOrphanedDrills(deps.em, s, { owner, mine: true, why }),
  };
}

/** @throws AppError `bad_request` naming the problem with `provider fault [duration]` words. */
export function drillRequest(words: readonly string[]): DrillRequest {
  const [provider, fault, duration, ...extra] = words;
  const usage = 'usage: drill <provider> <fault> [duration e.g. 90s, 2m, 1h]';
  if (!provider || !fault || extra.length > 0) throw new AppError('bad_request', usage);
  const durationMs = duration === undefined ? DRILL_DEFAULT_MS : parseDrillDuration(duration);
  if (durationMs === undefined) throw new AppError('bad_request', `"${duration}" is not a duration (90s, 2m, 1h); ${usage}`);
  return { provider: provider.toLowerCase(), fault: fault.toLowerCase(), durationMs };
}
