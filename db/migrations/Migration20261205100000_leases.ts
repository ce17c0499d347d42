import { Migration } from '@mikro-orm/migrations';

/**
 * Leases (issue #13): every job run and every claimed item carries its holder and when its lease runs out; the
 * holder renews it, the scheduler leader's reaper returns what an expired lease left (domain/leases.ts).
 */
export class Migration20261205100000_leases extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "job_runs" add column "lease_holder" varchar(255) null, add column "lease_expires_at" timestamptz null;`);
    this.addSql(`alter table "emails" add column "lease_holder" varchar(255) null, add column "lease_expires_at" timestamptz null;`);
    this.addSql(`alter table "businesses" add column "claim_holder" varchar(255) null;`);
    this.addSql(`create index "emails_sending_lease_index" on "emails" ("lease_expires_at") where "status" = 'sending';`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists "emails_sending_lease_index";`);
    this.addSql(`alter table "businesses" drop column "claim_holder";`);
    this.addSql(`alter table "emails" drop column "lease_holder", drop column "lease_expires_at";`);
    this.addSql(`alter table "job_runs" drop column "lease_holder", drop column "lease_expires_at";`);
  }

}
