/**
 * The on-call schedule as a service over PostgreSQL: who is on call now and next (per layer), the schedule for a
 * window, and every change — add or remove a rotation, add or cancel an override, set a person's paging email —
 * each written with an audit row (`oncall:<verb>`, who, what, outcome). Computation: domain/oncall/timeline.ts.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { ONCALL_LAYERS, type OncallHandoff, type OncallLayer } from '../../db/entities/oncall.entity.js';
import { AppError } from '../errors.js';
import { insertAudit } from '../queries/audit.js';
import {
  activeRotations,
  cancelOverrideRow,
  endRotation,
  insertOverride,
  insertRotation,
  overridesBetween,
  rotationByName,
  upsertContact,
  type OverrideRow,
  type RotationRow,
} from '../queries/oncall.js';
import { firstHandoff, isValidTimeZone, layerTimeline, nextHandoff, whoAt, type Segment } from './timeline.js';

/** Who changes the schedule (recorded in the audit log): `slack:U123`, `cli:alice`. */
export interface ScheduleActor {
  id: string;
  role: string | null | undefined;
  /** slack | cli | assistant | system. */
  source: string;
}

/** Who is on call on one layer at an instant: the person (null = nobody scheduled), why, and until when. */
export interface OnCallNow {
  layer: OncallLayer;
  userId: string | null;
  /** `rotation:<name>`, `override:<id>` or `none`. */
  source: string;
  since: Date;
  /** When this stretch ends (the next hand-off or override boundary within 60 days), else null. */
  until: Date | null;
}

/** Both layers at an instant. */
export type OnCallPair = Record<OncallLayer, OnCallNow>;

const HORIZON_MS = 60 * 86_400_000;
/** How far back a shift may have started (a weekly shift started at most 7 days ago; overrides can be longer). */
const LOOKBACK_MS = 31 * 86_400_000;
const SLACK_USER = /^[UW][A-Z0-9]{2,}$/;

/** Rotations and the overrides overlapping [from, to). */
async function load(em: EntityManager, from: Date, to: Date): Promise<{ rotations: RotationRow[]; overrides: OverrideRow[] }> {
  const [rotations, overrides] = await Promise.all([activeRotations(em), overridesBetween(em, from, to)]);
  return { rotations, overrides };
}

/** Who is on call on each layer at `at`. */
export async function onCallAt(em: EntityManager, at: Date): Promise<OnCallPair> {
  const from = new Date(at.getTime() - LOOKBACK_MS);
  const { rotations, overrides } = await load(em, from, new Date(at.getTime() + HORIZON_MS));
  const out = {} as OnCallPair;
  for (const layer of ONCALL_LAYERS) {
    const segs = layerTimeline(rotations, overrides, layer, from, new Date(at.getTime() + HORIZON_MS));
    const i = segs.findIndex((s) => s.start.getTime() <= at.getTime() && at.getTime() < s.end.getTime());
    const cur = segs[i];
    const w = whoAt(rotations, overrides, layer, at);
    out[layer] = { layer, userId: w.userId, source: w.source, since: cur?.start ?? at, until: segs[i + 1]?.start ?? null };
  }
  return out;
}

/** The next change of person on each layer after `at` (undefined: none within 60 days). */
export async function nextOnCall(em: EntityManager, at: Date): Promise<Record<OncallLayer, Segment | undefined>> {
  const { rotations, overrides } = await load(em, at, new Date(at.getTime() + HORIZON_MS));
  return { primary: nextHandoff(rotations, overrides, 'primary', at, HORIZON_MS), secondary: nextHandoff(rotations, overrides, 'secondary', at, HORIZON_MS) };
}

/** The schedule of both layers over [from, to) (segments per layer), with the rotations it came from. */
export async function scheduleBetween(em: EntityManager, from: Date, to: Date): Promise<{ rotations: RotationRow[]; overrides: OverrideRow[]; segments: Segment[] }> {
  const { rotations, overrides } = await load(em, from, to);
  const segments = ONCALL_LAYERS.flatMap((layer) => layerTimeline(rotations, overrides, layer, from, to));
  return { rotations, overrides, segments };
}

/** What a new rotation needs. `time` `HH:MM` local; `weekday` 1 (Monday) … 7 for weekly; `start` the earliest first hand-off. */
export interface RotationInput {
  name: string;
  layer: OncallLayer;
  handoff: OncallHandoff;
  members: string[];
  timeZone: string;
  time: string;
  weekday?: number;
  start: Date;
}

/** One audit row for a schedule change (action `oncall:<verb>`). */
function auditChange(em: EntityManager, actor: ScheduleActor, at: Date, verb: string, input: Record<string, unknown>, ok: boolean, detail: string): Promise<void> {
  return insertAudit(em, { at, actor: actor.id, actorRole: actor.role ?? null, source: actor.source, action: `oncall:${verb}`, input, outcome: ok ? 'succeeded' : 'refused', detail });
}

function refuse(message: string): never {
  throw new AppError('bad_request', message);
}

