import { Migration } from '@mikro-orm/migrations';

export class Migration20261129100000_gateway extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "api_calls" ("id" serial primary key, "provider" varchar(255) not null, "operation" varchar(255) not null, "outcome" varchar(255) not null, "http_status" int null, "attempts" int not null default 1, "latency_ms" int not null, "cost_usd" numeric(14,6) not null default 0, "cache_hit" boolean not null default false, "prompt_tokens" int null, "completion_tokens" int null, "error" text null, "created_at" timestamptz not null);`);
    this.addSql(`create index "api_calls_provider_created_at_index" on "api_calls" ("provider", "created_at");`);

    this.addSql(`create table "provider_cache" ("key" varchar(64) not null, "provider" varchar(255) not null, "operation" varchar(255) not null, "value" jsonb not null, "created_at" timestamptz not null, "expires_at" timestamptz not null, constraint "provider_cache_pkey" primary key ("key"));`);
    this.addSql(`create index "provider_cache_expires_at_index" on "provider_cache" ("expires_at");`);

    this.addSql(`create table "provider_quota_usage" ("provider" varchar(255) not null, "day" date not null, "used" int not null default 0, "exhausted" boolean not null default false, constraint "provider_quota_usage_pkey" primary key ("provider", "day"));`);

    this.addSql(`create table "rate_limit_state" ("provider" varchar(255) not null, "bucket" varchar(255) not null, "tat" timestamptz not null, constraint "rate_limit_state_pkey" primary key ("provider", "bucket"));`);

    this.addSql(`create table "settings" ("key" varchar(255) not null, "value" jsonb not null, "updated_at" timestamptz not null, "updated_by" varchar(255) not null, constraint "settings_pkey" primary key ("key"));`);

    this.addSql(`alter table "provider_state" add column "generation" int not null default 0, add column "probe_until" timestamptz null, add column "half_open_successes" int not null default 0, add column "blocked_until" timestamptz null, add column "last_transition_at" timestamptz null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "api_calls" cascade;`);

    this.addSql(`drop table if exists "provider_cache" cascade;`);

    this.addSql(`drop table if exists "provider_quota_usage" cascade;`);

    this.addSql(`drop table if exists "rate_limit_state" cascade;`);

    this.addSql(`drop table if exists "settings" cascade;`);

    this.addSql(`alter table "provider_state" drop column "generation", drop column "probe_until", drop column "half_open_successes", drop column "blocked_until", drop column "last_transition_at";`);
  }

}
