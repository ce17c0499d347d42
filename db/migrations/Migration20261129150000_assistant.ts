import { Migration } from '@mikro-orm/migrations';

/** The ops assistant's answers and their feedback (db/entities/assistant.entity.ts). */
export class Migration20261129150000_assistant extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "assistant_answers" ("id" serial primary key, "event_id" varchar(255) null, "asked_at" timestamptz not null, "actor" varchar(255) not null, "source" varchar(255) not null, "channel" varchar(255) null, "thread_ts" varchar(255) null, "question" text not null, "mode" varchar(255) null, "status" text check ("status" in ('running', 'answered', 'failed')) not null default 'running', "root_cause" varchar(255) null, "confidence" double precision null, "answer" jsonb null, "tool_calls" int not null default 0, "total_tokens" int not null default 0, "cost_usd" double precision not null default 0, "duration_ms" int null, "feedback" text check ("feedback" in ('correct', 'wrong')) null, "feedback_by" varchar(255) null, "feedback_at" timestamptz null);`);
    this.addSql(`alter table "assistant_answers" add constraint "assistant_answers_event_id_unique" unique ("event_id");`);
    this.addSql(`create index "assistant_answers_asked_at_index" on "assistant_answers" ("asked_at");`);
    this.addSql(`create index "assistant_answers_feedback_index" on "assistant_answers" ("feedback");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "assistant_answers" cascade;`);
  }

}
