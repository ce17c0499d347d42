/**
 * Retention deletes of the delivery tables that grow with every event (domain/ops/retention.ts): only rows whose
 * work is done (processed, sent, posted) and older than the caller's cut-off. Each returns how many rows it deleted.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** Runs `delete … where … < ?` with `before` on the connection and counts the deleted rows in the same statement. */
async function deleteCounted(em: EntityManager, del: string, before: Date): Promise<number> {
  const [row] = await em.getConnection().execute<{ n: string }[]>(`with gone as (${del} returning 1) select count(*) as n from gone`, [before]);
  return Number(row?.n ?? '0');
}

/** Deletes processed `webhook_inbox` rows with `processed_at` before `before`; returns how many. */
export async function pruneProcessedWebhooks(em: EntityManager, before: Date): Promise<number> {
  return deleteCounted(em, 'delete from webhook_inbox where processed_at is not null and processed_at < ?', before);
}

/** Deletes sent `slack_outbox` rows with `sent_at` before `before`; returns how many. */
export async function pruneSentSlackOutbox(em: EntityManager, before: Date): Promise<number> {
  return deleteCounted(em, 'delete from slack_outbox where sent_at is not null and sent_at < ?', before);
}

/** Deletes posted `ops_events` rows with `posted_at` before `before`; returns how many. */
export async function prunePostedOpsEvents(em: EntityManager, before: Date): Promise<number> {
  return deleteCounted(em, 'delete from ops_events where posted_at is not null and posted_at < ?', before);
}
