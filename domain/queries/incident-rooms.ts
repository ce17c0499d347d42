/**
 * Incident channels, roles and postmortem drafts (tables `incident_rooms`, `incident_roles`, `incident_postmortems`;
 * db/entities/incident-response.entity.ts), for alerts/incident-channel.ts and alerts/postmortem.ts. Work on a room
 * or a postmortem is claimed with a short lease (`lease_until`), so replicas never create a channel or upload a
 * file twice at once.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { IncidentRole, IncidentRoomStatus } from '../../db/entities/incident-response.entity.js';

/** A room as the keeper works on it. `incidentStatus` is the incident's (open | acknowledged | resolved). */
export interface RoomRow {
  incidentId: number;
  status: IncidentRoomStatus;
  channelId: string | null;
  name: string | null;
  invited: string[];
  posted: string[];
  attempts: number;
  lastError: string | null;
  incidentStatus: string;
  title: string;
  severity: string;
}

interface RoomColumns {
  incident_id: number;
  status: IncidentRoomStatus;
  channel_id: string | null;
  name: string | null;
  invited: string[] | null;
  posted: string[] | null;
  attempts: number;
  last_error: string | null;
  incident_status: string;
  title: string;
  severity: string;
}

const toRoom = (r: RoomColumns): RoomRow => ({
  incidentId: r.incident_id,
  status: r.status,
  channelId: r.channel_id,
  name: r.name,
  invited: r.invited ?? [],
  posted: r.posted ?? [],
  attempts: r.attempts,
  lastError: r.last_error,
  incidentStatus: r.incident_status,
  title: r.title,
  severity: r.severity,
});

const ROOM_COLS = `r.incident_id, r.status, r.channel_id, r.name, r.invited, r.posted, r.attempts, r.last_error, i.status as incident_status, i.title, i.severity`;

/** Registers a `creating` room for every unresolved incident of `severities` that has none; returns how many. */
export async function registerRooms(em: EntityManager, severities: readonly string[], now: Date): Promise<number> {
  if (severities.length === 0) return 0;
  const rows = await em.execute<{ incident_id: number }[]>(
    `insert into incident_rooms (incident_id, status, created_at)
     select i.id, 'creating', ? from incidents i
      where i.severity in (${severities.map(() => '?').join(',')}) and i.status <> 'resolved'
        and not exists (select 1 from incident_rooms r where r.incident_id = i.id)
     on conflict do nothing returning incident_id`,
    [now, ...severities],
  );
  return rows.length;
}

/**
 * Claims up to 20 rooms in `status` whose lease is free and whose retry time has come, until `leaseUntil`;
 * `creating` claims count an attempt.
 */
export async function claimRooms(em: EntityManager, status: 'creating' | 'open', now: Date, leaseUntil: Date): Promise<RoomRow[]> {
  const rows = await em.execute<RoomColumns[]>(
    `with claimed as (
       update incident_rooms set lease_until = ?, attempts = attempts + case when status = 'creating' then 1 else 0 end
        where incident_id in (
          select incident_id from incident_rooms
           where status = ? and (lease_until is null or lease_until < ?) and (not_before is null or not_before <= ?)
           order by incident_id limit 20)
          and (lease_until is null or lease_until < ?)
       returning *)
     select ${ROOM_COLS} from claimed r join incidents i on i.id = r.incident_id order by r.incident_id`,
    [leaseUntil, status, now, now, now],
  );
  return rows.map(toRoom);
}

/** The room of an incident, if it has one. */
export async function getRoom(em: EntityManager, incidentId: number): Promise<RoomRow | undefined> {
  const rows = await em.execute<RoomColumns[]>(`select ${ROOM_COLS} from incident_rooms r join incidents i on i.id = r.incident_id where r.incident_id = ?`, [incidentId]);
  return rows[0] ? toRoom(rows[0]) : undefined;
}

