/**
 * Who is on call when: pure functions over rotations and overrides (no database), with the time-zone arithmetic in
 * Luxon. A rotation's shift k starts at its first hand-off plus k days (daily) or k weeks (weekly) *in its time
 * zone's wall clock*, so a 09:00 Europe/Berlin hand-off stays at 09:00 local across daylight-saving changes (the
 * shift spanning the change lasts 23 or 25 hours). Where an override is in force it wins over the rotation; where
 * two overrides overlap, the one created last wins; where two rotations of one layer apply, the one that started
 * last wins (a new rotation replaces the old one from its first hand-off).
 */
import { DateTime } from 'luxon';
import type { OncallHandoff, OncallLayer } from '../../db/entities/oncall.entity.js';

/** A rotation as the timeline needs it. `startsAt`: first hand-off (UTC instant). */
export interface RotationSpec {
  id: number;
  name: string;
  layer: OncallLayer;
  handoff: OncallHandoff;
  /** IANA zone, e.g. `America/New_York`. */
  timeZone: string;
  /** Slack user ids in turn order (at least one). */
  members: string[];
  startsAt: Date;
}

/** An override in force from `startsAt` (inclusive) to `endsAt` (exclusive). Larger `id` = created later. */
export interface OverrideSpec {
  id: number;
  layer: OncallLayer;
  userId: string;
  startsAt: Date;
  endsAt: Date;
}

/** One stretch of a layer's schedule: `userId` from `start` until `end`, because of `source`. */
export interface Segment {
  layer: OncallLayer;
  start: Date;
  end: Date;
  userId: string | null;
  /** `rotation:<name>`, `override:<id>`, or `none` (nobody scheduled). */
  source: string;
}

/** True when `zone` is an IANA time zone Luxon (the platform's Intl) knows. */
export function isValidTimeZone(zone: string): boolean {
  return DateTime.now().setZone(zone).isValid;
}

const periodDays = (h: OncallHandoff) => (h === 'weekly' ? 7 : 1);

/** Start of shift `k` of `r` (k may be negative: before the first hand-off). */
export function shiftStart(r: RotationSpec, k: number): Date {
  const first = DateTime.fromJSDate(r.startsAt, { zone: r.timeZone });
  return first.plus({ days: k * periodDays(r.handoff) }).toJSDate();
}

/** Index of the shift of `r` in force at `at` (negative before the first hand-off). */
export function shiftIndexAt(r: RotationSpec, at: Date): number {
  const periodMs = periodDays(r.handoff) * 86_400_000;
  // a first guess in elapsed time, then corrected by the wall-clock starts (a DST day is 23 or 25 hours)
  let k = Math.floor((at.getTime() - r.startsAt.getTime()) / periodMs);
  while (shiftStart(r, k + 1).getTime() <= at.getTime()) k++;
  while (shiftStart(r, k).getTime() > at.getTime()) k--;
  return k;
}

/** Who `r` names for shift `k` (undefined before its first hand-off). */
export function memberOf(r: RotationSpec, k: number): string | undefined {
  if (k < 0 || r.members.length === 0) return undefined;
  return r.members[k % r.members.length];
}

/** The rotation of `layer` in force at `at`: the one with the latest first hand-off not after `at`. */
function rotationAt(rotations: RotationSpec[], layer: OncallLayer, at: Date): RotationSpec | undefined {
  let best: RotationSpec | undefined;
  for (const r of rotations) {
    if (r.layer !== layer || r.startsAt.getTime() > at.getTime()) continue;
    if (!best || r.startsAt.getTime() > best.startsAt.getTime() || (r.startsAt.getTime() === best.startsAt.getTime() && r.id > best.id)) best = r;
  }
  return best;
}

