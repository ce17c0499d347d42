import { Migration } from '@mikro-orm/migrations';

/**
 * The storefront's door (issue #19 point 6): `report_link_clicks` (one row per click on a signed report link, for the
 * `/lf purchases` funnel) and at most one `pending` purchase per business (repeated clicks reuse the open checkout).
 */
export class Migration20261206093000_report_links extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "report_link_clicks" ("id" serial primary key, "business_id" int not null, "email_id" int null, "purchase_id" int null, "outcome" text check ("outcome" in ('checkout_created', 'checkout_reused', 'already_paid', 'failed')) not null, "user_agent" varchar(300) null, "clicked_at" timestamptz not null);`,
    );
    this.addSql(`create index "report_link_clicks_business_id_index" on "report_link_clicks" ("business_id");`);
    this.addSql(`create index "report_link_clicks_clicked_at_index" on "report_link_clicks" ("clicked_at");`);
    this.addSql(
      `alter table "report_link_clicks" add constraint "report_link_clicks_business_id_foreign" foreign key ("business_id") references "businesses" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "report_link_clicks" add constraint "report_link_clicks_email_id_foreign" foreign key ("email_id") references "emails" ("id") on update cascade on delete set null;`,
    );
    this.addSql(
      `alter table "report_link_clicks" add constraint "report_link_clicks_purchase_id_foreign" foreign key ("purchase_id") references "purchases" ("id") on update cascade on delete set null;`,
    );
    this.addSql(`create unique index "purchases_one_pending_per_business" on "purchases" ("business_id") where "status" = 'pending';`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists "purchases_one_pending_per_business";`);
    this.addSql(`drop table if exists "report_link_clicks" cascade;`);
  }
}
