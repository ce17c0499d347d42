import { Migration } from '@mikro-orm/migrations';

/**
 * NOTIFY `lf_provider_state` (payload: the provider id, or `*` after a TRUNCATE) whenever a provider's circuit
 * breaker or Retry-After block changes, from any writer (the gateway, remediations, SQL by hand). Processes that
 * cache breaker state (domain/gateway/breaker-cache.ts) LISTEN and drop their entry. `last_success_at`-only
 * updates (once a second while healthy) do not notify.
 */
export class Migration20261205160000_provider_state_notify extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create or replace function lf_notify_provider_state() returns trigger language plpgsql as $$
begin
  if tg_op = 'TRUNCATE' then
    perform pg_notify('lf_provider_state', '*');
    return null;
  end if;
  if tg_op = 'DELETE' then
    perform pg_notify('lf_provider_state', old.provider);
    return old;
  end if;
  if tg_op = 'INSERT' or (old.breaker_state, old.generation, old.consecutive_failures, old.half_open_successes, old.opened_at, old.probe_until, old.blocked_until)
      is distinct from (new.breaker_state, new.generation, new.consecutive_failures, new.half_open_successes, new.opened_at, new.probe_until, new.blocked_until) then
    perform pg_notify('lf_provider_state', new.provider);
  end if;
  return new;
end $$;`);
    this.addSql(`create trigger provider_state_notify after insert or update or delete on "provider_state" for each row execute function lf_notify_provider_state();`);
    this.addSql(`create trigger provider_state_notify_truncate after truncate on "provider_state" for each statement execute function lf_notify_provider_state();`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop trigger if exists provider_state_notify on "provider_state";`);
    this.addSql(`drop trigger if exists provider_state_notify_truncate on "provider_state";`);
    this.addSql(`drop function if exists lf_notify_provider_state();`);
  }
}