/** Who is on call for `layer` at `at`, and why. */
export function whoAt(rotations: RotationSpec[], overrides: OverrideSpec[], layer: OncallLayer, at: Date): { userId: string | null; source: string } {
  const t = at.getTime();
  const ov = overrides.filter((o) => o.layer === layer && o.startsAt.getTime() <= t && t < o.endsAt.getTime()).sort((a, b) => b.id - a.id)[0];
  if (ov) return { userId: ov.userId, source: `override:${ov.id}` };
  const r = rotationAt(rotations, layer, at);
  const user = r ? memberOf(r, shiftIndexAt(r, at)) : undefined;
  return user ? { userId: user, source: `rotation:${r!.name}` } : { userId: null, source: 'none' };
}

/** Every instant in [from, to) where the answer of {@link whoAt} for `layer` may change. */
function boundaries(rotations: RotationSpec[], overrides: OverrideSpec[], layer: OncallLayer, from: Date, to: Date): number[] {
  const out = new Set<number>([from.getTime()]);
  const inside = (t: number) => t > from.getTime() && t < to.getTime();
  for (const r of rotations) {
    if (r.layer !== layer) continue;
    if (inside(r.startsAt.getTime())) out.add(r.startsAt.getTime());
    for (let k = Math.max(0, shiftIndexAt(r, from)); ; k++) {
      const t = shiftStart(r, k).getTime();
      if (t >= to.getTime()) break;
      if (inside(t)) out.add(t);
    }
  }
  for (const o of overrides) {
    if (o.layer !== layer) continue;
    if (inside(o.startsAt.getTime())) out.add(o.startsAt.getTime());
    if (inside(o.endsAt.getTime())) out.add(o.endsAt.getTime());
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * The schedule of `layer` from `from` to `to` as consecutive segments (adjacent stretches with the same person and
 * source merged). A hand-off to the same person (a one-member rotation) is not a new segment.
 */
export function layerTimeline(rotations: RotationSpec[], overrides: OverrideSpec[], layer: OncallLayer, from: Date, to: Date): Segment[] {
  const points = boundaries(rotations, overrides, layer, from, to);
  const segments: Segment[] = [];
  points.forEach((t, i) => {
    const end = new Date(points[i + 1] ?? to.getTime());
    const w = whoAt(rotations, overrides, layer, new Date(t));
    const last = segments.at(-1);
    if (last && last.userId === w.userId && last.source === w.source) last.end = end;
    else segments.push({ layer, start: new Date(t), end, userId: w.userId, source: w.source });
  });
  return segments;
}

/**
 * The next change of person on `layer` after `at` within `horizonMs` (default 60 days): when, to whom and why;
 * undefined when nothing changes in that window.
 */
export function nextHandoff(rotations: RotationSpec[], overrides: OverrideSpec[], layer: OncallLayer, at: Date, horizonMs = 60 * 86_400_000): Segment | undefined {
  const segs = layerTimeline(rotations, overrides, layer, at, new Date(at.getTime() + horizonMs));
  const current = segs[0]?.userId ?? null;
  return segs.slice(1).find((s) => s.userId !== current);
}

/** `startsAt` of a new rotation: the first `HH:MM` (and, weekly, `weekday` 1 = Monday … 7) on or after `from` in `zone`. */
export function firstHandoff(opts: { zone: string; time: string; handoff: OncallHandoff; weekday?: number; from: Date }): Date {
  const m = /^(\d{1,2}):(\d{2})$/.exec(opts.time);
  if (!m || Number(m[1]) > 23 || Number(m[2]) > 59) throw new RangeError(`hand-off time must be HH:MM (24 h), got "${opts.time}"`);
  const local = DateTime.fromJSDate(opts.from, { zone: opts.zone });
  let t = local.set({ hour: Number(m[1]), minute: Number(m[2]), second: 0, millisecond: 0 });
  if (opts.handoff === 'weekly' && opts.weekday) t = t.plus({ days: (opts.weekday - t.weekday + 7) % 7 });
  if (t.toMillis() < local.toMillis()) t = t.plus({ days: periodDays(opts.handoff) });
  return t.toJSDate();
}
