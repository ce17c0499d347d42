import { defineEntity, type InferEntity } from '@mikro-orm/core';

/** Alert severity (Prometheus convention, label `severity`). */
export const ALERT_SEVERITIES = ['critical', 'warning', 'info'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];
/** Alert state: `pending` (condition true, `for` not yet elapsed; internal rules only), `firing`, `resolved`. */
export const ALERT_STATUSES = ['pending', 'firing', 'resolved'] as const;
export type AlertStatus = (typeof ALERT_STATUSES)[number];

/**
 * One alert identity (`fingerprint`: Alertmanager's, or a hash of an internal rule's name and labels) and its
 * current episode. Internal rules and Alertmanager deliveries go through the same upsert (alerts/store.ts).
 * `startsAt` identifies the episode (a delivery with the same fingerprint, startsAt and status changes nothing,
 * so resends are no-ops); a new firing within the flap window of the last resolution reopens the same episode
 * and counts a flap instead of posting again. `slackTs` is the alerts-channel message updated in place.
 */
export const Alert = defineEntity({
  name: 'Alert',
  tableName: 'alerts',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    fingerprint: p.string().unique(),
    /** Notification group: Alertmanager's `groupKey` (one Slack message per group), or the fingerprint. */
    groupKey: p.string().length(1024).index(),
    /** The source that opened the current episode: `internal` or `alertmanager`. */
    source: p.string(),
    /** Last status per source that reported this alert (`{"internal":"firing","alertmanager":"resolved"}`). */
    sourceStatus: p.json<Record<string, string>>().default('{}'),
    name: p.string().index(),
    severity: p.enum([...ALERT_SEVERITIES]),
    status: p.enum([...ALERT_STATUSES]).index(),
    labels: p.json<Record<string, string>>().default('{}'),
    annotations: p.json<Record<string, string>>().default('{}'),
    /** Runbook id the alert opens (label/annotation `runbook`, or the rule's). */
    runbook: p.string().nullable(),
    pendingSince: p.datetime().columnType('timestamptz').nullable(),
    startsAt: p.datetime().columnType('timestamptz').nullable(),
    endsAt: p.datetime().columnType('timestamptz').nullable(),
    lastEvaluatedAt: p.datetime().columnType('timestamptz').nullable(),
    flapCount: p.integer().default(0),
    /** The automatic diagnosis (runbooks/define.ts Diagnosis) attached when it fired. */
    diagnosis: p.json<Record<string, unknown>>().nullable(),
    incidentId: p.integer().nullable(),
    /** The outbox/slack_messages ref of the alerts-channel message showing this alert (shared by its group). */
    messageRef: p.string().length(1100).nullable(),
    updatedAt: p.datetime().columnType('timestamptz'),
  }),
});
/** Inferred entity type of {@link Alert}. */
export type IAlert = InferEntity<typeof Alert>;

/** Incident severities with their acknowledgement deadlines (troubleshooting guide: SEV1 < 15 min … SEV4 < 24 h). */
export const INCIDENT_SEVERITIES = ['SEV1', 'SEV2', 'SEV3', 'SEV4'] as const;
export type IncidentSeverity = (typeof INCIDENT_SEVERITIES)[number];
export const INCIDENT_STATUSES = ['open', 'acknowledged', 'resolved'] as const;
export type IncidentStatus = (typeof INCIDENT_STATUSES)[number];

/**
 * An incident: declared from an alert by severity policy or by hand. `level` is the escalation level (1 on-call
 * self-service, 2 team, 3 vendor, 4 emergency); while `open`, reaching `ackDeadline` escalates one level and sets
 * a new deadline (state here, so timers survive restarts).
 */
export const Incident = defineEntity({
  name: 'Incident',
  tableName: 'incidents',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    title: p.string(),
    severity: p.enum([...INCIDENT_SEVERITIES]),
    status: p.enum([...INCIDENT_STATUSES]).default('open').index(),
    level: p.integer().default(1),
    /** The failing provider (for Level 3 vendor contacts), when known. */
    provider: p.string().nullable(),
    runbook: p.string().nullable(),
    alertFingerprint: p.string().nullable().index(),
    declaredBy: p.string(),
    declaredAt: p.datetime().columnType('timestamptz'),
    ackDeadline: p.datetime().columnType('timestamptz').nullable().index(),
    acknowledgedBy: p.string().nullable(),
    acknowledgedAt: p.datetime().columnType('timestamptz').nullable(),
    resolvedBy: p.string().nullable(),
    resolvedAt: p.datetime().columnType('timestamptz').nullable(),
    updatedAt: p.datetime().columnType('timestamptz'),
  }),
});
/** Inferred entity type of {@link Incident}. */
export type IIncident = InferEntity<typeof Incident>;

