/**
 * Job: the nightly database backup (catalog: 04:00 UTC), on its context's database — a one-connection pool opened
 * from `data.env` in a worker thread; the service's own on the main thread (the embedded database: only the process
 * holding PGlite can dump it, so the catalog runs it in-process there). It backs the database up into `BACKUP_DIR`
 * (`takeBackup`: pg_dump custom format for a server, the PGlite data directory for the embedded one), deletes
 * backups older than `BACKUP_RETENTION_DAYS` with {@link rotateBackups}, and records `backup.succeeded` (info) or
 * `backup.failed` (critical) through the ops-event outbox, once per run (dedup key `backup.<outcome>:<UTC stamp>`).
 * A failure is rethrown after it is recorded, so the scheduler marks the run failed.
 */
import type { Database } from '../db/orm.js';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AppConfig } from '../domain/config.js';
import { recordOpsEvent } from '../domain/events.js';
import { rotateBackups, backupStamp, type BackupResult } from '../domain/recovery/backup.js';
import { BackupError } from '../domain/recovery/pg-tools.js';
import { takeBackup } from '../domain/recovery/embedded-backup.js';
import type { JobContext, JobReport } from './job-types.js';

/** The catalog entry the lead adds to jobs/catalog.ts (cron in UTC). */
export const BACKUP_JOB = {
  name: 'backup',
  file: 'backup',
  cron: '0 4 * * *',
  timeoutMs: 60 * 60 * 1000,
  why: 'Nightly backup with a SHA-256 checksum into BACKUP_DIR — pg_dump custom format, or the embedded PGlite data directory — rotated after BACKUP_RETENTION_DAYS (prevention: backups).',
} as const;

/** What one run did. */
export interface BackupJobSummary extends BackupResult {
  /** Backups deleted by rotation. */
  rotated: string[];
}

/**
 * One backup run. `data.now` (ISO string) overrides the clock (tests). Progress: `{ kind: 'progress', stage:
 * 'backup' | 'rotate', n }`.
 * @throws the backup's error after `backup.failed` is recorded.
 */
export default async function backupJob(ctx: JobContext): Promise<BackupJobSummary> {
  return backupOnce(ctx.db, ctx.config, ctx.em, ctx.now, ctx.report);
}

/** Backup, rotation and the outcome event; rethrows a failure after `backup.failed` is recorded. */
async function backupOnce(db: Database, config: AppConfig, em: () => EntityManager, now: Date, report: JobReport): Promise<BackupJobSummary> {
  const { recovery } = config;
  try {
    const result = await takeBackup(db, { dir: recovery.backupDir, now, pgBinDir: recovery.pgBinDir });
    report({ kind: 'progress', stage: 'backup', n: 1 });
    const rotated = await rotateBackups(recovery.backupDir, recovery.retentionDays, now);
    report({ kind: 'progress', stage: 'rotate', n: rotated.length });
    await recordOpsEvent(
      em(),
      {
        type: 'backup.succeeded',
        severity: 'info',
        dedupKey: `backup.succeeded:${backupStamp(now)}`,
        payload: { file: result.file, bytes: result.bytes, sha256: result.sha256, durationMs: result.durationMs, rotated: rotated.length, retentionDays: recovery.retentionDays },
      },
      now,
    );
    return { ...result, rotated };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    await recordOpsEvent(
      em(),
      {
        type: 'backup.failed',
        severity: 'critical',
        dedupKey: `backup.failed:${backupStamp(now)}`,
        payload: { error: message.slice(0, 2000), reason: err instanceof BackupError ? err.reason : 'error', dir: recovery.backupDir },
      },
      now,
    ).catch(() => undefined);
    throw err;
  }
}
