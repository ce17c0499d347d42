/**
 * Runbook "Backups and recovery" (troubleshooting guide: recovery procedures — backups at 04:00 UTC kept 30 days,
 * restore, data-integrity checks).
 *
 * Diagnostics (read-only): the newest backup in `BACKUP_DIR` (age against the nightly schedule, size, checksum),
 * the recent runs of the `backup` job and `backup.failed` events, and the data-integrity checks of `db verify`
 * (foreign keys, orphaned rows, status consistency, job runs left running, counts per stage).
 *
 * Remediation: `backup-now` (operator) takes a backup at once (pg_dump custom format, or the embedded database's
 * PGlite data directory, + checksum) — safe from a button. Restoring is not offered as a button: it is admin-only, needs a typed confirmation and a switch of the
 * service's DATABASE_URL, so the findings name the terminal command (`npm run lf -- db restore …`) instead.
 */
import { listBackups, verifyChecksum } from '../domain/recovery/backup.js';
import { dumpCompatibility } from '../domain/recovery/pg-tools.js';
import { takeBackup } from '../domain/recovery/embedded-backup.js';
import { verifyDatabase } from '../domain/recovery/verify.js';
import { recentEventsOfType } from '../domain/queries/ops-events.js';
import { serverVersionNumOf } from '../domain/queries/pg-stats.js';
import { recentRuns } from '../domain/queries/runs.js';
import type { RunbookContext } from './context.js';
import { defineRunbook, type Finding } from './define.js';

/** A newest backup older than this (h) means the nightly backup did not happen: problem (one day plus slack). */
export const BACKUP_MAX_AGE_HOURS = 26;
/** How far back the backup job's runs and failure events are read (h). */
export const BACKUP_HISTORY_HOURS = 48;
/**
 * The restore command operators run in a terminal (admin, `--yes` to confirm): a pg_dump backup goes into a fresh
 * database on the same server, an embedded one (`*.pglite.tar.gz`) into a new data folder.
 */
export const RESTORE_COMMAND = 'npm run lf -- db restore --backup <file> --yes';

const bad = (f: Finding | undefined) => f?.status === 'warn' || f?.status === 'problem';
/** False when the newest-backup check found that pg_dump cannot dump this server (no backup button then). */
const canDump = (f: Record<string, Finding>) => f['latest-backup']?.evidence?.toolOk !== false;
const hours = (ms: number) => Math.round((ms / 3_600_000) * 10) / 10;

