import { Migration } from '@mikro-orm/migrations';

/**
 * Issue #14 points 5 and 6. `emails`: send attempts, the next retry time and the last failure's class
 * (domain/delivery/send-failures.ts), with a partial index for the email batch's scan of due retries.
 * `provider_state.recovery_pending`: an operator reset closed the breaker; the recovery is confirmed (and posted)
 * only by the next successful provider call.
 */
export class Migration20261205190000_send_retries extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "emails" add column "send_attempts" int not null default 0, add column "next_attempt_at" timestamptz null, add column "last_error_class" varchar(255) null;`);
    this.addSql(`create index "emails_retry_due_index" on "emails" ("next_attempt_at") where "status" = 'failed';`);
    this.addSql(`alter table "provider_state" add column "recovery_pending" boolean not null default false;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists "emails_retry_due_index";`);
    this.addSql(`alter table "emails" drop column "send_attempts", drop column "next_attempt_at", drop column "last_error_class";`);
    this.addSql(`alter table "provider_state" drop column "recovery_pending";`);
  }
}
