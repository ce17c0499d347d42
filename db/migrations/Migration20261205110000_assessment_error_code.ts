import { Migration } from '@mikro-orm/migrations';

/** `assessment_results.error_code`: Lighthouse's `runtimeError.code` of a PageSpeed 200 that measured nothing. */
export class Migration20261205110000_assessment_error_code extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "assessment_results" add column "error_code" varchar(64) null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "assessment_results" drop column "error_code";`);
  }

}
