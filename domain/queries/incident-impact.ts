/**
 * What an incident cost the pipeline, in its own figures, over the incident window [from, to] (alerts/postmortem.ts).
 * Definitions (each from the tables the pipeline writes; statuses from db/entities/statuses.ts):
 * - businesses not processed: sourced by the end of the window and, at its end, still waiting before email
 *   (`new`, `assessment_pending`, `assessment_failed`, `scored`, `email_pending`) with no status change since
 *   before the end — they did not move during or since the window; `assessmentFailures` counts businesses whose
 *   assessment failed inside the window;
 * - progressed: businesses that completed a stage inside the window vs the same length of time just before it
 *   (domain/queries/businesses.ts `businessesProgressedSince`, the PipelineStalled definition);
 * - emails not sent: drafted by the end of the window, not `held`/`suppressed`/`unsubscribed`, and not sent by
 *   its end (`sent_at` empty or later); `emailFailures` ended `failed` inside the window;
 * - purchases affected: touched inside the window and failed, expired, left pending, or paid with the report not
 *   sent by the end of the window.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { businessesProgressedSince } from './businesses.js';

/** The figures (counts) and the window they cover. */
export interface IncidentImpact {
  from: Date;
  to: Date;
  businessesNotProcessed: number;
  assessmentFailures: number;
  progressedDuring: number;
  progressedBefore: number;
  emailsNotSent: number;
  emailFailures: number;
  purchasesAffected: number;
  /** Cents, of the purchases affected (their `total_cents`). */
  purchasesAffectedCents: number;
}

const WAITING = ['new', 'assessment_pending', 'assessment_failed', 'scored', 'email_pending'];

/** The impact over [from, to] (see the module comment for each definition). */
export async function incidentImpact(em: EntityManager, from: Date, to: Date): Promise<IncidentImpact> {
  const conn = em.getConnection();
  const [b] = await conn.execute<{ waiting: number; failed: number }[]>(
    `select count(*) filter (where status in (${WAITING.map(() => '?').join(',')}) and coalesce(status_changed_at, created_at) <= ?)::int as waiting,
            count(*) filter (where status = 'assessment_failed' and status_changed_at >= ? and status_changed_at <= ?)::int as failed
       from businesses where created_at <= ?`,
    [...WAITING, to, from, to, to],
  );
  const [e] = await conn.execute<{ unsent: number; failed: number }[]>(
    `select count(*) filter (where status not in ('held', 'suppressed', 'unsubscribed') and (sent_at is null or sent_at > ?))::int as unsent,
            count(*) filter (where status = 'failed' and updated_at >= ? and updated_at <= ?)::int as failed
       from emails where created_at <= ?`,
    [to, from, to, to],
  );
  const [p] = await conn.execute<{ n: number; cents: number }[]>(
    `select count(*)::int as n, coalesce(sum(total_cents), 0)::int as cents from purchases
      where created_at <= ? and updated_at >= ?
        and (status in ('failed', 'expired') or status = 'pending' or (status = 'paid' and (report_sent_at is null or report_sent_at > ?)))`,
    [to, from, to],
  );
  const span = to.getTime() - from.getTime();
  const [progressedDuring, progressedBefore] = await Promise.all([
    businessesProgressedSince(em, from, to),
    businessesProgressedSince(em, new Date(from.getTime() - span), from),
  ]);
  return {
    from,
    to,
    businessesNotProcessed: Number(b?.waiting ?? 0),
    assessmentFailures: Number(b?.failed ?? 0),
    progressedDuring,
    progressedBefore,
    emailsNotSent: Number(e?.unsent ?? 0),
    emailFailures: Number(e?.failed ?? 0),
    purchasesAffected: Number(p?.n ?? 0),
    purchasesAffectedCents: Number(p?.cents ?? 0),
  };
}
