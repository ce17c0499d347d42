import { Migration } from '@mikro-orm/migrations';

/**
 * Poison-proof intake: `dead_letters` (db/entities/dead-letter.entity.ts), and `raw_json` on `email_events` and
 * `webhook_inbox` (the event as received, kept when its stored copy had to be made storable).
 */
export class Migration20261205111000_dead_letters extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "dead_letters" ("id" serial primary key, "source" varchar(32) not null, "dedup_key" varchar(512) not null, "event_type" varchar(255) null, "reason" text not null, "payload" jsonb null, "raw" text not null, "status" text check ("status" in ('open', 'replayed', 'discarded')) not null default 'open', "attempts" int not null default 1, "received_at" timestamptz not null, "last_seen_at" timestamptz not null, "replayed_at" timestamptz null, "replayed_by" varchar(255) null, "replay_detail" text null);`);
    this.addSql(`create index "dead_letters_status_index" on "dead_letters" ("status");`);
    this.addSql(`create index "dead_letters_received_at_index" on "dead_letters" ("received_at");`);
    this.addSql(`alter table "dead_letters" add constraint "dead_letters_source_dedup_key_unique" unique ("source", "dedup_key");`);
    this.addSql(`alter table "email_events" add column "raw_json" text null;`);
    this.addSql(`alter table "webhook_inbox" add column "raw_json" text null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "dead_letters" cascade;`);
    this.addSql(`alter table "email_events" drop column "raw_json";`);
    this.addSql(`alter table "webhook_inbox" drop column "raw_json";`);
  }

}
