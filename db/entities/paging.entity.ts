import { defineEntity, type InferEntity } from '@mikro-orm/core';

/** Where a page goes beyond Slack. */
export const PAGE_CHANNELS = ['email', 'pagerduty', 'opsgenie'] as const;
export type PageChannel = (typeof PAGE_CHANNELS)[number];
/** What a delivery does: open the alert (PagerDuty `trigger`, Opsgenie create, an email), acknowledge or resolve it. */
export const PAGE_ACTIONS = ['trigger', 'acknowledge', 'resolve'] as const;
export type PageAction = (typeof PAGE_ACTIONS)[number];

/**
 * The paging outbox (alerts/paging/): one row per page, acknowledgement or resolution to send to a channel beyond
 * Slack, written in the same transaction as the incident change it announces and delivered by the page dispatcher.
 * `dedupKey` is unique (e.g. `incident:12:pagerduty:trigger`), so a re-page, a double click or two replicas enqueue
 * it once. Rows of one `lane` (the incident and channel; an email lane per address) go out in id order, so an
 * acknowledge never overtakes its trigger. `leaseUntil` is the claim of the dispatcher sending it; `response` the
 * provider's answer (PagerDuty `{status, message, dedup_key}`, Opsgenie `{result, took, requestId}`, SendGrid's
 * `X-Message-Id`); `deadAt` set = given up (`lastError` says why).
 */
export const PageDelivery = defineEntity({
  name: 'PageDelivery',
  tableName: 'page_deliveries',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    dedupKey: p.string().length(512).unique(),
    incidentId: p.integer().index(),
    channel: p.enum([...PAGE_CHANNELS]),
    action: p.enum([...PAGE_ACTIONS]),
    lane: p.string().length(512),
    /** Email address for `email`; null for PagerDuty and Opsgenie (one alert per incident). */
    target: p.string().nullable(),
    /** What to send, in our terms (summary, severity, level, on-call names); the adapter builds the wire body. */
    payload: p.json<Record<string, unknown>>().default('{}'),
    createdAt: p.datetime().columnType('timestamptz'),
    attempts: p.integer().default(0),
    nextAttemptAt: p.datetime().columnType('timestamptz'),
    leaseUntil: p.datetime().columnType('timestamptz').nullable(),
    sentAt: p.datetime().columnType('timestamptz').nullable(),
    deadAt: p.datetime().columnType('timestamptz').nullable(),
    lastError: p.text().nullable(),
    response: p.json<Record<string, unknown>>().nullable(),
  }),
});
/** Inferred entity type of {@link PageDelivery}. */
export type IPageDelivery = InferEntity<typeof PageDelivery>;
