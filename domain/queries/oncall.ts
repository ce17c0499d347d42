/**
 * Named queries over the on-call tables (db/entities/oncall.entity.ts): rotations, overrides and contacts.
 * Rows come back in the shapes domain/oncall/timeline.ts computes with (UTC `Date`s).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { OncallHandoff, OncallLayer } from '../../db/entities/oncall.entity.js';
import type { OverrideSpec, RotationSpec } from '../oncall/timeline.js';

/** A stored rotation (with who made it). */
export interface RotationRow extends RotationSpec {
  createdBy: string;
  createdAt: Date;
}

/** A stored override (with why and who made it). */
export interface OverrideRow extends OverrideSpec {
  reason: string | null;
  createdBy: string;
  createdAt: Date;
}

const d = (v: Date | string) => new Date(v);

/** Rotations in force (not removed), oldest first. */
export async function activeRotations(em: EntityManager): Promise<RotationRow[]> {
  const rows = await em.execute<
    { id: number; name: string; layer: OncallLayer; handoff: OncallHandoff; time_zone: string; members: string[]; starts_at: Date; created_by: string; created_at: Date }[]
  >('select id, name, layer, handoff, time_zone, members, starts_at, created_by, created_at from oncall_rotations where ended_at is null order by id');
  return rows.map((r) => ({ id: r.id, name: r.name, layer: r.layer, handoff: r.handoff, timeZone: r.time_zone, members: r.members, startsAt: d(r.starts_at), createdBy: r.created_by, createdAt: d(r.created_at) }));
}

/** The rotation named `name` (removed ones included), or undefined. */
export async function rotationByName(em: EntityManager, name: string): Promise<{ id: number; ended: boolean } | undefined> {
  const rows = await em.execute<{ id: number; ended_at: Date | null }[]>('select id, ended_at from oncall_rotations where name = ?', [name]);
  return rows[0] ? { id: rows[0].id, ended: rows[0].ended_at !== null } : undefined;
}

/** Inserts a rotation; returns its id. */
export async function insertRotation(em: EntityManager, r: Omit<RotationSpec, 'id'> & { createdBy: string; createdAt: Date }): Promise<number> {
  const rows = await em.execute<{ id: number }[]>(
    `insert into oncall_rotations (name, layer, handoff, time_zone, members, starts_at, created_by, created_at) values (?, ?, ?, ?, ?::jsonb, ?, ?, ?) returning id`,
    [r.name, r.layer, r.handoff, r.timeZone, JSON.stringify(r.members), r.startsAt, r.createdBy, r.createdAt],
  );
  return rows[0]!.id;
}

/** Marks the rotation `name` removed; true when it was in force. */
export async function endRotation(em: EntityManager, name: string, by: string, at: Date): Promise<boolean> {
  const rows = await em.execute<{ id: number }[]>('update oncall_rotations set ended_at = ?, ended_by = ? where name = ? and ended_at is null returning id', [at, by, name]);
  return rows.length > 0;
}

/** Overrides not cancelled that overlap [from, to), oldest first. */
export async function overridesBetween(em: EntityManager, from: Date, to: Date): Promise<OverrideRow[]> {
  const rows = await em.execute<
    { id: number; layer: OncallLayer; user_id: string; starts_at: Date; ends_at: Date; reason: string | null; created_by: string; created_at: Date }[]
  >('select id, layer, user_id, starts_at, ends_at, reason, created_by, created_at from oncall_overrides where cancelled_at is null and starts_at < ? and ends_at > ? order by id', [to, from]);
  return rows.map((r) => ({ id: r.id, layer: r.layer, userId: r.user_id, startsAt: d(r.starts_at), endsAt: d(r.ends_at), reason: r.reason, createdBy: r.created_by, createdAt: d(r.created_at) }));
}

/** Inserts an override; returns its id. */
export async function insertOverride(em: EntityManager, o: Omit<OverrideSpec, 'id'> & { reason: string | null; createdBy: string; createdAt: Date }): Promise<number> {
  const rows = await em.execute<{ id: number }[]>(
    'insert into oncall_overrides (layer, user_id, starts_at, ends_at, reason, created_by, created_at) values (?, ?, ?, ?, ?, ?, ?) returning id',
    [o.layer, o.userId, o.startsAt, o.endsAt, o.reason, o.createdBy, o.createdAt],
  );
  return rows[0]!.id;
}

/** Cancels override `id`; the override as it was when it was in force, else undefined. */
export async function cancelOverrideRow(em: EntityManager, id: number, by: string, at: Date): Promise<{ layer: OncallLayer; userId: string } | undefined> {
  const rows = await em
    .execute<{ layer: OncallLayer; user_id: string }[]>('update oncall_overrides set cancelled_at = ?, cancelled_by = ? where id = ? and cancelled_at is null returning layer, user_id', [at, by, id]);
  return rows[0] ? { layer: rows[0].layer, userId: rows[0].user_id } : undefined;
}

/** Sets (or replaces) the email address pages reach `userId` at. */
export async function upsertContact(em: EntityManager, userId: string, email: string, by: string, at: Date): Promise<void> {
  await em
    .execute(
      'insert into oncall_contacts (user_id, email, updated_by, updated_at) values (?, ?, ?, ?) on conflict (user_id) do update set email = excluded.email, updated_by = excluded.updated_by, updated_at = excluded.updated_at',
      [userId, email, by, at],
    );
}

/** Email addresses of `userIds` that have one, by user id. */
export async function contactEmails(em: EntityManager, userIds: string[]): Promise<Record<string, string>> {
  if (userIds.length === 0) return {};
  const rows = await em.execute<{ user_id: string; email: string }[]>(`select user_id, email from oncall_contacts where user_id in (${userIds.map(() => '?').join(', ')})`, userIds);
  return Object.fromEntries(rows.map((r) => [r.user_id, r.email]));
}
