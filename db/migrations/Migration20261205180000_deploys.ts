import { Migration } from '@mikro-orm/migrations';

/** `deploys`: one row per service start (version, git commit, configuration fingerprint), for `/lf changes`. */
export class Migration20261205180000_deploys extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "deploys" ("id" serial primary key, "version" varchar(255) not null, "git_sha" varchar(255) null, "config_hash" varchar(255) not null, "config" jsonb not null default '{}', "host" varchar(255) not null, "started_at" timestamptz not null);`,
    );
    this.addSql(`create index "deploys_started_at_index" on "deploys" ("started_at");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "deploys" cascade;`);
  }
}
