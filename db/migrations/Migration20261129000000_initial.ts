import { Migration } from '@mikro-orm/migrations';

export class Migration20261129000000_initial extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "job_runs" ("id" serial primary key, "job" varchar(255) not null, "status" text check ("status" in ('running', 'succeeded', 'failed', 'stalled', 'interrupted')) not null default 'running', "trigger" varchar(255) not null default 'schedule', "started_at" timestamptz not null, "heartbeat_at" timestamptz not null, "finished_at" timestamptz null, "counts" jsonb not null default '{}', "error" text null);`);
    this.addSql(`create index "job_runs_job_index" on "job_runs" ("job");`);
    this.addSql(`create index "job_runs_started_at_index" on "job_runs" ("started_at");`);
    this.addSql(`create unique index "job_runs_one_running_per_job" on "job_runs" ("job") where "status" = 'running';`);

    this.addSql(`create table "ops_events" ("id" serial primary key, "type" varchar(255) not null, "severity" text check ("severity" in ('info', 'warning', 'critical')) not null default 'info', "payload" jsonb not null default '{}', "dedup_key" varchar(255) not null, "created_at" timestamptz not null, "posted_at" timestamptz null, "claimed_until" timestamptz null, "attempts" int not null default 0, "last_error" text null);`);
    this.addSql(`create index "ops_events_type_index" on "ops_events" ("type");`);
    this.addSql(`alter table "ops_events" add constraint "ops_events_dedup_key_unique" unique ("dedup_key");`);
    this.addSql(`create index "ops_events_posted_at_index" on "ops_events" ("posted_at");`);

    this.addSql(`create table "provider_state" ("provider" varchar(255) not null, "breaker_state" text check ("breaker_state" in ('closed', 'open', 'half_open')) not null default 'closed', "consecutive_failures" int not null default 0, "opened_at" timestamptz null, "last_error" text null, "last_error_at" timestamptz null, "last_success_at" timestamptz null, "updated_at" timestamptz not null, constraint "provider_state_pkey" primary key ("provider"));`);

    this.addSql(`create table "targets" ("id" serial primary key, "location" varchar(255) not null, "category" varchar(255) not null, "daily_quota" int not null default 50, "priority" int not null default 0, "active" boolean not null default true, "created_at" timestamptz not null, "updated_at" timestamptz not null);`);
    this.addSql(`alter table "targets" add constraint "targets_location_category_unique" unique ("location", "category");`);

    this.addSql(`create table "businesses" ("id" serial primary key, "yelp_id" varchar(255) not null, "name" varchar(255) not null, "website" varchar(2048) null, "phone" varchar(255) null, "address" varchar(512) null, "city" varchar(255) null, "categories" jsonb not null default '[]', "rating" real null, "review_count" int null, "status" text check ("status" in ('new', 'assessment_pending', 'assessed', 'assessment_failed', 'scored', 'email_pending', 'emailed', 'suppressed', 'skipped')) not null default 'new', "score" int null, "target_id" int null, "created_at" timestamptz not null, "updated_at" timestamptz not null);`);
    this.addSql(`alter table "businesses" add constraint "businesses_yelp_id_unique" unique ("yelp_id");`);
    this.addSql(`create index "businesses_status_index" on "businesses" ("status");`);
    this.addSql(`create index "businesses_score_index" on "businesses" ("score");`);

    this.addSql(`create table "emails" ("id" serial primary key, "business_id" int not null, "campaign" varchar(255) not null, "to_address" varchar(255) not null, "subject" varchar(500) not null, "body" text not null, "spam_score" int not null, "status" text check ("status" in ('pending', 'held', 'sent', 'delivered', 'bounced', 'dropped', 'deferred', 'spam_reported', 'unsubscribed', 'failed')) not null default 'pending', "provider_message_id" varchar(255) null, "error_message" text null, "sent_at" timestamptz null, "created_at" timestamptz not null, "updated_at" timestamptz not null);`);
    this.addSql(`create index "emails_status_index" on "emails" ("status");`);
    this.addSql(`create index "emails_provider_message_id_index" on "emails" ("provider_message_id");`);
    this.addSql(`alter table "emails" add constraint "emails_business_id_campaign_unique" unique ("business_id", "campaign");`);

    this.addSql(`create table "assessment_results" ("id" serial primary key, "business_id" int not null, "status" text check ("status" in ('completed', 'partial', 'failed')) not null, "url" varchar(2048) not null, "performance_score" int null, "accessibility_score" int null, "best_practices_score" int null, "seo_score" int null, "metrics" jsonb not null default '{}', "insight" text null, "error_message" text null, "created_at" timestamptz not null);`);
    this.addSql(`create index "assessment_results_created_at_index" on "assessment_results" ("created_at");`);

    this.addSql(`alter table "businesses" add constraint "businesses_target_id_foreign" foreign key ("target_id") references "targets" ("id") on update cascade on delete set null;`);

    this.addSql(`alter table "emails" add constraint "emails_business_id_foreign" foreign key ("business_id") references "businesses" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "assessment_results" add constraint "assessment_results_business_id_foreign" foreign key ("business_id") references "businesses" ("id") on update cascade on delete cascade;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "businesses" drop constraint "businesses_target_id_foreign";`);

    this.addSql(`alter table "emails" drop constraint "emails_business_id_foreign";`);

    this.addSql(`alter table "assessment_results" drop constraint "assessment_results_business_id_foreign";`);

    this.addSql(`drop table if exists "job_runs" cascade;`);

    this.addSql(`drop table if exists "ops_events" cascade;`);

    this.addSql(`drop table if exists "provider_state" cascade;`);

    this.addSql(`drop table if exists "targets" cascade;`);

    this.addSql(`drop table if exists "businesses" cascade;`);

    this.addSql(`drop table if exists "emails" cascade;`);

    this.addSql(`drop table if exists "assessment_results" cascade;`);
  }

}
