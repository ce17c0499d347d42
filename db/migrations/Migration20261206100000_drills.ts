import { Migration } from '@mikro-orm/migrations';

/**
 * Drills from chat (issue #19 point 4): `drills.status` gains `aborted` (the service stopped mid-drill; the fault was
 * cleared at start-up), `sandbox_url` (the sandbox the fault was injected into, so it is cleared there) and `owner`
 * (the keeper measuring it: a lease held by another owner that ran out means that process died), `detected_by` (what
 * detected the fault first: `breaker` or the alert's name), and at most one
 * drill is running or recovering at a time (`drills_one_active`).
 */
export class Migration20261206100000_drills extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "drills" drop constraint if exists "drills_status_check";`);
    this.addSql(`alter table "drills" add constraint "drills_status_check" check ("status" in ('running', 'recovering', 'done', 'failed', 'aborted'));`);
    this.addSql(`alter table "drills" add column "sandbox_url" varchar(255) null, add column "owner" varchar(255) null, add column "detected_by" varchar(255) null;`);
    this.addSql(`create unique index "drills_one_active" on "drills" ((true)) where "status" in ('running', 'recovering');`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists "drills_one_active";`);
    this.addSql(`update "drills" set "status" = 'failed' where "status" = 'aborted';`);
    this.addSql(`alter table "drills" drop column "sandbox_url", drop column "owner", drop column "detected_by";`);
    this.addSql(`alter table "drills" drop constraint if exists "drills_status_check";`);
    this.addSql(`alter table "drills" add constraint "drills_status_check" check ("status" in ('running', 'recovering', 'done', 'failed'));`);
  }
}