/** Records the channel Slack created; the room is `open`. */
export async function markRoomOpen(em: EntityManager, incidentId: number, channel: { id: string; name: string }, now: Date): Promise<void> {
  await em.execute(`update incident_rooms set status = 'open', channel_id = ?, name = ?, opened_at = ?, last_error = null, lease_until = null, not_before = null where incident_id = ?`, [
    channel.id,
    channel.name,
    now,
    incidentId,
  ]);
}

/** A failed attempt: retried after `retryAt`, or given up (`failed`) when `retryAt` is undefined. */
export async function markRoomError(em: EntityManager, incidentId: number, error: string, retryAt: Date | undefined): Promise<void> {
  await em
    .execute(`update incident_rooms set last_error = ?, lease_until = null, not_before = ?, status = case when ?::boolean then 'failed' else status end where incident_id = ?`, [
      error.slice(0, 1000),
      retryAt ?? null,
      retryAt === undefined,
      incidentId,
    ]);
}

/** Adds users to `invited` and timeline keys to `posted` (either may be empty), and releases the lease; `close` ends the room's syncing. */
export async function updateRoomProgress(em: EntityManager, incidentId: number, p: { invited: string[]; posted: string[]; close: boolean }): Promise<void> {
  await em.execute(
    `update incident_rooms set invited = (select coalesce(jsonb_agg(distinct v), '[]'::jsonb) from jsonb_array_elements(invited || ?::jsonb) v),
       posted = posted || ?::jsonb, lease_until = null, status = case when ?::boolean then 'closed' else status end
     where incident_id = ?`,
    [JSON.stringify(p.invited), JSON.stringify(p.posted), p.close, incidentId],
  );
}

/** One role holder. */
export interface RoleHolder {
  role: IncidentRole;
  userId: string;
  assignedBy: string;
  assignedAt: Date;
}

/** Sets (or replaces) a role holder; returns the previous holder's user id, if any. */
export async function assignRole(em: EntityManager, incidentId: number, role: IncidentRole, userId: string, by: string, now: Date): Promise<string | undefined> {
  const prev = await em.execute<{ user_id: string }[]>('select user_id from incident_roles where incident_id = ? and role = ?', [incidentId, role]);
  await em.execute(
    `insert into incident_roles (incident_id, role, user_id, assigned_by, assigned_at) values (?, ?, ?, ?, ?)
     on conflict (incident_id, role) do update set user_id = excluded.user_id, assigned_by = excluded.assigned_by, assigned_at = excluded.assigned_at`,
    [incidentId, role, userId, by, now],
  );
  return prev[0]?.user_id;
}

/** Sets a role only when nobody holds it yet; true when this call set it. */
export async function assignRoleIfUnset(em: EntityManager, incidentId: number, role: IncidentRole, userId: string, by: string, now: Date): Promise<boolean> {
  const rows = await em
    .execute<{ id: number }[]>(`insert into incident_roles (incident_id, role, user_id, assigned_by, assigned_at) values (?, ?, ?, ?, ?) on conflict do nothing returning id`, [
      incidentId,
      role,
      userId,
      by,
      now,
    ]);
  return rows.length > 0;
}

/** The incident's role holders. */
export async function incidentRoles(em: EntityManager, incidentId: number): Promise<RoleHolder[]> {
  const rows = await em
    .execute<{ role: IncidentRole; user_id: string; assigned_by: string; assigned_at: Date }[]>('select role, user_id, assigned_by, assigned_at from incident_roles where incident_id = ? order by role', [incidentId]);
  return rows.map((r) => ({ role: r.role, userId: r.user_id, assignedBy: r.assigned_by, assignedAt: new Date(r.assigned_at) }));
}

/**
 * The Slack user ids (U…/W…) responding to an incident: role holders, the declarer and acknowledger when they are
 * Slack users, and everyone its pages DMed (`paged` events' `data.dms`).
 */
