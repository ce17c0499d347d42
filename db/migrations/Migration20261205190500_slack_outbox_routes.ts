import { Migration } from '@mikro-orm/migrations';

/**
 * `slack_outbox`: `route` (what kind of post: status, alerts, incidents, pages, recoveries, answers — the channel
 * was chosen from it), `thread_ts` (a thread parent we did not post ourselves, e.g. the question an assistant
 * answer replies to) and `body` (the structured message the composition root's renderer turns into Block Kit); kind
 * `file` (an upload, e.g. a slash command's overflow text).
 */
export class Migration20261205190500_slack_outbox_routes extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "slack_outbox" add column "route" varchar(32) null, add column "thread_ts" varchar(64) null, add column "body" jsonb null;`);
    this.addSql(`alter table "slack_outbox" drop constraint if exists "slack_outbox_kind_check";`);
    this.addSql(`alter table "slack_outbox" add constraint "slack_outbox_kind_check" check ("kind" in ('post', 'update', 'reply', 'dm', 'file'));`);
  }

  override async down(): Promise<void> {
    this.addSql(`delete from "slack_outbox" where "kind" = 'file';`);
    this.addSql(`alter table "slack_outbox" drop constraint if exists "slack_outbox_kind_check";`);
    this.addSql(`alter table "slack_outbox" add constraint "slack_outbox_kind_check" check ("kind" in ('post', 'update', 'reply', 'dm'));`);
    this.addSql(`alter table "slack_outbox" drop column "route", drop column "thread_ts", drop column "body";`);
  }
}
