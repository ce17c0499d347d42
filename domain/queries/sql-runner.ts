/**
 * The least a named query needs of its database handle: `execute(sql, params)` with `?` placeholders, resolving the
 * rows. A MikroORM EntityManager is one; `lf status` (bot/cli-status.ts) adapts a plain `pg` client so it answers
 * without loading the ORM. Queries taking a SqlRunner say what row shape they read.
 */
export interface SqlRunner {
  execute(sql: string, params?: unknown[]): Promise<unknown>;
}

/** The rows `db` resolves for `sql`, typed as `Row` (the shape the statement selects; not checked at run time). */
export async function rowsOf<Row>(db: SqlRunner, sql: string, params: unknown[] = []): Promise<Row[]> {
  const rows = await db.execute(sql, params);
  return Array.isArray(rows) ? (rows as Row[]) : [];
}
