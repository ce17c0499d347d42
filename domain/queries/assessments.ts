/**
 * Named queries over `assessment_results` (one definition per figure).
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** Failed assessments since `since`, counted by Lighthouse error code. */
export interface FailuresByCode {
  /** `error_code` (Lighthouse `runtimeError.code`, e.g. FAILED_DOCUMENT_REQUEST) → failed results with it. */
  byCode: Record<string, number>;
  /** Failed results without a Lighthouse code (HTTP errors, timeouts, invalid URLs). */
  withoutCode: number;
}

/**
 * Failed `assessment_results` rows created at or after `since`, grouped by `error_code` (null → `withoutCode`).
 * Source: assessment/assess.ts stores Lighthouse's code when PageSpeed answered 200 with `lighthouseResult.runtimeError`.
 */
export async function failedAssessmentsByErrorCode(em: EntityManager, since: Date): Promise<FailuresByCode> {
  const rows = await em.execute<{ code: string | null; n: number }[]>(
    `select error_code as code, count(*)::int as n from assessment_results
      where status = 'failed' and created_at >= ? group by error_code order by 2 desc, 1`,
    [since],
  );
  const out: FailuresByCode = { byCode: {}, withoutCode: 0 };
  for (const r of rows) {
    if (r.code === null) out.withoutCode += r.n;
    else out.byCode[r.code] = r.n;
  }
  return out;
}

/** Assessment results created after `since` (strictly), and how many of them `failed`. Counts. */
export async function assessmentResultsSince(em: EntityManager, since: Date): Promise<{ total: number; failed: number }> {
  const [row] = await em.execute<{ total: number; failed: number }[]>(
    `select count(*)::int as total, count(*) filter (where status = 'failed')::int as failed from assessment_results where created_at > ?`,
    [since],
  );
  return { total: Number(row?.total ?? 0), failed: Number(row?.failed ?? 0) };
}

/**
 * Assessment results created at or after `since`, per status (`completed`, `partial`, `failed`; statuses without
 * results are absent). Counts.
 */
export async function assessmentResultsByStatus(em: EntityManager, since: Date): Promise<Record<string, number>> {
  const rows = await em
    .execute<{ status: string; n: number }[]>('select status, count(*)::int as n from assessment_results where created_at >= ? group by status', [since]);
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

/**
 * The commonest error messages of failed assessment results created at or after `since`: message cut to 160
 * characters (`(no message)` when none), with its count; most frequent first, up to `limit`. Messages are stored
 * as the provider answered: redact before showing them.
 */
export async function topAssessmentErrors(em: EntityManager, since: Date, limit = 5): Promise<{ error: string; count: number }[]> {
  const rows = await em.execute<{ error: string; n: number }[]>(
    `select left(coalesce(error_message, '(no message)'), 160) as error, count(*)::int as n from assessment_results
      where status = 'failed' and created_at >= ? group by 1 order by 2 desc, 1 limit ?`,
    [since, limit],
  );
  return rows.map((r) => ({ error: r.error, count: Number(r.n) }));
}
