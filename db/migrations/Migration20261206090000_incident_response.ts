import { Migration } from '@mikro-orm/migrations';

/** Incident response (issue #19): incident channels, roles, postmortem drafts, drills. */
export class Migration20261206090000_incident_response extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "drills" ("id" serial primary key, "provider" varchar(255) not null, "fault" varchar(255) not null, "duration_ms" int not null, "started_by" varchar(255) not null, "started_at" timestamptz not null, "ends_at" timestamptz not null, "status" text check ("status" in ('running', 'recovering', 'done', 'failed')) not null default 'running', "detected_at" timestamptz null, "alert_fingerprint" varchar(255) null, "alert_name" varchar(255) null, "diagnosed_at" timestamptz null, "root_cause" text null, "fault_cleared_at" timestamptz null, "recovered_at" timestamptz null, "incident_id" int null, "last_error" text null, "lease_until" timestamptz null, "finished_at" timestamptz null);`);
    this.addSql(`create index "drills_status_index" on "drills" ("status");`);
    this.addSql(`create index "drills_incident_id_index" on "drills" ("incident_id");`);

    this.addSql(`create table "incident_postmortems" ("id" serial primary key, "incident_id" int not null, "markdown" text not null, "filename" varchar(255) not null, "created_by" varchar(255) not null, "created_at" timestamptz not null, "channel_id" varchar(255) null, "uploaded_at" timestamptz null, "attempts" int not null default 0, "last_error" text null, "lease_until" timestamptz null);`);
    this.addSql(`create index "incident_postmortems_incident_id_index" on "incident_postmortems" ("incident_id");`);

    this.addSql(`create table "incident_roles" ("id" serial primary key, "incident_id" int not null, "role" text check ("role" in ('commander', 'communications')) not null, "user_id" varchar(255) not null, "assigned_by" varchar(255) not null, "assigned_at" timestamptz not null);`);
    this.addSql(`alter table "incident_roles" add constraint "incident_roles_incident_id_role_unique" unique ("incident_id", "role");`);

    this.addSql(`create table "incident_rooms" ("incident_id" int not null, "status" text check ("status" in ('creating', 'open', 'closed', 'failed')) not null default 'creating', "channel_id" varchar(255) null, "name" varchar(255) null, "invited" jsonb not null default '[]', "posted" jsonb not null default '[]', "attempts" int not null default 0, "last_error" text null, "lease_until" timestamptz null, "not_before" timestamptz null, "created_at" timestamptz not null, "opened_at" timestamptz null, constraint "incident_rooms_pkey" primary key ("incident_id"));`);
    this.addSql(`create index "incident_rooms_status_index" on "incident_rooms" ("status");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "drills" cascade;`);

    this.addSql(`drop table if exists "incident_postmortems" cascade;`);

    this.addSql(`drop table if exists "incident_roles" cascade;`);

    this.addSql(`drop table if exists "incident_rooms" cascade;`);
  }

}
