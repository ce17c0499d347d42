import { defineEntity, type InferEntity } from '@mikro-orm/core';

/** On-call layers: Level 1 pages the `primary`, Levels 2 and 3 the `secondary` (alerts/paging/plan.ts). */
export const ONCALL_LAYERS = ['primary', 'secondary'] as const;
export type OncallLayer = (typeof ONCALL_LAYERS)[number];
/** How often a rotation hands off: every day or every week, at the same local time in its time zone. */
export const ONCALL_HANDOFFS = ['daily', 'weekly'] as const;
export type OncallHandoff = (typeof ONCALL_HANDOFFS)[number];

/**
 * A rotation: `members` (Slack user ids, in order) take turns on one layer, handing off every day or week at the
 * wall-clock time of `startsAt` in `timeZone` (IANA name, e.g. `Europe/Berlin`), so a 09:00 hand-off stays at 09:00
 * across daylight-saving changes (domain/oncall/timeline.ts). Shift k (k ≥ 0) starts k periods after `startsAt`
 * and belongs to `members[k mod n]`. A later rotation of the same layer replaces an earlier one from its own
 * `startsAt`; `endedAt` set = removed (kept for history). Managed by `/lf oncall rotation …` (audited).
 */
export const OncallRotation = defineEntity({
  name: 'OncallRotation',
  tableName: 'oncall_rotations',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    name: p.string().unique(),
    layer: p.enum([...ONCALL_LAYERS]),
    handoff: p.enum([...ONCALL_HANDOFFS]),
    timeZone: p.string(),
    /** Slack user ids (U…/W…), in rotation order. */
    members: p.json<string[]>(),
    /** The first hand-off (UTC instant); its local time and weekday in `timeZone` fix every later one. */
    startsAt: p.datetime().columnType('timestamptz'),
    createdBy: p.string(),
    createdAt: p.datetime().columnType('timestamptz'),
    endedAt: p.datetime().columnType('timestamptz').nullable(),
    endedBy: p.string().nullable(),
  }),
});
/** Inferred entity type of {@link OncallRotation}. */
export type IOncallRotation = InferEntity<typeof OncallRotation>;

/**
 * An override: `userId` is on call for `layer` from `startsAt` until `endsAt` instead of whoever the rotation
 * names (the latest created override wins where two overlap). `cancelledAt` set = no longer in force.
 */
export const OncallOverride = defineEntity({
  name: 'OncallOverride',
  tableName: 'oncall_overrides',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    layer: p.enum([...ONCALL_LAYERS]),
    userId: p.string(),
    startsAt: p.datetime().columnType('timestamptz').index(),
    endsAt: p.datetime().columnType('timestamptz').index(),
    reason: p.text().nullable(),
    createdBy: p.string(),
    createdAt: p.datetime().columnType('timestamptz'),
    cancelledAt: p.datetime().columnType('timestamptz').nullable(),
    cancelledBy: p.string().nullable(),
  }),
});
/** Inferred entity type of {@link OncallOverride}. */
export type IOncallOverride = InferEntity<typeof OncallOverride>;

/** Where to page a person beyond Slack: their email address (pages by email go through the SendGrid gateway). */
export const OncallContact = defineEntity({
  name: 'OncallContact',
  tableName: 'oncall_contacts',
  properties: (p) => ({
    userId: p.string().primary(),
    email: p.string(),
    updatedBy: p.string(),
    updatedAt: p.datetime().columnType('timestamptz'),
  }),
});
/** Inferred entity type of {@link OncallContact}. */
export type IOncallContact = InferEntity<typeof OncallContact>;
