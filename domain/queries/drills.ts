/**
 * Fault drills (table `drills`, db/entities/incident-response.entity.ts) and what a drill measures, for
 * alerts/drills.ts: the drill rows themselves (one active at a time: the unique index `drills_one_active` makes a
 * second insert a no-op), their leases (`owner` + `lease_until`: the keeper measuring a drill renews it every tick),
 * and the facts the measurement reads — the provider's breaker events (`ops_events`), its alerts (`alerts`), the
 * alert posts carrying a diagnosis (`slack_outbox`) and its successful calls (`api_calls`).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { DrillStatus } from '../../db/entities/incident-response.entity.js';

/** A drill. Times are UTC `Date`s; durations in ms. */
export interface DrillRow {
  id: number;
  provider: string;
  fault: string;
  durationMs: number;
  /** Actor id of who started it (`slack:U123`, `cli:alice`). */
  startedBy: string;
  /** When the fault was in force (set again once the sandbox confirmed it). */
  startedAt: Date;
  /** When the fault is to be cleared. */
  endsAt: Date;
  status: DrillStatus;
  detectedAt: Date | null;
  /** `breaker` or the name of the alert that detected the fault first. */
  detectedBy: string | null;
  alertFingerprint: string | null;
  alertName: string | null;
  diagnosedAt: Date | null;
  /** The root cause that named the provider: `<id>: <title>`. */
  rootCause: string | null;
  faultClearedAt: Date | null;
  recoveredAt: Date | null;
  incidentId: number | null;
  lastError: string | null;
  leaseUntil: Date | null;
  finishedAt: Date | null;
  sandboxUrl: string | null;
  owner: string | null;
}

interface DrillColumns {
  id: number;
  provider: string;
  fault: string;
  duration_ms: number;
  started_by: string;
  started_at: Date | string;
  ends_at: Date | string;
  status: DrillStatus;
  detected_at: Date | string | null;
  detected_by: string | null;
  alert_fingerprint: string | null;
  alert_name: string | null;
  diagnosed_at: Date | string | null;
  root_cause: string | null;
  fault_cleared_at: Date | string | null;
  recovered_at: Date | string | null;
  incident_id: number | null;
  last_error: string | null;
  lease_until: Date | string | null;
  finished_at: Date | string | null;
  sandbox_url: string | null;
  owner: string | null;
}

const d = (v: Date | string | null) => (v ? new Date(v) : null);

const toDrill = (r: DrillColumns): DrillRow => ({
  id: r.id,
  provider: r.provider,
  fault: r.fault,
  durationMs: r.duration_ms,
  startedBy: r.started_by,
  startedAt: new Date(r.started_at),
  endsAt: new Date(r.ends_at),
  status: r.status,
  detectedAt: d(r.detected_at),
  detectedBy: r.detected_by,
  alertFingerprint: r.alert_fingerprint,
  alertName: r.alert_name,
  diagnosedAt: d(r.diagnosed_at),
  rootCause: r.root_cause,
  faultClearedAt: d(r.fault_cleared_at),
  recoveredAt: d(r.recovered_at),
  incidentId: r.incident_id,
  lastError: r.last_error,
  leaseUntil: d(r.lease_until),
  finishedAt: d(r.finished_at),
  sandboxUrl: r.sandbox_url,
  owner: r.owner,
});

const ACTIVE = `status in ('running', 'recovering')`;

/** What {@link insertDrill} stores. `leaseUntil`: until when the drill waits for a keeper to claim it. */
export interface NewDrill {
  provider: string;
  fault: string;
  durationMs: number;
  startedBy: string;
  startedAt: Date;
  sandboxUrl: string;
  leaseUntil: Date;
}

/**
 * Inserts a `running` drill, unless one is already running or recovering (the unique index decides, so two
 * concurrent starts cannot both win): `{ drill }` when inserted, `{ active }` (the drill in the way) when not.
 */
export async function insertDrill(em: EntityManager, n: NewDrill): Promise<{ drill: DrillRow } | { active: DrillRow | undefined }> {
  const rows = await em.execute<DrillColumns[]>(
    `insert into drills (provider, fault, duration_ms, started_by, started_at, ends_at, status, sandbox_url, lease_until)
     values (?, ?, ?, ?, ?, ?, 'running', ?, ?) on conflict do nothing returning *`,
    [n.provider, n.fault, n.durationMs, n.startedBy, n.startedAt, new Date(n.startedAt.getTime() + n.durationMs), n.sandboxUrl, n.leaseUntil],
  );
  if (rows[0]) return { drill: toDrill(rows[0]) };
  return { active: await activeDrill(em) };
}

