/**
 * Statements about a PostgreSQL server itself (not our tables), used by backup and recovery (domain/recovery/):
 * catalog and settings reads on a dedicated `pg.Client`, and the SQL text the recovery code hands to `psql`
 * (database names are validated by the caller and double-quoted here).
 */
import type pg from 'pg';

/** The one statement reading the server's `server_version_num` (column `v`, text), on a pg client or the ORM. */
export const SERVER_VERSION_NUM_SQL = `select current_setting('server_version_num') as v`;

/** `server_version_num` of the server (e.g. 160004 for 16.4); 0 when it reports none. @throws the driver's error. */
export async function serverVersionNum(client: pg.Client): Promise<number> {
  const r = await client.query<{ v: string }>(SERVER_VERSION_NUM_SQL);
  return Number(r.rows[0]?.v ?? 0);
}

/** `wal_level`, `archive_mode`, `archive_command` from `pg_settings` (the ones the server reports), as name/setting rows. */
export async function walArchiveSettings(client: pg.Client): Promise<{ name: string; setting: string }[]> {
  const r = await client.query<{ name: string; setting: string }>(`select name, setting from pg_settings where name in ('wal_level', 'archive_mode', 'archive_command')`);
  return r.rows;
}

/** `pg_is_in_recovery()`: true while the server replays WAL (a standby or a restore not yet promoted). */
export async function isInRecovery(client: pg.Client): Promise<boolean | undefined> {
  const r = await client.query<{ rec: boolean }>('select pg_is_in_recovery() as rec');
  return r.rows[0]?.rec;
}

/** Rows of table `table` (quoted with the client's `escapeIdentifier`). @throws pg errors (42P01 when it is missing). */
export async function tableRowCount(client: pg.Client, table: string): Promise<number> {
  const r = await client.query<{ n: string }>(`select count(*)::text as n from ${client.escapeIdentifier(table)}`);
  return Number(r.rows[0]?.n ?? 0);
}

/** psql statement: tables, views, matviews and sequences outside the system schemas (one number). */
export const USER_RELATION_COUNT_SQL = `select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%' and c.relkind in ('r', 'p', 'v', 'm', 'S')`;

/** psql statement creating database `name` (a name the caller validated). */
export function createDatabaseSql(name: string): string {
  return `create database "${name}"`;
}

/** psql statement dropping database `name` if it exists (a name the caller validated); `force` ends its sessions first (PostgreSQL 13+). */
export function dropDatabaseSql(name: string, force = false): string {
  return `drop database if exists "${name}"${force ? ' with (force)' : ''}`;
}
