/**
 * Retention of the delivery tables that grow with every event (run by the weekly maintenance job): rows whose work
 * is done and that are past their window are deleted. Pending work is never deleted (unprocessed webhook
 * deliveries, unsent Slack messages, unposted ops events), and neither are the tables that carry history operators
 * read (job_runs, incidents, alerts, audit_log) or the Slack message refs later edits point at (slack_messages).
 *
 * Windows (days): webhook deliveries 30 (Stripe retries for 3 days, SendGrid for 24 h, Alertmanager resends within
 * minutes — a resend after that is long gone), sent Slack outbox rows 30, posted ops events 120 (the quarterly
 * review reads the last quarter). Error records have their own retention (domain/error-log.ts).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { pruneProcessedWebhooks, prunePostedOpsEvents, pruneSentSlackOutbox } from '../queries/retention.js';

/** Days each table's finished rows are kept. */
export const RETENTION_DAYS = { webhookInbox: 30, slackOutbox: 30, opsEvents: 120 } as const;

/** Rows deleted per table. */
export interface RetentionResult {
  webhookInbox: number;
  slackOutbox: number;
  opsEvents: number;
}

const DAY = 86_400_000;

/** Deletes finished rows older than {@link RETENTION_DAYS} before `now`; returns how many per table. */
export async function pruneFinishedRows(em: EntityManager, now: Date, days: Partial<typeof RETENTION_DAYS> = {}): Promise<RetentionResult> {
  const d = { ...RETENTION_DAYS, ...days };
  const before = (n: number) => new Date(now.getTime() - n * DAY);
  return {
    webhookInbox: await pruneProcessedWebhooks(em, before(d.webhookInbox)),
    slackOutbox: await pruneSentSlackOutbox(em, before(d.slackOutbox)),
    opsEvents: await prunePostedOpsEvents(em, before(d.opsEvents)),
  };
}