/**
 * The incident timeline: alerts, diagnoses, button presses, escalations, pages, notes — who did what, when.
 * `kind` e.g. declared | alert_fired | alert_resolved | diagnosis | escalated | paged | acknowledged | resolved | note.
 */
export const IncidentEvent = defineEntity({
  name: 'IncidentEvent',
  tableName: 'incident_events',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    incidentId: p.integer().index(),
    at: p.datetime().columnType('timestamptz'),
    kind: p.string(),
    actor: p.string(),
    detail: p.text(),
    data: p.json<Record<string, unknown>>().default('{}'),
  }),
});
/** Inferred entity type of {@link IncidentEvent}. */
export type IIncidentEvent = InferEntity<typeof IncidentEvent>;

/**
 * A silence: mutes notifications (posts, pages) of alerts matching `matchers` (label → exact value; `alertname`
 * for the rule name) between `startsAt` and `endsAt`. Evaluation continues.
 */
export const Silence = defineEntity({
  name: 'Silence',
  tableName: 'silences',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    matchers: p.json<Record<string, string>>(),
    createdBy: p.string(),
    comment: p.text().nullable(),
    startsAt: p.datetime().columnType('timestamptz'),
    endsAt: p.datetime().columnType('timestamptz').index(),
  }),
});
/** Inferred entity type of {@link Silence}. */
export type ISilence = InferEntity<typeof Silence>;

/** Slack message kinds in the outbox: a new post, an edit of an earlier post, a reply in its thread, a DM, a file. */
export const SLACK_OUTBOX_KINDS = ['post', 'update', 'reply', 'dm', 'file'] as const;
export type SlackOutboxKind = (typeof SLACK_OUTBOX_KINDS)[number];

/**
 * The Slack outbox, the one way out to Slack: every message to send, in order per channel, at most 1 per second
 * per channel, Retry-After honoured (`notBefore`), kept until delivered (nothing lost). `ref` names the thing a
 * message is about (`alert:<fingerprint>`, `incident:<id>`); a `post` records its ts in `slack_messages` under
 * `ref`, which `update` and `reply` entries then use. `dedupKey` unique makes enqueueing idempotent.
 */
export const SlackOutbox = defineEntity({
  name: 'SlackOutbox',
  tableName: 'slack_outbox',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    dedupKey: p.string().length(512).unique(),
    kind: p.enum([...SLACK_OUTBOX_KINDS]),
    channel: p.string().index(),
    ref: p.string().nullable(),
    text: p.text(),
    blocks: p.json<unknown[]>().nullable(),
    createdAt: p.datetime().columnType('timestamptz'),
    notBefore: p.datetime().columnType('timestamptz').nullable(),
    claimedUntil: p.datetime().columnType('timestamptz').nullable(),
    sentAt: p.datetime().columnType('timestamptz').nullable().index(),
    attempts: p.integer().default(0),
    lastError: p.text().nullable(),
    /** Dead-lettered: Slack refused it for good (error in `lastError`); never retried, its channel moved on. */
    deadAt: p.datetime().columnType('timestamptz').nullable().index(),
    /** When it was degraded (text only, full detail as a file) after a permanent refusal. */
    degradedAt: p.datetime().columnType('timestamptz').nullable(),
    /** Out of its channel's line after retryable failures: retried on its own, later messages go first. */
    detached: p.boolean().default(false),
    /** When its first failed attempt was. */
    firstFailedAt: p.datetime().columnType('timestamptz').nullable(),
    /** `spool`: posted straight to Slack while the database was down, written back afterwards. */
    origin: p.string().length(32).nullable(),
    /** What kind of post it is (status, alerts, incidents, pages, recoveries, answers): its channel came from it. */
    route: p.string().length(32).nullable(),
    /** Parent message ts of a thread we did not post (the question an answer replies to); `ref` names our own. */
    threadTs: p.string().length(64).nullable(),
    /** The structured message (`{ type, … }`) the injected renderer turns into Block Kit when it is sent. */
    body: p.json<Record<string, unknown>>().nullable(),
  }),
  // each channel's next unsent post (Migration20261205120000_slack_outbox_deadletter)
  indexes: [{ name: 'slack_outbox_unsent_index', expression: `create index "slack_outbox_unsent_index" on "slack_outbox" ("channel", "id") where sent_at is null and dead_at is null` }],
});
/** Inferred entity type of {@link SlackOutbox}. */
export type ISlackOutbox = InferEntity<typeof SlackOutbox>;

/** Where a `ref`'s message lives: channel and ts (for updates and thread replies). */
export const SlackMessage = defineEntity({
  name: 'SlackMessage',
  tableName: 'slack_messages',
  properties: (p) => ({
    ref: p.string().primary(),
    channel: p.string(),
    ts: p.string(),
    postedAt: p.datetime().columnType('timestamptz'),
  }),
});
/** Inferred entity type of {@link SlackMessage}. */
export type ISlackMessage = InferEntity<typeof SlackMessage>;
