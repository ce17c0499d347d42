import { defineEntity, type InferEntity } from '@mikro-orm/core';

/** Incident roles (incident.io / PagerDuty terms): who runs the response, who talks to everyone else. */
export const INCIDENT_ROLES = ['commander', 'communications'] as const;
export type IncidentRole = (typeof INCIDENT_ROLES)[number];

/** Life of an incident channel: `creating` (conversations.create pending or retried), `open`, `closed` (resolved, timeline complete), `failed`. */
export const INCIDENT_ROOM_STATUSES = ['creating', 'open', 'closed', 'failed'] as const;
export type IncidentRoomStatus = (typeof INCIDENT_ROOM_STATUSES)[number];

/**
 * The Slack channel of a SEV1/SEV2 incident (`inc-<id>-<slug>`), opened by alerts/incident-channel.ts with
 * conversations.create. `invited` lists the Slack user ids already invited (conversations.invite), `posted` the keys
 * of the timeline entries already enqueued to the channel; `leaseUntil` is the claim of the process working on it.
 */
export const IncidentRoom = defineEntity({
  name: 'IncidentRoom',
  tableName: 'incident_rooms',
  properties: (p) => ({
    incidentId: p.integer().primary().autoincrement(false),
    status: p.enum([...INCIDENT_ROOM_STATUSES]).default('creating').index(),
    /** Slack channel id (C…) from conversations.create's `channel.id`. */
    channelId: p.string().nullable(),
    /** The channel name Slack accepted (a `-2`, `-3` … suffix after `name_taken`). */
    name: p.string().nullable(),
    invited: p.json<string[]>().default('[]'),
    posted: p.json<string[]>().default('[]'),
    attempts: p.integer().default(0),
    lastError: p.text().nullable(),
    leaseUntil: p.datetime().columnType('timestamptz').nullable(),
    notBefore: p.datetime().columnType('timestamptz').nullable(),
    createdAt: p.datetime().columnType('timestamptz'),
    openedAt: p.datetime().columnType('timestamptz').nullable(),
  }),
});
/** Inferred entity type of {@link IncidentRoom}. */
export type IIncidentRoom = InferEntity<typeof IncidentRoom>;

/** Who holds a role on an incident (one holder per role; reassigning replaces it). `userId` is a Slack user id. */
export const IncidentRoleAssignment = defineEntity({
  name: 'IncidentRoleAssignment',
  tableName: 'incident_roles',
  uniques: [{ properties: ['incidentId', 'role'] }],
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    incidentId: p.integer(),
    role: p.enum([...INCIDENT_ROLES]),
    userId: p.string(),
    assignedBy: p.string(),
    assignedAt: p.datetime().columnType('timestamptz'),
  }),
});
/** Inferred entity type of {@link IncidentRoleAssignment}. */
export type IIncidentRoleAssignment = InferEntity<typeof IncidentRoleAssignment>;

/**
 * A postmortem draft (Markdown) of an incident, kept as written, and its upload to the incident's channel:
 * `uploadedAt` is when alerts/incident-channel.ts handed it to the Slack outbox as a file (files.uploadV2), `channelId`
 * where it goes.
 */
export const IncidentPostmortem = defineEntity({
  name: 'IncidentPostmortem',
  tableName: 'incident_postmortems',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    incidentId: p.integer().index(),
    markdown: p.text(),
    filename: p.string(),
    createdBy: p.string(),
    createdAt: p.datetime().columnType('timestamptz'),
    channelId: p.string().nullable(),
    uploadedAt: p.datetime().columnType('timestamptz').nullable(),
    attempts: p.integer().default(0),
    lastError: p.text().nullable(),
    leaseUntil: p.datetime().columnType('timestamptz').nullable(),
  }),
});
/** Inferred entity type of {@link IncidentPostmortem}. */
export type IIncidentPostmortem = InferEntity<typeof IncidentPostmortem>;

/**
 * Drill phases: `running` (fault in force), `recovering` (fault cleared, waiting for the provider to answer again),
 * `done` (recovered), `failed` (not recovered in time, or the fault could not be set), `aborted` (the service stopped
 * mid-drill: the fault was cleared at start-up or when the dead keeper's lease ran out).
 */
export const DRILL_STATUSES = ['running', 'recovering', 'done', 'failed', 'aborted'] as const;
export type DrillStatus = (typeof DRILL_STATUSES)[number];

/**
 * A fault drill (`/lf drill <provider> <fault> [duration]`, alerts/drills.ts): the sandbox fault injected at
 * `startedAt` until `endsAt`, and the measured times (detection = the provider's breaker opened or an alert about it
 * fired, diagnosis = the alert post carrying a root cause that names the provider, recovery = the first successful
 * call after the fault was cleared, and the breaker closed again). `incidentId` is the incident marked as this drill;
 * `sandboxUrl` the sandbox holding the fault; `owner`/`leaseUntil` the keeper measuring it. At most one drill is
 * running or recovering (unique index `drills_one_active`).
 */
export const Drill = defineEntity({
  name: 'Drill',
  tableName: 'drills',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    provider: p.string(),
    fault: p.string(),
    durationMs: p.integer(),
    startedBy: p.string(),
    startedAt: p.datetime().columnType('timestamptz'),
    endsAt: p.datetime().columnType('timestamptz'),
    status: p.enum([...DRILL_STATUSES]).default('running').index(),
    detectedAt: p.datetime().columnType('timestamptz').nullable(),
    /** What detected the fault first: `breaker` (its breaker opened) or the name of the alert that fired. */
    detectedBy: p.string().nullable(),
    alertFingerprint: p.string().nullable(),
    alertName: p.string().nullable(),
    diagnosedAt: p.datetime().columnType('timestamptz').nullable(),
    rootCause: p.text().nullable(),
    faultClearedAt: p.datetime().columnType('timestamptz').nullable(),
    recoveredAt: p.datetime().columnType('timestamptz').nullable(),
    incidentId: p.integer().nullable().index(),
    lastError: p.text().nullable(),
    leaseUntil: p.datetime().columnType('timestamptz').nullable(),
    finishedAt: p.datetime().columnType('timestamptz').nullable(),
    sandboxUrl: p.string().nullable(),
    owner: p.string().nullable(),
  }),
  indexes: [{ name: 'drills_one_active', expression: `create unique index "drills_one_active" on "drills" ((true)) where "status" in ('running', 'recovering')` }],
});
/** Inferred entity type of {@link Drill}. */
export type IDrill = InferEntity<typeof Drill>;
