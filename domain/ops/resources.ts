/**
 * Resources for the memory-resources runbook: free disk space under the data folder, and the batch sizes in
 * force (configuration plus run-time overrides, domain/overrides.ts) with a way to lower them.
 */
import { statfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AppConfig } from '../config.js';
import { effectiveConfig, readOverrides, setOverride } from '../overrides.js';
import { YELP_BATCH_SIZE_SETTING } from '../targeting/batch-size.js';

/** Free and total bytes of the file system holding `path` (measured at its nearest existing parent). */
export interface DiskUsage {
  /** The path asked about (absolute). */
  path: string;
  /** The existing folder actually measured (the path itself, or its nearest existing parent). */
  measuredPath: string;
  /** Bytes available to this (unprivileged) process. */
  freeBytes: number;
  totalBytes: number;
  /** freeBytes / totalBytes, 0–1 (3 decimals). */
  freeRatio: number;
}

/**
 * Disk usage of the file system holding `path` (fs.statfs). A path that does not exist yet (the data folder
 * before the first start) is measured at its nearest existing parent.
 * @throws the statfs error when no parent can be measured.
 */
export async function diskUsage(path: string): Promise<DiskUsage> {
  const abs = resolve(path);
  let at = abs;
  for (;;) {
    try {
      const s = await statfs(at);
      const freeBytes = Number(s.bavail) * Number(s.bsize);
      const totalBytes = Number(s.blocks) * Number(s.bsize);
      return {
        path: abs,
        measuredPath: at,
        freeBytes,
        totalBytes,
        freeRatio: totalBytes > 0 ? Math.round((freeBytes / totalBytes) * 1000) / 1000 : 0,
      };
    } catch (err) {
      const parent = dirname(at);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === at) throw err;
      at = parent;
    }
  }
}

/** Override keys of the batch sizes {@link lowerBatchSizes} changes. */
export const BATCH_SIZE_KEYS = {
  assessmentBatchSize: 'pipeline.assessment_batch_size',
  assessmentConcurrency: 'pipeline.assessment_concurrency',
  emailBatchSize: 'delivery.email_batch_size',
} as const;

/** The batch sizes in force now (config plus stored overrides), and which of them are overridden. */
export interface BatchSizes {
  yelpBatchSize: number;
  assessmentBatchSize: number;
  assessmentConcurrency: number;
  emailBatchSize: number;
  emailConcurrency: number;
  /** Override keys (settings) that currently change one of these, e.g. `pipeline.assessment_batch_size`. */
  overridden: string[];
}

/** Reads the batch sizes in force (effectiveConfig of domain/overrides.ts). Read-only. */
export async function batchSizes(em: EntityManager, config: AppConfig): Promise<BatchSizes> {
  const [c, stored] = await Promise.all([effectiveConfig(em, config), readOverrides(em)]);
  const keys: string[] = [YELP_BATCH_SIZE_SETTING, ...Object.values(BATCH_SIZE_KEYS)];
  return {
    yelpBatchSize: c.pipeline.yelpBatchSize,
    assessmentBatchSize: c.stages.assessmentBatchSize,
    assessmentConcurrency: c.stages.assessmentConcurrency,
    emailBatchSize: c.delivery.emailBatchSize,
    emailConcurrency: c.delivery.emailConcurrency,
    overridden: keys.filter((k) => k in stored),
  };
}

/** Half of `n`, rounded down, at least 1. */
export const half = (n: number): number => Math.max(1, Math.floor(n / 2));

/** New values for {@link lowerBatchSizes}; an absent field keeps its value. */
export interface LowerBatchSizesInput {
  assessmentBatchSize?: number;
  assessmentConcurrency?: number;
  emailBatchSize?: number;
}

/**
 * Sets the assessment batch size, assessment concurrency and email batch size overrides (each given field),
 * recording `by` as the writer. Returns the sizes before and after.
 * @throws AppError bad_request when a value is refused by its override schema (setOverride).
 */
export async function lowerBatchSizes(
  em: EntityManager,
  config: AppConfig,
  input: LowerBatchSizesInput,
  by: string,
  now: Date,
): Promise<{ before: BatchSizes; after: BatchSizes }> {
  const before = await batchSizes(em, config);
  for (const [field, key] of Object.entries(BATCH_SIZE_KEYS) as [keyof LowerBatchSizesInput, string][]) {
    const v = input[field];
    if (v !== undefined) await setOverride(em, key, v, by, now);
  }
  return { before, after: await batchSizes(em, config) };
}
