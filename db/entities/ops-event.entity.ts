import { defineEntity, type InferEntity } from '@mikro-orm/core';

/** Ops-event severity, mapped to Slack colours and routing. */
export const OPS_SEVERITIES = ['info', 'warning', 'critical'] as const;
export type OpsSeverity = (typeof OPS_SEVERITIES)[number];

/**
 * The outbox: something operators should hear about (pipeline run started/finished/failed, breaker opened …).
 * `dedupKey` is unique so the same fact is recorded once; `postedAt` is set when the notifier delivered it; `claimedUntil` is a delivery lease;
 * `attempts`/`lastError` track failed deliveries.
 */
export const OpsEvent = defineEntity({
  name: 'OpsEvent',
  tableName: 'ops_events',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    type: p.string().index(),
    severity: p.enum([...OPS_SEVERITIES]).default('info'),
    payload: p.json<Record<string, unknown>>().default('{}'),
    dedupKey: p.string().unique(),
    createdAt: p.datetime().columnType('timestamptz').onCreate(() => new Date()),
    postedAt: p.datetime().columnType('timestamptz').nullable().index(),
    /** Lease: a notifier owns the event until this time, so two notifiers never post it concurrently. */
    claimedUntil: p.datetime().columnType('timestamptz').nullable(),
    attempts: p.integer().default(0),
    lastError: p.text().nullable(),
  }),
});
/** Inferred entity type of {@link OpsEvent}. */
export type IOpsEvent = InferEntity<typeof OpsEvent>;
