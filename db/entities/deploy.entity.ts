import { defineEntity, type InferEntity } from '@mikro-orm/core';

/**
 * One start of the service (a deploy or a restart): the version that ran (package.json `version`, the git commit when
 * known), a fingerprint and the non-secret values of its configuration (to say what changed between two starts), the
 * host, and when it started. Written at start by bot/main.ts (domain/changes.ts); read by `/lf changes` and
 * `/lf status` (the guide's "identify the last known good version").
 */
export const Deploy = defineEntity({
  name: 'Deploy',
  tableName: 'deploys',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    version: p.string(),
    gitSha: p.string().nullable(),
    /** SHA-256 (hex) of the non-secret configuration below. */
    configHash: p.string(),
    /** Non-secret configuration values at start (secrets replaced by whether they are set). */
    config: p.json<Record<string, unknown>>().default('{}'),
    host: p.string(),
    startedAt: p.datetime().columnType('timestamptz').index(),
  }),
});
/** Inferred entity type of {@link Deploy}. */
export type IDeploy = InferEntity<typeof Deploy>;
