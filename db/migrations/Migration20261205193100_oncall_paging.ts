import { Migration } from '@mikro-orm/migrations';

/**
 * On-call schedules (`oncall_rotations`, `oncall_overrides`, `oncall_contacts`) and the paging outbox
 * (`page_deliveries`: pages, acknowledgements and resolutions for email, PagerDuty and Opsgenie).
 */
export class Migration20261205193100_oncall_paging extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "oncall_contacts" ("user_id" varchar(255) not null, "email" varchar(255) not null, "updated_by" varchar(255) not null, "updated_at" timestamptz not null, constraint "oncall_contacts_pkey" primary key ("user_id"));`,
    );
    this.addSql(
      `create table "oncall_overrides" ("id" serial primary key, "layer" text check ("layer" in ('primary', 'secondary')) not null, "user_id" varchar(255) not null, "starts_at" timestamptz not null, "ends_at" timestamptz not null, "reason" text null, "created_by" varchar(255) not null, "created_at" timestamptz not null, "cancelled_at" timestamptz null, "cancelled_by" varchar(255) null);`,
    );
    this.addSql(`create index "oncall_overrides_starts_at_index" on "oncall_overrides" ("starts_at");`);
    this.addSql(`create index "oncall_overrides_ends_at_index" on "oncall_overrides" ("ends_at");`);
    this.addSql(
      `create table "oncall_rotations" ("id" serial primary key, "name" varchar(255) not null, "layer" text check ("layer" in ('primary', 'secondary')) not null, "handoff" text check ("handoff" in ('daily', 'weekly')) not null, "time_zone" varchar(255) not null, "members" jsonb not null, "starts_at" timestamptz not null, "created_by" varchar(255) not null, "created_at" timestamptz not null, "ended_at" timestamptz null, "ended_by" varchar(255) null);`,
    );
    this.addSql(`alter table "oncall_rotations" add constraint "oncall_rotations_name_unique" unique ("name");`);
    this.addSql(
      `create table "page_deliveries" ("id" serial primary key, "dedup_key" varchar(512) not null, "incident_id" int not null, "channel" text check ("channel" in ('email', 'pagerduty', 'opsgenie')) not null, "action" text check ("action" in ('trigger', 'acknowledge', 'resolve')) not null, "lane" varchar(512) not null, "target" varchar(255) null, "payload" jsonb not null default '{}', "created_at" timestamptz not null, "attempts" int not null default 0, "next_attempt_at" timestamptz not null, "lease_until" timestamptz null, "sent_at" timestamptz null, "dead_at" timestamptz null, "last_error" text null, "response" jsonb null);`,
    );
    this.addSql(`alter table "page_deliveries" add constraint "page_deliveries_dedup_key_unique" unique ("dedup_key");`);
    this.addSql(`create index "page_deliveries_incident_id_index" on "page_deliveries" ("incident_id");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "page_deliveries" cascade;`);
    this.addSql(`drop table if exists "oncall_rotations" cascade;`);
    this.addSql(`drop table if exists "oncall_overrides" cascade;`);
    this.addSql(`drop table if exists "oncall_contacts" cascade;`);
  }
}