/**
 * Adds a rotation (first hand-off: the first `time` (and `weekday`) on or after `start` in `timeZone`). Audited.
 * @throws AppError bad_request for an unknown time zone, a bad time, no members, a member that is not a Slack user
 *   id, or a name already used (removed rotations keep their names).
 */
export async function addRotation(em: EntityManager, input: RotationInput, actor: ScheduleActor, now: Date): Promise<RotationRow> {
  if (!/^[\w.-]{1,64}$/.test(input.name)) refuse(`a rotation name is 1-64 letters, digits, '.', '_' or '-', got "${input.name}"`);
  if (!isValidTimeZone(input.timeZone)) refuse(`unknown time zone "${input.timeZone}" (an IANA name such as Europe/Berlin or America/New_York)`);
  if (input.members.length === 0) refuse('a rotation needs at least one member');
  const bad = input.members.find((m) => !SLACK_USER.test(m));
  if (bad) refuse(`"${bad}" is not a Slack user id (mention the person, e.g. @alice, or give U…)`);
  if (await rotationByName(em, input.name)) refuse(`a rotation named "${input.name}" already exists (removed rotations keep their names); pick another name`);
  let startsAt: Date;
  try {
    startsAt = firstHandoff({ zone: input.timeZone, time: input.time, handoff: input.handoff, weekday: input.weekday, from: input.start });
  } catch (err) {
    refuse((err as Error).message);
  }
  const row = { name: input.name, layer: input.layer, handoff: input.handoff, timeZone: input.timeZone, members: input.members, startsAt, createdBy: actor.id, createdAt: now };
  const id = await insertRotation(em, row);
  const detail = `${input.layer} rotation ${input.name} (${input.handoff}, ${input.members.length} members, ${input.timeZone}) added; first hand-off ${startsAt.toISOString()}`;
  await auditChange(em, actor, now, 'rotation_add', { ...row, startsAt: startsAt.toISOString(), createdAt: undefined }, true, detail);
  return { id, ...row };
}

/** Removes a rotation (kept for history). Audited. @throws AppError not_found when no rotation of that name is in force. */
export async function removeRotation(em: EntityManager, name: string, actor: ScheduleActor, now: Date): Promise<void> {
  const ok = await endRotation(em, name, actor.id, now);
  await auditChange(em, actor, now, 'rotation_remove', { name }, ok, ok ? `rotation ${name} removed` : `no rotation ${name} in force`);
  if (!ok) throw new AppError('not_found', `no rotation named "${name}" is in force`);
}

/**
 * Puts `userId` on call for `layer` from `startsAt` for `durationMs`. Audited.
 * @throws AppError bad_request for a non-Slack user id or a duration outside 1 minute … 90 days.
 */
export async function addOverride(
  em: EntityManager,
  input: { layer: OncallLayer; userId: string; startsAt: Date; durationMs: number; reason?: string },
  actor: ScheduleActor,
  now: Date,
): Promise<OverrideRow> {
  if (!SLACK_USER.test(input.userId)) refuse(`"${input.userId}" is not a Slack user id (mention the person, e.g. @alice)`);
  if (!(input.durationMs >= 60_000 && input.durationMs <= 90 * 86_400_000)) refuse('an override lasts from 1 minute to 90 days (e.g. 2h, 3d)');
  const row = { layer: input.layer, userId: input.userId, startsAt: input.startsAt, endsAt: new Date(input.startsAt.getTime() + input.durationMs), reason: input.reason ?? null, createdBy: actor.id, createdAt: now };
  const id = await insertOverride(em, row);
  const span = { startsAt: row.startsAt.toISOString(), endsAt: row.endsAt.toISOString() };
  await auditChange(em, actor, now, 'override', { id, layer: row.layer, userId: row.userId, ...span, reason: row.reason }, true, `override #${id}: ${row.userId} on call (${row.layer}) from ${span.startsAt} to ${span.endsAt}`);
  return { id, ...row };
}

/** Cancels override `id`. Audited. @throws AppError not_found when it is not in force. */
export async function cancelOverride(em: EntityManager, id: number, actor: ScheduleActor, now: Date): Promise<{ layer: OncallLayer; userId: string }> {
  const was = await cancelOverrideRow(em, id, actor.id, now);
  await auditChange(em, actor, now, 'override_cancel', { id }, !!was, was ? `override #${id} (${was.userId}, ${was.layer}) cancelled` : `no override #${id} in force`);
  if (!was) throw new AppError('not_found', `no override #${id} is in force`);
  return was;
}

/** Sets the email address pages reach `userId` at. Audited. @throws AppError bad_request for a bad id or address. */
export async function setContact(em: EntityManager, userId: string, email: string, actor: ScheduleActor, now: Date): Promise<void> {
  if (!SLACK_USER.test(userId)) refuse(`"${userId}" is not a Slack user id`);
  if (!/^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/.test(email)) refuse(`"${email}" is not an email address`);
  await upsertContact(em, userId, email, actor.id, now);
  await auditChange(em, actor, now, 'contact', { userId, email }, true, `pages by email for ${userId} go to ${email}`);
}
