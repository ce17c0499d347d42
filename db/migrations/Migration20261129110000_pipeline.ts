import { Migration } from '@mikro-orm/migrations';

export class Migration20261129110000_pipeline extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "email_events" ("id" serial primary key, "dedup_key" varchar(512) not null, "sg_event_id" varchar(255) null, "sg_message_id" varchar(255) null, "email_id" int null, "event" varchar(255) not null, "reason" text null, "occurred_at" timestamptz not null, "received_at" timestamptz not null, "payload" jsonb not null);`);
    this.addSql(`alter table "email_events" add constraint "email_events_dedup_key_unique" unique ("dedup_key");`);
    this.addSql(`create index "email_events_sg_message_id_index" on "email_events" ("sg_message_id");`);
    this.addSql(`create index "email_events_email_id_index" on "email_events" ("email_id");`);
    this.addSql(`create index "email_events_occurred_at_index" on "email_events" ("occurred_at");`);

    this.addSql(`create table "email_suppressions" ("email_hash" varchar(64) not null, "reason" varchar(255) not null, "source" varchar(255) not null, "created_at" timestamptz not null, constraint "email_suppressions_pkey" primary key ("email_hash"));`);

    this.addSql(`create table "purchases" ("id" serial primary key, "business_id" int null, "product" varchar(255) not null default 'audit_report', "customer_email" varchar(255) null, "amount_cents" int not null, "tax_cents" int not null default 0, "total_cents" int not null, "currency" varchar(3) not null default 'usd', "status" text check ("status" in ('pending', 'paid', 'failed', 'refunded', 'expired')) not null default 'pending', "stripe_session_id" varchar(255) null, "stripe_payment_intent_id" varchar(255) null, "last_event_created" int null, "report_sent_at" timestamptz null, "failure_reason" text null, "created_at" timestamptz not null, "updated_at" timestamptz not null);`);
    this.addSql(`create index "purchases_status_index" on "purchases" ("status");`);
    this.addSql(`alter table "purchases" add constraint "purchases_stripe_session_id_unique" unique ("stripe_session_id");`);
    this.addSql(`create index "purchases_stripe_payment_intent_id_index" on "purchases" ("stripe_payment_intent_id");`);

    this.addSql(`create table "webhook_inbox" ("provider" varchar(255) not null, "event_id" varchar(255) not null, "type" varchar(255) not null, "event_created" int null, "payload" jsonb not null, "received_at" timestamptz not null, "processed_at" timestamptz null, "error" text null, constraint "webhook_inbox_pkey" primary key ("provider", "event_id"));`);
    this.addSql(`create index "webhook_inbox_received_at_index" on "webhook_inbox" ("received_at");`);

    this.addSql(`alter table "purchases" add constraint "purchases_business_id_foreign" foreign key ("business_id") references "businesses" ("id") on update cascade on delete set null;`);

    this.addSql(`alter table "emails" drop constraint if exists "emails_status_check";`);

    this.addSql(`alter table "businesses" add column "tier" varchar(1) null, add column "score_breakdown" jsonb null, add column "website_domain" varchar(255) null, add column "phone_normalized" varchar(255) null, add column "email" varchar(255) null, add column "assessment_attempts" int not null default 0, add column "status_changed_at" timestamptz null, add column "claimed_until" timestamptz null;`);
    this.addSql(`create index "businesses_website_domain_index" on "businesses" ("website_domain");`);
    this.addSql(`create index "businesses_phone_normalized_index" on "businesses" ("phone_normalized");`);

    this.addSql(`alter table "emails" add column "spam_reasons" jsonb not null default '[]', add column "claimed_at" timestamptz null, add column "delivered_at" timestamptz null, add column "bounced_at" timestamptz null, add column "bounce_reason" text null, add column "last_event_at" timestamptz null;`);
    this.addSql(`alter table "emails" add constraint "emails_status_check" check("status" in ('pending', 'held', 'sending', 'sent', 'delivered', 'bounced', 'dropped', 'deferred', 'spam_reported', 'unsubscribed', 'failed', 'suppressed'));`);

    this.addSql(`alter table "assessment_results" add column "opportunities" jsonb not null default '[]', add column "recommendations" jsonb not null default '[]', add column "assessors" jsonb not null default '{}', add column "duration_ms" int null;`);
    this.addSql(`create index "assessment_results_business_id_index" on "assessment_results" ("business_id");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "email_events" cascade;`);

    this.addSql(`drop table if exists "email_suppressions" cascade;`);

    this.addSql(`drop table if exists "purchases" cascade;`);

    this.addSql(`drop table if exists "webhook_inbox" cascade;`);

    this.addSql(`alter table "emails" drop constraint if exists "emails_status_check";`);

    this.addSql(`drop index "assessment_results_business_id_index";`);
    this.addSql(`alter table "assessment_results" drop column "opportunities", drop column "recommendations", drop column "assessors", drop column "duration_ms";`);

    this.addSql(`drop index "businesses_website_domain_index";`);
    this.addSql(`drop index "businesses_phone_normalized_index";`);
    this.addSql(`alter table "businesses" drop column "tier", drop column "score_breakdown", drop column "website_domain", drop column "phone_normalized", drop column "email", drop column "assessment_attempts", drop column "status_changed_at", drop column "claimed_until";`);

    this.addSql(`alter table "emails" drop column "spam_reasons", drop column "claimed_at", drop column "delivered_at", drop column "bounced_at", drop column "bounce_reason", drop column "last_event_at";`);

    this.addSql(`alter table "emails" add constraint "emails_status_check" check("status" in ('pending', 'held', 'sent', 'delivered', 'bounced', 'dropped', 'deferred', 'spam_reported', 'unsubscribed', 'failed'));`);
  }

}
