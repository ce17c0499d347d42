import { defineEntity, type InferEntity } from '@mikro-orm/core';

/**
 * A targeting row: one Yelp search (location × category) the pipeline works through each day.
 * `location` and `category` are Yelp Fusion business-search parameters (`location`, `categories` alias);
 * `dailyQuota` caps businesses sourced per UTC day for this target.
 */
export const Target = defineEntity({
  name: 'Target',
  tableName: 'targets',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    location: p.string(),
    category: p.string(),
    dailyQuota: p.integer().default(50),
    priority: p.integer().default(0),
    active: p.boolean().default(true),
    createdAt: p.datetime().columnType('timestamptz').onCreate(() => new Date()),
    updatedAt: p.datetime().columnType('timestamptz').onCreate(() => new Date()).onUpdate(() => new Date()),
  }),
  uniques: [{ properties: ['location', 'category'] }],
});
/** Inferred entity type of {@link Target}. */
export type ITarget = InferEntity<typeof Target>;
