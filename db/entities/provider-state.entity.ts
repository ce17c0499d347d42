import { defineEntity, type InferEntity } from '@mikro-orm/core';

/** Circuit-breaker states (standard terms). */
export const BREAKER_STATES = ['closed', 'open', 'half_open'] as const;
export type BreakerState = (typeof BREAKER_STATES)[number];

/**
 * Shared per-provider state (one row per provider id: yelp, pagespeed, openai, sendgrid, stripe), so every
 * worker thread and replica sees the same breaker, Retry-After block and last error.
 */
export const ProviderState = defineEntity({
  name: 'ProviderState',
  tableName: 'provider_state',
  properties: (p) => ({
    provider: p.string().primary(),
    breakerState: p.enum([...BREAKER_STATES]).default('closed'),
    consecutiveFailures: p.integer().default(0),
    /** Incremented on every closed → open trip; results of calls permitted under an older generation are ignored. */
    generation: p.integer().default(0),
    /** half_open: the single probe's lease; another probe may start only after it ends or expires. */
    probeUntil: p.datetime().columnType('timestamptz').nullable(),
    halfOpenSuccesses: p.integer().default(0),
    /** A 429 with Retry-After keeps every call to the provider off until this time. */
    blockedUntil: p.datetime().columnType('timestamptz').nullable(),
    lastTransitionAt: p.datetime().columnType('timestamptz').nullable(),
    openedAt: p.datetime().columnType('timestamptz').nullable(),
    lastError: p.text().nullable(),
    lastErrorAt: p.datetime().columnType('timestamptz').nullable(),
    /** An operator reset closed the breaker; the next successful call confirms the recovery (and is posted). */
    recoveryPending: p.boolean().default(false),
    lastSuccessAt: p.datetime().columnType('timestamptz').nullable(),
    updatedAt: p.datetime().columnType('timestamptz').onCreate(() => new Date()).onUpdate(() => new Date()),
  }),
});
/** Inferred entity type of {@link ProviderState}. */
export type IProviderState = InferEntity<typeof ProviderState>;
