import { defineEntity, type InferEntity } from '@mikro-orm/core';

/**
 * GCRA rate-limit state: one row per provider and limit (`bucket`, e.g. `per_second`, `tokens_per_minute`).
 * `tat` is the theoretical arrival time; a call is allowed when `max(tat, now) + cost × interval − period ≤ now`.
 */
export const RateLimitState = defineEntity({
  name: 'RateLimitState',
  tableName: 'rate_limit_state',
  properties: (p) => ({
    provider: p.string().primary(),
    bucket: p.string().primary(),
    tat: p.datetime().columnType('timestamptz'),
  }),
});
/** Inferred entity type of {@link RateLimitState}. */
export type IRateLimitState = InferEntity<typeof RateLimitState>;

/** Calls counted against a provider's daily quota, per UTC day (`day` as YYYY-MM-DD). */
export const ProviderQuotaUsage = defineEntity({
  name: 'ProviderQuotaUsage',
  tableName: 'provider_quota_usage',
  properties: (p) => ({
    provider: p.string().primary(),
    day: p.date().primary(),
    used: p.integer().default(0),
    /** Set when the provider itself said the quota is gone (e.g. Yelp ACCESS_LIMIT_REACHED). */
    exhausted: p.boolean().default(false),
  }),
});
/** Inferred entity type of {@link ProviderQuotaUsage}. */
export type IProviderQuotaUsage = InferEntity<typeof ProviderQuotaUsage>;

/** Cached provider answers for reads and deterministic calls; `key` = SHA-256 of method + URL + body. */
export const ProviderCache = defineEntity({
  name: 'ProviderCache',
  tableName: 'provider_cache',
  properties: (p) => ({
    key: p.string().length(64).primary(),
    provider: p.string(),
    operation: p.string(),
    value: p.json<unknown>(),
    createdAt: p.datetime().columnType('timestamptz'),
    expiresAt: p.datetime().columnType('timestamptz').index(),
  }),
});
/** Inferred entity type of {@link ProviderCache}. */
export type IProviderCache = InferEntity<typeof ProviderCache>;

/**
 * The cost ledger: one row per logical provider call (after retries). `outcome` is `ok`, `cache_hit` or the
 * error code; `costUsd` in US dollars (OpenAI from returned token usage × configured prices).
 */
export const ApiCall = defineEntity({
  name: 'ApiCall',
  tableName: 'api_calls',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    provider: p.string(),
    operation: p.string(),
    outcome: p.string(),
    httpStatus: p.integer().nullable(),
    attempts: p.integer().default(1),
    latencyMs: p.integer(),
    costUsd: p.decimal('number').precision(14).scale(6).default(0),
    cacheHit: p.boolean().default(false),
    promptTokens: p.integer().nullable(),
    completionTokens: p.integer().nullable(),
    error: p.text().nullable(),
    createdAt: p.datetime().columnType('timestamptz'),
  }),
  indexes: [{ properties: ['provider', 'createdAt'] }],
});
/** Inferred entity type of {@link ApiCall}. */
export type IApiCall = InferEntity<typeof ApiCall>;

/**
 * Runtime settings shared by every process (e.g. `sandbox.url`, batch sizes changed from Slack), with who set
 * them last. Values are JSON.
 */
export const Setting = defineEntity({
  name: 'Setting',
  tableName: 'settings',
  properties: (p) => ({
    key: p.string().primary(),
    value: p.json<unknown>(),
    updatedAt: p.datetime().columnType('timestamptz'),
    updatedBy: p.string(),
  }),
});
/** Inferred entity type of {@link Setting}. */
export type ISetting = InferEntity<typeof Setting>;
