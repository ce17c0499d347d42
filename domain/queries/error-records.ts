/** Named queries over `error_records` (the log's recent errors, domain/error-log.ts): insert, prune, read. */
import type { EntityManager } from '@mikro-orm/postgresql';

/** One row to insert; `context` stored as jsonb. */
export interface ErrorRecordInput {
  at: Date;
  level: string;
  component: string | null;
  msg: string;
  code: string | null;
  context: Record<string, unknown>;
}

/** Inserts `records` in one statement, on the connection (outside any transaction of `em`). */
export async function insertErrorRecords(em: EntityManager, records: readonly ErrorRecordInput[]): Promise<void> {
  if (records.length === 0) return;
  const values = records.map(() => '(?, ?, ?, ?, ?, ?::jsonb)').join(', ');
  const params = records.flatMap((e) => [e.at, e.level, e.component, e.msg, e.code, JSON.stringify(e.context)]);
  await em.getConnection().execute(`insert into error_records (at, level, component, msg, code, context) values ${values}`, params);
}

/** Deletes records with `at` before `before`, and all but the newest `keepRows` (by id), on the connection. */
export async function pruneErrorRecords(em: EntityManager, before: Date, keepRows: number): Promise<void> {
  await em.getConnection().execute(`delete from error_records where at < ? or id <= (select id from error_records order by id desc offset ? limit 1)`, [before, keepRows]);
}

/** A stored record; `at` a Date (UTC). */
export interface ErrorRecordRow extends ErrorRecordInput {
  id: number;
}

/** Records with `at >= since`, newest first (then id), at most `limit`. */
export async function errorRecordsSince(em: EntityManager, since: Date, limit: number): Promise<ErrorRecordRow[]> {
  const rows = await em
    .getConnection()
    .execute<ErrorRecordRow[]>(
      `select id, at, level, component, msg, code, context from error_records where at >= ? order by at desc, id desc limit ?`,
      [since, limit],
    );
  return rows.map((r) => ({ ...r, at: new Date(r.at) }));
}