/** The drill running or recovering now, if any. */
export async function activeDrill(em: EntityManager): Promise<DrillRow | undefined> {
  const rows = await em.execute<DrillColumns[]>(`select * from drills where ${ACTIVE} order by id desc limit 1`);
  return rows[0] ? toDrill(rows[0]) : undefined;
}

/** One drill by id. */
export async function getDrill(em: EntityManager, id: number): Promise<DrillRow | undefined> {
  const rows = await em.execute<DrillColumns[]>('select * from drills where id = ?', [id]);
  return rows[0] ? toDrill(rows[0]) : undefined;
}

/** The most recent drills, newest first. */
export async function recentDrills(em: EntityManager, limit = 10): Promise<DrillRow[]> {
  const rows = await em.execute<DrillColumns[]>('select * from drills order by id desc limit ?', [limit]);
  return rows.map(toDrill);
}

/**
 * Claims the active drills this keeper measures, until `leaseUntil`: those it owns already, and unowned ones whose
 * fault is in its own sandbox (`sandboxUrl`). Returns them as claimed.
 */
export async function claimDrills(em: EntityManager, owner: string, sandboxUrl: string, leaseUntil: Date): Promise<DrillRow[]> {
  const rows = await em.execute<DrillColumns[]>(
    `update drills set owner = ?, lease_until = ? where ${ACTIVE} and (owner = ? or (owner is null and sandbox_url = ?)) returning *`,
    [owner, leaseUntil, owner, sandboxUrl],
  );
  return rows.map(toDrill);
}

/**
 * Active drills to abort: `all` — every one (a single-process database at start-up); `mine` — those `owner` measures
 * (its process is stopping); `orphans` — those not owned by `owner` whose lease ran out before `now` (their keeper's
 * process died, or the drill was never claimed).
 */
export async function orphanedDrills(em: EntityManager, owner: string, now: Date, which: 'all' | 'mine' | 'orphans'): Promise<DrillRow[]> {
  const cond = which === 'all' ? 'true' : which === 'mine' ? 'owner = ?' : '(owner is distinct from ? and (lease_until is null or lease_until < ?))';
  const params = which === 'all' ? [] : which === 'mine' ? [owner] : [owner, now];
  const rows = await em.execute<DrillColumns[]>(`select * from drills where ${ACTIVE} and ${cond} order by id`, params);
  return rows.map(toDrill);
}

/** The columns {@link updateDrill} may set. */
export type DrillPatch = Partial<
  Pick<
    DrillRow,
    'status' | 'startedAt' | 'endsAt' | 'detectedAt' | 'detectedBy' | 'alertFingerprint' | 'alertName' | 'diagnosedAt' | 'rootCause' | 'faultClearedAt' | 'recoveredAt' | 'incidentId' | 'lastError' | 'finishedAt' | 'leaseUntil'
  >
>;

const COLUMN: Record<keyof DrillPatch, string> = {
  status: 'status',
  startedAt: 'started_at',
  endsAt: 'ends_at',
  detectedAt: 'detected_at',
  detectedBy: 'detected_by',
  alertFingerprint: 'alert_fingerprint',
  alertName: 'alert_name',
  diagnosedAt: 'diagnosed_at',
  rootCause: 'root_cause',
  faultClearedAt: 'fault_cleared_at',
  recoveredAt: 'recovered_at',
  incidentId: 'incident_id',
  lastError: 'last_error',
  finishedAt: 'finished_at',
  leaseUntil: 'lease_until',
};

/**
 * Sets `patch` on drill `id` when its status is one of `onlyIf` (a state change made once: a second keeper or a
 * start-up abort racing it changes nothing). Returns the updated drill, or undefined when the condition failed.
 */