export async function responderUserIds(em: EntityManager, incidentId: number): Promise<string[]> {
  const rows = await em.execute<{ u: string | null }[]>(
    `select user_id as u from incident_roles where incident_id = ?
     union select substring(declared_by from '^slack:([UW][A-Z0-9]+)$') from incidents where id = ?
     union select substring(acknowledged_by from '^slack:([UW][A-Z0-9]+)$') from incidents where id = ?
     union select jsonb_array_elements_text(case when jsonb_typeof(data->'dms') = 'array' then data->'dms' else '[]'::jsonb end)
             from incident_events where incident_id = ? and kind = 'paged' and data->>'silencedBy' is null`,
    [incidentId, incidentId, incidentId, incidentId],
  );
  return [...new Set(rows.map((r) => r.u).filter((u): u is string => !!u && /^[UW][A-Z0-9]+$/.test(u)))].sort();
}

/** The first user the incident's first unmuted page DMed (the on-call at declaration), if any. */
export async function firstPagedUser(em: EntityManager, incidentId: number): Promise<string | undefined> {
  const rows = await em.execute<{ u: string | null }[]>(
    `select data->'dms'->>0 as u from incident_events
      where incident_id = ? and kind = 'paged' and data->>'silencedBy' is null and jsonb_typeof(data->'dms') = 'array'
      order by at, id limit 1`,
    [incidentId],
  );
  return rows[0]?.u ?? undefined;
}

/** A stored postmortem draft. */
export interface PostmortemRow {
  id: number;
  incidentId: number;
  markdown: string;
  filename: string;
  createdBy: string;
  createdAt: Date;
  uploadedAt: Date | null;
  attempts: number;
  lastError: string | null;
}

interface PostmortemColumns {
  id: number;
  incident_id: number;
  markdown: string;
  filename: string;
  created_by: string;
  created_at: Date;
  uploaded_at: Date | null;
  attempts: number;
  last_error: string | null;
}

const toPostmortem = (r: PostmortemColumns): PostmortemRow => ({
  id: r.id,
  incidentId: r.incident_id,
  markdown: r.markdown,
  filename: r.filename,
  createdBy: r.created_by,
  createdAt: new Date(r.created_at),
  uploadedAt: r.uploaded_at ? new Date(r.uploaded_at) : null,
  attempts: r.attempts,
  lastError: r.last_error,
});

/** Stores a draft to upload; returns its id. */
export async function insertPostmortem(em: EntityManager, p: { incidentId: number; markdown: string; filename: string; createdBy: string; now: Date }): Promise<number> {
  const rows = await em
    .execute<{ id: number }[]>('insert into incident_postmortems (incident_id, markdown, filename, created_by, created_at) values (?, ?, ?, ?, ?) returning id', [
      p.incidentId,
      p.markdown,
      p.filename,
      p.createdBy,
      p.now,
    ]);
  return rows[0]!.id;
}

/** Claims drafts not yet uploaded (at most 5 tries each) until `leaseUntil`. */
export async function claimPostmortems(em: EntityManager, now: Date, leaseUntil: Date): Promise<PostmortemRow[]> {
  const rows = await em.execute<PostmortemColumns[]>(
    `update incident_postmortems set lease_until = ?, attempts = attempts + 1
      where id in (select id from incident_postmortems where uploaded_at is null and attempts < 5 and (lease_until is null or lease_until < ?) order by id limit 5)
        and (lease_until is null or lease_until < ?)
      returning id, incident_id, markdown, filename, created_by, created_at, uploaded_at, attempts, last_error`,
    [leaseUntil, now, now],
  );
  return rows.map(toPostmortem);
}

/** Records where a draft went (or why it did not), releasing the lease. */
export async function markPostmortem(em: EntityManager, id: number, r: { channelId?: string; uploadedAt?: Date; error?: string }): Promise<void> {
  await em
    .execute('update incident_postmortems set channel_id = coalesce(?, channel_id), uploaded_at = ?, last_error = ?, lease_until = null where id = ?', [
      r.channelId ?? null,
      r.uploadedAt ?? null,
      r.error?.slice(0, 1000) ?? null,
      id,
    ]);
}
