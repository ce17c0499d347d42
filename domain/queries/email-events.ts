/**
 * Named queries over SendGrid's event webhook rows (`email_events`, one row per delivered/bounced/opened… event,
 * matched to our email by `email_id`) joined with `emails`.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** A `sent` email SendGrid has told us nothing about. `sentAt` is an instant. */
export interface SilentSentEmail {
  id: number;
  sentAt: Date;
}

/** `sent` emails sent before `before` with no `email_events` row at all, oldest first (reconciliation). */
export async function sentEmailsWithoutEvents(em: EntityManager, before: Date): Promise<SilentSentEmail[]> {
  const rows = await em.execute<{ id: number; sent_at: Date | string }[]>(
    `select e.id, e.sent_at from emails e
      where e.status = 'sent' and e.sent_at < ?
        and not exists (select 1 from email_events ev where ev.email_id = e.id)
      order by e.sent_at, e.id`,
    [before],
  );
  return rows.map((r) => ({ id: Number(r.id), sentAt: new Date(r.sent_at) }));
}
