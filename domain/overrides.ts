/**
 * Run-time overrides of configuration, changed by operators (remediation buttons, the CLI) without a restart.
 * Each is a setting (`settings` table: value, updated_by, updated_at — the audit trail of the value) validated by
 * zod on write and on read (a bad stored value is ignored, the configured value used).
 *
 * Readers: the pipeline applies them at the start of each run ({@link applyOverrides}); long-lived components
 * (the gateway's limiter and cache) read them through {@link OverrideCache} (refreshed every few seconds).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { PROVIDERS, type AppConfig, type ProviderId } from './config.js';
import { AppError } from './errors.js';
import { settingValues } from './queries/settings.js';
import { setSetting } from './settings.js';
import { YELP_BATCH_SIZE_SETTING } from './targeting/batch-size.js';

/** One override: its setting key, schema, what it changes, and how it applies to a config (returns a copy). */
export interface OverrideSpec<T> {
  key: string;
  schema: z.ZodType<T>;
  description: string;
  apply(config: AppConfig, value: T): AppConfig;
}

const posInt = (max: number) => z.number().int().positive().max(max);

function spec<T>(s: OverrideSpec<T>): OverrideSpec<T> {
  return s;
}

/** An override with its value type erased: `apply` parses the value with the override's own schema first. */
export type StoredOverrideSpec = OverrideSpec<unknown>;

function erase<T>(s: OverrideSpec<T>): StoredOverrideSpec {
  return { key: s.key, schema: s.schema, description: s.description, apply: (c, v) => s.apply(c, s.schema.parse(v)) };
}

const providerSpecs = PROVIDERS.flatMap((p: ProviderId) => [
  spec({
    key: `gateway.cache_ttl_seconds.${p}`,
    schema: z.number().int().min(0).max(30 * 24 * 3600),
    description: `${p} cache TTL (seconds; 0 = no caching)`,
    apply: (c, v) => ({ ...c, gateway: { ...c.gateway, cacheTtlSeconds: { ...c.gateway.cacheTtlSeconds, [p]: v } } }),
  }),
  spec({
    key: `gateway.daily_limit.${p}`,
    schema: posInt(10_000_000),
    description: `${p} daily call quota`,
    apply: (c, v) => ({
      ...c,
      gateway: { ...c.gateway, limits: { ...c.gateway.limits, [p]: { ...c.gateway.limits[p], daily: v } } },
    }),
  }),
  spec({
    key: `gateway.rate_limit.${p}`,
    schema: posInt(100_000),
    description: `${p} first rate rule's limit (requests per its period, e.g. Yelp per second)`,
    apply: (c, v) => {
      const l = c.gateway.limits[p];
      if (l.rates.length === 0) return c;
      const rates = [{ ...l.rates[0]!, limit: v }, ...l.rates.slice(1)];
      return { ...c, gateway: { ...c.gateway, limits: { ...c.gateway.limits, [p]: { ...l, rates } } } };
    },
  }),
]);

/** Every override, by key. */
export const OVERRIDES: ReadonlyMap<string, StoredOverrideSpec> = new Map(
  [
    spec({
      key: YELP_BATCH_SIZE_SETTING,
      schema: z.number().int().min(1).max(50),
      description: 'Yelp page size (businesses per search call, 1–50)',
      apply: (c, v) => ({ ...c, pipeline: { ...c.pipeline, yelpBatchSize: v } }),
    }),
    spec({
      key: 'pipeline.assessment_batch_size',
      schema: posInt(1000),
      description: 'businesses claimed per assessment batch',
      apply: (c, v) => ({ ...c, stages: { ...c.stages, assessmentBatchSize: v } }),
    }),
    spec({
      key: 'pipeline.assessment_concurrency',
      schema: posInt(50),
      description: 'websites assessed at once',
      apply: (c, v) => ({ ...c, stages: { ...c.stages, assessmentConcurrency: v } }),
    }),
    spec({
      key: 'delivery.email_batch_size',
      schema: posInt(1000),
      description: 'emails claimed per delivery batch',
      apply: (c, v) => ({ ...c, delivery: { ...c.delivery, emailBatchSize: v } }),
    }),
    ...providerSpecs,
  ].map((s) => [s.key, erase(s)]),
);

/** Stored override values that pass their schema, by key. Unknown or invalid rows are skipped. */
export async function readOverrides(em: EntityManager): Promise<Record<string, unknown>> {
  const keys = [...OVERRIDES.keys()];
  const rows = await settingValues(em, keys);
  const out: Record<string, unknown> = {};
  for (const r of rows) {
    const s = OVERRIDES.get(r.key);
    if (r.value === null) continue; // cleared
    const parsed = s?.schema.safeParse(r.value);
    if (parsed?.success) out[r.key] = parsed.data;
  }
  return out;
}

/** `config` with `overrides` applied (a new object; `config` untouched). */
export function applyOverrides(config: AppConfig, overrides: Record<string, unknown>): AppConfig {
  let c = config;
  for (const [key, value] of Object.entries(overrides)) {
    const s = OVERRIDES.get(key);
    if (s) c = s.apply(c, value);
  }
  return c;
}

/** The config in force now: `config` plus the stored overrides. */
export async function effectiveConfig(em: EntityManager, config: AppConfig): Promise<AppConfig> {
  return applyOverrides(config, await readOverrides(em));
}

/**
 * Sets (or with `value` null, clears) an override, recording who and when.
 * @throws AppError bad_request for an unknown key or a value its schema refuses (the message says why).
 */
export async function setOverride(em: EntityManager, key: string, value: unknown, by: string, now: Date): Promise<void> {
  const s = OVERRIDES.get(key);
  if (!s) throw new AppError('bad_request', `unknown override "${key}"`);
  if (value !== null) {
    const parsed = s.schema.safeParse(value);
    if (!parsed.success) throw new AppError('bad_request', `${key}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
    value = parsed.data;
  }
  await setSetting(em, key, value, by, now);
}

/**
 * A cached view of the effective config for long-lived components: `get()` returns the last value and refreshes
 * it in the background when older than `maxAgeMs` (default 5 s), so a change applies within seconds without a
 * query per call. A failed refresh keeps the previous value.
 */
export class OverrideCache {
  private value: AppConfig;
  private readAt = 0;
  private refreshing: Promise<void> | undefined;
  constructor(
    private readonly base: AppConfig,
    private readonly em: () => EntityManager,
    private readonly maxAgeMs = 5000,
  ) {
    this.value = base;
  }
  /** The config in force (possibly up to `maxAgeMs` old). */
  get(): AppConfig {
    if (Date.now() - this.readAt > this.maxAgeMs && !this.refreshing) void this.refresh();
    return this.value;
  }
  /** Re-reads now. */
  async refresh(): Promise<void> {
    this.refreshing = effectiveConfig(this.em(), this.base)
      .then((c) => {
        this.value = c;
        this.readAt = Date.now();
      })
      .catch(() => {
        this.readAt = Date.now();
      })
      .finally(() => {
        this.refreshing = undefined;
      });
    await this.refreshing;
  }
}
