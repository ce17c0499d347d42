import { Migration } from '@mikro-orm/migrations';

/**
 * The Slack outbox cannot jam (issue 13): a permanently refused message is degraded once (`degraded_at`) and else
 * dead-lettered (`dead_at`, with `last_error`), so its channel moves on; a message that keeps failing with a
 * retryable error is taken out of its channel's line (`detached`) after a short while, so later messages do not
 * wait behind it; `first_failed_at` says when its failures began. `origin` records where a row came from
 * (`spool` for posts that went straight to Slack while the database was unreachable and were written back).
 */
export class Migration20261205120000_slack_outbox_deadletter extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "slack_outbox" add column "dead_at" timestamptz null, add column "degraded_at" timestamptz null, add column "detached" boolean not null default false, add column "first_failed_at" timestamptz null, add column "origin" varchar(32) null;`);
    this.addSql(`create index "slack_outbox_dead_at_index" on "slack_outbox" ("dead_at");`);
    this.addSql(`create index "slack_outbox_unsent_index" on "slack_outbox" ("channel", "id") where sent_at is null and dead_at is null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists "slack_outbox_unsent_index";`);
    this.addSql(`drop index if exists "slack_outbox_dead_at_index";`);
    this.addSql(`alter table "slack_outbox" drop column "dead_at", drop column "degraded_at", drop column "detached", drop column "first_failed_at", drop column "origin";`);
  }
}
