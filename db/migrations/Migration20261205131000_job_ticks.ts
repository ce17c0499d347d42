import { Migration } from '@mikro-orm/migrations';

/**
 * Issue #14: `job_ticks`, every job's last start and end (db/entities/job-run.entity.ts JobTick), written by the
 * scheduler for every run, so the frequent jobs that keep no job_runs row are watched and shown too.
 */
export class Migration20261205131000_job_ticks extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "job_ticks" ("job" varchar(255) not null, "last_started_at" timestamptz null, "last_finished_at" timestamptz null, "last_status" varchar(255) null, "last_error" text null, "runs" int not null default 0, "failures" int not null default 0, constraint "job_ticks_pkey" primary key ("job"));`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "job_ticks" cascade;`);
  }

}
