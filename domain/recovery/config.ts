/**
 * Backup settings from the environment (merged into the app schema by domain/config.ts): where the 04:00 UTC
 * backup job writes its `pg_dump --format=custom` files, how long they are kept, and where the PostgreSQL client
 * programs live when the machine's own (on PATH) are not the ones to use (e.g. a newer pg_dump for a newer server).
 */
import { z } from 'zod';

/** Environment keys. */
export const RecoveryEnvSchema = z.object({
  /** Folder for backup files (`leadfactory-<UTC timestamp>.dump` plus `.sha256`); created when missing. */
  BACKUP_DIR: z.string().trim().min(1).default('.data/backups'),
  /** Backups older than this many days are deleted by the backup job's rotation. */
  BACKUP_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  /** Folder the server's `archive_command` copies WAL segments into (point-in-time recovery); unset = no PITR. */
  WAL_ARCHIVE_DIR: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim())),
  /** Folder for `pg_basebackup` base backups (`base-<UTC stamp>/`); unset = `<BACKUP_DIR>/base`. */
  BASE_BACKUP_DIR: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim())),
  /** Folder holding pg_dump, pg_restore and psql; unset = found on PATH. */
  PG_BIN_DIR: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim())),
});

/** Backup configuration. */
export interface RecoveryConfig {
  backupDir: string;
  retentionDays: number;
  /** Folder of the PostgreSQL client programs, or undefined for PATH. */
  pgBinDir: string | undefined;
  /** WAL archive folder (WAL_ARCHIVE_DIR), or undefined when point-in-time recovery is not set up. */
  walArchiveDir: string | undefined;
  /** Base backup folder (BASE_BACKUP_DIR, default `<backupDir>/base`). */
  baseBackupDir: string;
}

/** Builds {@link RecoveryConfig}. */
export function buildRecoveryConfig(e: z.infer<typeof RecoveryEnvSchema>): RecoveryConfig {
  return {
    backupDir: e.BACKUP_DIR,
    retentionDays: e.BACKUP_RETENTION_DAYS,
    pgBinDir: e.PG_BIN_DIR,
    walArchiveDir: e.WAL_ARCHIVE_DIR,
    baseBackupDir: e.BASE_BACKUP_DIR ?? `${e.BACKUP_DIR.replace(/\/+$/, '')}/base`,
  };
}