export async function updateDrill(em: EntityManager, id: number, patch: DrillPatch, onlyIf: readonly DrillStatus[]): Promise<DrillRow | undefined> {
  const keys = Object.keys(patch) as (keyof DrillPatch)[];
  if (keys.length === 0) return getDrill(em, id);
  const sets = keys.map((k) => `${COLUMN[k]} = ?`).join(', ');
  const rows = await em.execute<DrillColumns[]>(
    `update drills set ${sets} where id = ? and status in (${onlyIf.map(() => '?').join(', ')}) returning *`,
    [...keys.map((k) => patch[k] ?? null), id, ...onlyIf],
  );
  return rows[0] ? toDrill(rows[0]) : undefined;
}

/** When the provider's breaker first opened (or re-opened) at or after `since`, from its ops events. */
export async function breakerOpenedSince(em: EntityManager, provider: string, since: Date): Promise<Date | undefined> {
  const rows = await em.execute<{ at: Date | null }[]>(
    `select min(created_at) as at from ops_events where type in ('breaker.opened', 'breaker.reopened') and payload->>'provider' = ? and created_at >= ?`,
    [provider, since],
  );
  return rows[0]?.at ? new Date(rows[0].at) : undefined;
}

/** When the provider's breaker first closed at or after `since`. */
export async function breakerClosedSince(em: EntityManager, provider: string, since: Date): Promise<Date | undefined> {
  const rows = await em.execute<{ at: Date | null }[]>(
    `select min(created_at) as at from ops_events where type = 'breaker.closed' and payload->>'provider' = ? and created_at >= ?`,
    [provider, since],
  );
  return rows[0]?.at ? new Date(rows[0].at) : undefined;
}

/** An alert about a provider as the drill reads it. */
export interface ProviderAlert {
  fingerprint: string;
  name: string;
  status: string;
  startsAt: Date | null;
  messageRef: string | null;
  incidentId: number | null;
  diagnosis: Record<string, unknown> | null;
}

/**
 * Alerts labelled `provider=<provider>` firing now (or resolved since `since`) that changed at or after `since`,
 * earliest start first.
 */
export async function providerAlertsSince(em: EntityManager, provider: string, since: Date): Promise<ProviderAlert[]> {
  const rows = await em.execute<
    { fingerprint: string; name: string; status: string; starts_at: Date | null; message_ref: string | null; incident_id: number | null; diagnosis: Record<string, unknown> | null }[]
  >(
    `select fingerprint, name, status, starts_at, message_ref, incident_id, diagnosis from alerts
      where labels->>'provider' = ? and status in ('firing', 'resolved') and updated_at >= ? and (status = 'firing' or ends_at >= ?)
      order by starts_at nulls last, id`,
    [provider, since, since],
  );
  return rows.map((r) => ({ fingerprint: r.fingerprint, name: r.name, status: r.status, startsAt: d(r.starts_at), messageRef: r.message_ref, incidentId: r.incident_id, diagnosis: r.diagnosis }));
}

/** The alert posts and edits of message `ref` enqueued at or after `since` that carry a diagnosis, oldest first. */
export async function diagnosisPostsSince(em: EntityManager, ref: string, since: Date): Promise<{ createdAt: Date; diagnosis: Record<string, unknown> }[]> {
  const rows = await em.execute<{ created_at: Date; diagnosis: Record<string, unknown> }[]>(
    `select created_at, body->'diagnosis' as diagnosis from slack_outbox
      where ref = ? and kind in ('post', 'update') and created_at >= ? and jsonb_typeof(body->'diagnosis') = 'object'
      order by created_at, id`,
    [ref, since],
  );
  return rows.map((r) => ({ createdAt: new Date(r.created_at), diagnosis: r.diagnosis }));
}

/** The first successful (not cached) call to the provider at or after `since`, from the `api_calls` ledger. */
export async function firstSuccessSince(em: EntityManager, provider: string, since: Date): Promise<Date | undefined> {
  const rows = await em.execute<{ at: Date | null }[]>(
    `select min(created_at) as at from api_calls where provider = ? and outcome = 'ok' and not cache_hit and created_at >= ?`,
    [provider, since],
  );
  return rows[0]?.at ? new Date(rows[0].at) : undefined;
}

/** Names of the alerts labelled `provider=<provider>` firing now. */
export async function firingProviderAlerts(em: EntityManager, provider: string): Promise<string[]> {
  const rows = await em.execute<{ name: string }[]>(`select name from alerts where labels->>'provider' = ? and status = 'firing' order by id`, [provider]);
  return rows.map((r) => r.name);
}
