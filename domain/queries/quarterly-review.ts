/**
 * The quarterly review's figures over `incidents` and `alerts` (jobs/review-quarterly.ts): incident counts and
 * time-to-acknowledge per severity, alerts fired per rule, in a window [from, to).
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** Incidents of one severity declared in the window; seconds are declared → acknowledged of the acknowledged ones. */
export interface IncidentAckStats {
  severity: string;
  count: number;
  acknowledged: number;
  /** Mean seconds to acknowledge, null when none was acknowledged. */
  mttaSeconds: number | null;
  /** Sum of the seconds to acknowledge (0 when none was acknowledged). */
  sumAckSeconds: number;
}

/** {@link IncidentAckStats} per severity of the incidents declared in [`from`, `to`), ordered by severity. */
export async function incidentAckStatsBySeverity(em: EntityManager, from: Date, to: Date): Promise<IncidentAckStats[]> {
  const rows = await em.execute<{ severity: string; n: number; acked: number; mtta_s: number | null; sum_s: number | null }[]>(
    `select severity, count(*)::int as n, count(acknowledged_at)::int as acked,
            avg(extract(epoch from (acknowledged_at - declared_at)))::float8 as mtta_s,
            sum(extract(epoch from (acknowledged_at - declared_at)))::float8 as sum_s
       from incidents where declared_at >= ? and declared_at < ? group by severity order by severity`,
    [from, to],
  );
  return rows.map((r) => ({
    severity: r.severity,
    count: Number(r.n ?? 0),
    acknowledged: Number(r.acked ?? 0),
    mttaSeconds: r.mtta_s === null ? null : Number(r.mtta_s),
    sumAckSeconds: Number(r.sum_s ?? 0),
  }));
}

/** Alerts that started firing in [`from`, `to`), per rule name, most frequent first. */
export async function alertsFiredByName(em: EntityManager, from: Date, to: Date): Promise<Record<string, number>> {
  const rows = await em.execute<{ name: string; n: number }[]>(
    `select name, count(*)::int as n from alerts where starts_at >= ? and starts_at < ? group by name order by 2 desc, 1`,
    [from, to],
  );
  return Object.fromEntries(rows.map((r) => [r.name, Number(r.n ?? 0)]));
}
