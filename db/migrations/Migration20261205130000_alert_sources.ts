import { Migration } from '@mikro-orm/migrations';

/**
 * Issue #14 (one alert path): `alerts.source_status` keeps, per source that reported the alert (`internal`,
 * `alertmanager`), its last status, so with ALERT_SOURCE=both the alert fires when the first source reports it and
 * resolves when no source still reports it firing.
 */
export class Migration20261205130000_alert_sources extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "alerts" add column "source_status" jsonb not null default '{}';`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "alerts" drop column "source_status";`);
  }

}
