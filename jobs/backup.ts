/**
 * Bree job: the nightly database backup (catalog: 04:00 UTC). Loads the configuration from `data.env`, opens the
 * database with a one-connection pool (only for the ops event; no providers or sandbox are needed), dumps the
 * database at `DATABASE_URL` into `BACKUP_DIR` with {@link createBackup}, deletes backups older than
 * `BACKUP_RETENTION_DAYS` with {@link rotateBackups}, and records `backup.succeeded` (info) or `backup.failed`
 * (critical) through the ops-event outbox, once per run (dedup key `backup.<outcome>:<UTC stamp>`).
 * A failure is rethrown after it is recorded, so the scheduler marks the run failed.
 */
import { openDatabase, type Database } from '../db/orm.js';
import { loadConfig } from '../domain/config.js';
import { recordOpsEvent } from '../domain/events.js';
import { createBackup, rotateBackups, backupStamp, type BackupResult } from '../domain/recovery/backup.js';
import { BackupError } from '../domain/recovery/backup.js';
import { systemClock } from '../domain/clock.js';
import type { JobData, JobReport } from './job-types.js';
import { hasInProcessContext, inProcessContext } from './in-process.js';
import { jobNow } from './ops-job-env.js';

/** The catalog entry the lead adds to jobs/catalog.ts (cron in UTC). */
export const BACKUP_JOB = {
  name: 'backup',
  file: 'backup',
  cron: '0 4 * * *',
  timeoutMs: 60 * 60 * 1000,
  why: 'Nightly pg_dump (custom format) with a SHA-256 checksum into BACKUP_DIR, rotated after BACKUP_RETENTION_DAYS (prevention: backups).',
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
export default async function backupJob(data: JobData, report: JobReport): Promise<BackupJobSummary> {
  const config = loadConfig({ ...process.env, ...data.env });
  // on the main thread the service's clock (accelerated in the soak bench); in a worker the wall clock
  const now = jobNow(data, hasInProcessContext() ? inProcessContext().clock : systemClock);
  let db: Database | undefined;
  try {
    // the embedded folder is held by the main process: a worker must be handed its socket URL in data.env
    db = await openDatabase({ url: config.db.url, dataDir: config.db.dataDir, poolMax: 1 });
    const { recovery } = config;
    try {
      const result = await createBackup({ url: db.url, dir: recovery.backupDir, now, pgBinDir: recovery.pgBinDir });
      report({ kind: 'progress', stage: 'backup', n: 1 });
      const rotated = await rotateBackups(recovery.backupDir, recovery.retentionDays, now);
      report({ kind: 'progress', stage: 'rotate', n: rotated.length });
      await recordOpsEvent(
        db.orm.em.fork(),
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
        db.orm.em.fork(),
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
  } finally {
    await db?.close();
  }
}
