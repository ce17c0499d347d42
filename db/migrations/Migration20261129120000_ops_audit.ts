import { Migration } from '@mikro-orm/migrations';

export class Migration20261129120000_ops_audit extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "audit_log" ("id" serial primary key, "at" timestamptz not null, "actor" varchar(255) not null, "actor_role" varchar(255) null, "source" varchar(255) not null, "action" varchar(255) not null, "input" jsonb not null default '{}', "outcome" text check ("outcome" in ('succeeded', 'failed', 'refused', 'duplicate')) not null, "detail" text null);`);
    this.addSql(`create index "audit_log_at_index" on "audit_log" ("at");`);
    this.addSql(`create index "audit_log_actor_index" on "audit_log" ("actor");`);
    this.addSql(`create index "audit_log_action_index" on "audit_log" ("action");`);

    this.addSql(`create table "error_records" ("id" serial primary key, "at" timestamptz not null, "level" varchar(255) not null, "component" varchar(255) null, "msg" text not null, "code" varchar(255) null, "context" jsonb not null default '{}');`);
    this.addSql(`create index "error_records_at_index" on "error_records" ("at");`);

    this.addSql(`create table "remediation_claims" ("id" serial primary key, "claim_key" varchar(512) not null, "runbook" varchar(255) not null, "remediation" varchar(255) not null, "input" jsonb not null default '{}', "claimed_by" varchar(255) not null, "claimed_at" timestamptz not null, "status" text check ("status" in ('running', 'succeeded', 'failed')) not null default 'running', "finished_at" timestamptz null, "summary" text null);`);
    this.addSql(`alter table "remediation_claims" add constraint "remediation_claims_claim_key_unique" unique ("claim_key");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "audit_log" cascade;`);

    this.addSql(`drop table if exists "error_records" cascade;`);

    this.addSql(`drop table if exists "remediation_claims" cascade;`);
  }

}