async function latestBackup(ctx: RunbookContext): Promise<Finding> {
  const { config, db, clock } = ctx.services;
  const dir = config.recovery.backupDir;
  // the service schedules nightly backups of its database (jobs/catalog.ts): DATABASE_URL or the embedded one; a
  // database given otherwise (tests, the assistant's eval) has none, and a missing backup is then no_data
  const scheduled = Boolean(config.db.url) || Boolean(db.embedded);
  const unscheduled = 'this process does not back this database up (without DATABASE_URL it reaches the embedded database of a running `npm start` through its socket: that service takes the backups, nightly or with /lf backups → Back up now)';
  // the embedded database is backed up as its PGlite data directory; a server with pg_dump, whose version must do
  const tool = db.embedded
    ? ({ ok: true } as const)
    : await (async () => {
        return dumpCompatibility(await serverVersionNumOf(ctx.em()), config.recovery.pgBinDir);
      })();
  const list = await listBackups(dir, { verify: false });
  if (!tool.ok)
    return {
      status: scheduled ? 'problem' : 'no_data',
      summary: `Backups cannot be taken here: ${tool.reason}${scheduled ? '' : `; ${unscheduled}`}. ${list.length} backup(s) in ${dir}.`,
      evidence: { dir, scheduled, count: list.length, toolOk: false, clientMajor: tool.clientMajor ?? null, serverMajor: tool.serverMajor },
    };
  const newest = list[0];
  if (!newest)
    return {
      status: scheduled ? 'problem' : 'no_data',
      summary: `No backup in ${dir}: ${scheduled ? 'take one now (the nightly job runs at 04:00 UTC)' : `${unscheduled}; \`npm run lf -- db backup\` takes one`}.`,
      evidence: { dir, scheduled, toolOk: true, count: 0 },
    };
  const ageMs = clock.now().getTime() - newest.takenAt.getTime();
  const check = await verifyChecksum(newest.file);
  const old = ageMs > BACKUP_MAX_AGE_HOURS * 3_600_000;
  const evidence = { dir, scheduled, toolOk: true, count: list.length, newest: newest.name, takenAt: newest.takenAt.toISOString(), ageHours: hours(ageMs), bytes: newest.bytes, checksumOk: check.ok, restore: RESTORE_COMMAND };
  if (!check.ok)
    return { status: 'problem', summary: `The newest backup ${newest.name} fails its checksum (${check.reason ?? 'mismatch'}): do not restore it; take a new one.`, evidence };
  return {
    status: old ? (scheduled ? 'problem' : 'warn') : 'ok',
    summary: `${list.length} backup(s) in ${dir}; the newest, ${newest.name}, is ${hours(ageMs)} h old (${Math.round(newest.bytes / 1024)} KiB, checksum ok)${old ? `: older than ${BACKUP_MAX_AGE_HOURS} h, ${scheduled ? 'the nightly backup did not run' : unscheduled}` : ''}.`,
    evidence,
  };
}

async function backupRuns(ctx: RunbookContext): Promise<Finding> {
  const since = new Date(ctx.services.clock.now().getTime() - BACKUP_HISTORY_HOURS * 3_600_000);
  const em = ctx.em();
  const runs = await recentRuns(em, 'backup', 10, since);
  const failures = await recentEventsOfType<{ error?: string }>(em, 'backup.failed', since, 5);
  const failed = runs.filter((r) => r.status === 'failed' || r.status === 'interrupted');
  const lastError = failures[0]?.payload?.error ?? failed[0]?.error ?? undefined;
  return {
    status: failures.length > 0 || failed.length > 0 ? 'problem' : 'ok',
    summary:
      runs.length === 0 && failures.length === 0
        ? `No backup run in the last ${BACKUP_HISTORY_HOURS} h.`
        : `${runs.length} backup run(s) in the last ${BACKUP_HISTORY_HOURS} h, ${failed.length} failed or interrupted; ${failures.length} backup.failed event(s)${lastError ? `; last error: ${lastError.slice(0, 200)}` : ''}.`,
    evidence: { runs: runs.map((r) => ({ status: r.status, startedAt: r.startedAt.toISOString() })), failedEvents: failures.length, lastError: lastError ?? null },
  };
}

async function integrity(ctx: RunbookContext): Promise<Finding> {
  const report = await verifyDatabase(ctx.em(), { now: ctx.services.clock.now() });
  const problems = report.checks.filter((c) => !c.ok);
  return {
    status: problems.length > 0 ? 'problem' : 'ok',
    summary:
      problems.length === 0
        ? `db verify: clean (${report.checks.length} checks: foreign keys, orphaned rows, status consistency, runs left running).`
        : `db verify: ${problems.map((c) => c.detail).join('; ')}.`,
    evidence: { ok: report.ok, problems: problems.map((c) => ({ id: c.id, count: c.count, detail: c.detail })), restore: RESTORE_COMMAND },
  };
}

/** The runbook. */
export const runbook = defineRunbook<RunbookContext>({
  id: 'backup-recovery',
  title: 'Backups and recovery',
  symptoms: [
    'backup failed',
    'backup missing',
    'no backup',
    'last backup',
    'is the backup ok',
    'restore the database',
    'restore from backup',
    'data corruption',
    'orphaned rows',
    'integrity check',
    'db verify',
    'disaster recovery',
    'lost data',
  ],
  diagnostics: [
    { id: 'latest-backup', title: 'Newest backup (age, checksum)', run: latestBackup },
    { id: 'backup-runs', title: 'Backup job runs and failures', run: backupRuns },
    { id: 'integrity', title: 'Data integrity (db verify)', timeoutMs: 15_000, run: integrity },
  ],
  rootCauses: [
    {
      id: 'no-recent-backup',
      title: 'There is no recent, sound backup: take one now (and look at why the nightly job did not write one).',
      indicatedBy: (f) => canDump(f) && (f['latest-backup']?.status === 'problem' || f['backup-runs']?.status === 'problem'),
      remediations: ['backup-now'],
    },
    {
      id: 'backup-tool-unusable',
      title: 'pg_dump is missing or older than the database server, so no backup can be taken: install a PostgreSQL client of the server’s version (or newer) and set PG_BIN_DIR.',
      indicatedBy: (f) => !canDump(f) && f['latest-backup']?.status === 'problem',
      remediations: [],
    },
    {
      id: 'integrity-problems',
      title: `The data fails integrity checks: take a backup of what is there (\`npm run lf -- db backup\`), then restore a sound one from a terminal (admin; into a fresh database, or a new data folder for the embedded one): \`${RESTORE_COMMAND}\`.`,
      indicatedBy: (f) => bad(f.integrity),
      remediations: [],
    },
  ],
  remediations: [
    {
      id: 'backup-now',
      title: 'Back up the database now',
      risk: 'write',
      requiredRole: 'operator',
      confirmation: 'Take a backup now (pg_dump custom format, or the embedded database’s data directory, with a SHA-256 checksum into BACKUP_DIR)? Nothing is overwritten or rotated.',
      idempotencyKey: () => 'backup-now',
      recheck: 'latest-backup',
      async run(ctx, _input, actor) {
        const { config, db, clock, logger } = ctx.services;
        const r = await takeBackup(db, { dir: config.recovery.backupDir, now: clock.now(), pgBinDir: config.recovery.pgBinDir });
        logger.info({ actor, file: r.file, bytes: r.bytes }, 'backup taken');
        return { summary: `Backup written: ${r.file} (${Math.round(r.bytes / 1024)} KiB, sha256 ${r.sha256.slice(0, 12)}…) in ${r.durationMs} ms.` };
      },
    },
  ],
});
