import { defineEntity, type InferEntity } from '@mikro-orm/core';
import { Target } from './target.entity.js';

import { BUSINESS_STATUSES } from './statuses.js';

export { BUSINESS_STATUSES, type BusinessStatus } from './statuses.js';

/**
 * A local business found through Yelp Fusion business search. `yelpId` is Yelp's `businesses[].id` (unique);
 * `website` is the business's own site when known (null: kept but not assessed); `score` is 0–100 from scoring.
 */
export const Business = defineEntity({
  name: 'Business',
  tableName: 'businesses',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    yelpId: p.string().unique(),
    name: p.string(),
    website: p.string().length(2048).nullable(),
    phone: p.string().nullable(),
    address: p.string().length(512).nullable(),
    city: p.string().nullable(),
    categories: p.json<string[]>().default('[]'),
    rating: p.float().nullable(),
    reviewCount: p.integer().nullable(),
    status: p.enum([...BUSINESS_STATUSES]).default('new').index(),
    score: p.integer().nullable().index(),
    /** Tier from the scoring rules' tier table (A ≥ 80, B ≥ 60, C ≥ 40, else D). */
    tier: p.string().length(1).nullable(),
    /** Per-factor points and the rules version behind `score`. */
    scoreBreakdown: p.json<Record<string, unknown>>().nullable(),
    /** Registrable host of `website`, lower-cased, without `www.` (dedupe key). */
    websiteDomain: p.string().nullable().index(),
    /** Phone digits only, with country code (dedupe key). */
    phoneNormalized: p.string().nullable().index(),
    /** Outreach address (from enrichment, else `info@<domain>`). */
    email: p.string().nullable(),
    assessmentAttempts: p.integer().default(0),
    /** When `status` last changed (stuck-in-stage detection). */
    statusChangedAt: p.datetime().columnType('timestamptz').nullable(),
    /** Batch claim lease of a pipeline stage worker (`FOR UPDATE SKIP LOCKED` claims set it). */
    claimedUntil: p.datetime().columnType('timestamptz').nullable(),
    /** Holder of the claim (domain/leases.ts `host:pid:boot[#runId]`); `claimedUntil` is its lease expiry. */
    claimHolder: p.string().nullable(),
    target: p.manyToOne(Target).nullable().deleteRule('set null'),
    createdAt: p.datetime().columnType('timestamptz').onCreate(() => new Date()),
    updatedAt: p.datetime().columnType('timestamptz').onCreate(() => new Date()).onUpdate(() => new Date()),
  }),
});
/** Inferred entity type of {@link Business}. */
export type IBusiness = InferEntity<typeof Business>;
