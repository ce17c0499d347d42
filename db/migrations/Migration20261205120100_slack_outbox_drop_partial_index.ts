import { Migration } from '@mikro-orm/migrations';

/**
 * Drops the partial index `slack_outbox_unsent_index` of Migration20261205120000: entities cannot declare a partial
 * index, so it showed as drift between the entities and the migrations; the `channel` index serves the poster.
 */
export class Migration20261205120100_slack_outbox_drop_partial_index extends Migration {
  override async up(): Promise<void> {
    this.addSql(`drop index if exists "slack_outbox_unsent_index";`);
  }

  override async down(): Promise<void> {
    this.addSql(`create index if not exists "slack_outbox_unsent_index" on "slack_outbox" ("channel", "id") where sent_at is null and dead_at is null;`);
  }
}
