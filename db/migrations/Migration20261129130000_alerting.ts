import { Migration } from '@mikro-orm/migrations';

export class Migration20261129130000_alerting extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "alerts" ("id" serial primary key, "fingerprint" varchar(255) not null, "group_key" varchar(1024) not null, "source" varchar(255) not null, "name" varchar(255) not null, "severity" text check ("severity" in ('critical', 'warning', 'info')) not null, "status" text check ("status" in ('pending', 'firing', 'resolved')) not null, "labels" jsonb not null default '{}', "annotations" jsonb not null default '{}', "runbook" varchar(255) null, "pending_since" timestamptz null, "starts_at" timestamptz null, "ends_at" timestamptz null, "last_evaluated_at" timestamptz null, "flap_count" int not null default 0, "diagnosis" jsonb null, "incident_id" int null, "message_ref" varchar(1100) null, "updated_at" timestamptz not null);`);
    this.addSql(`alter table "alerts" add constraint "alerts_fingerprint_unique" unique ("fingerprint");`);
    this.addSql(`create index "alerts_group_key_index" on "alerts" ("group_key");`);
    this.addSql(`create index "alerts_name_index" on "alerts" ("name");`);
    this.addSql(`create index "alerts_status_index" on "alerts" ("status");`);

    this.addSql(`create table "incidents" ("id" serial primary key, "title" varchar(255) not null, "severity" text check ("severity" in ('SEV1', 'SEV2', 'SEV3', 'SEV4')) not null, "status" text check ("status" in ('open', 'acknowledged', 'resolved')) not null default 'open', "level" int not null default 1, "provider" varchar(255) null, "runbook" varchar(255) null, "alert_fingerprint" varchar(255) null, "declared_by" varchar(255) not null, "declared_at" timestamptz not null, "ack_deadline" timestamptz null, "acknowledged_by" varchar(255) null, "acknowledged_at" timestamptz null, "resolved_by" varchar(255) null, "resolved_at" timestamptz null, "updated_at" timestamptz not null);`);
    this.addSql(`create index "incidents_status_index" on "incidents" ("status");`);
    this.addSql(`create index "incidents_alert_fingerprint_index" on "incidents" ("alert_fingerprint");`);
    this.addSql(`create index "incidents_ack_deadline_index" on "incidents" ("ack_deadline");`);

    this.addSql(`create table "incident_events" ("id" serial primary key, "incident_id" int not null, "at" timestamptz not null, "kind" varchar(255) not null, "actor" varchar(255) not null, "detail" text not null, "data" jsonb not null default '{}');`);
    this.addSql(`create index "incident_events_incident_id_index" on "incident_events" ("incident_id");`);

    this.addSql(`create table "silences" ("id" serial primary key, "matchers" jsonb not null, "created_by" varchar(255) not null, "comment" text null, "starts_at" timestamptz not null, "ends_at" timestamptz not null);`);
    this.addSql(`create index "silences_ends_at_index" on "silences" ("ends_at");`);

    this.addSql(`create table "slack_messages" ("ref" varchar(255) not null, "channel" varchar(255) not null, "ts" varchar(255) not null, "posted_at" timestamptz not null, constraint "slack_messages_pkey" primary key ("ref"));`);

    this.addSql(`create table "slack_outbox" ("id" serial primary key, "dedup_key" varchar(512) not null, "kind" text check ("kind" in ('post', 'update', 'reply', 'dm')) not null, "channel" varchar(255) not null, "ref" varchar(255) null, "text" text not null, "blocks" jsonb null, "created_at" timestamptz not null, "not_before" timestamptz null, "claimed_until" timestamptz null, "sent_at" timestamptz null, "attempts" int not null default 0, "last_error" text null);`);
    this.addSql(`alter table "slack_outbox" add constraint "slack_outbox_dedup_key_unique" unique ("dedup_key");`);
    this.addSql(`create index "slack_outbox_channel_index" on "slack_outbox" ("channel");`);
    this.addSql(`create index "slack_outbox_sent_at_index" on "slack_outbox" ("sent_at");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "alerts" cascade;`);

    this.addSql(`drop table if exists "incidents" cascade;`);

    this.addSql(`drop table if exists "incident_events" cascade;`);

    this.addSql(`drop table if exists "silences" cascade;`);

    this.addSql(`drop table if exists "slack_messages" cascade;`);

    this.addSql(`drop table if exists "slack_outbox" cascade;`);
  }

}
