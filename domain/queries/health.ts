/** The database liveness probe: the one `select 1`. */
import type { EntityManager } from '@mikro-orm/postgresql';

/** Runs `select 1` on `em`'s connection; resolves when the database answers. @throws the driver's error otherwise. */
export async function pingDatabase(em: EntityManager): Promise<void> {
  await em.execute('select 1');
}

/**
 * Runs `select 1` on a connected `pg` client (not the ORM pool: the database watch pings on its own connection);
 * resolves when the database answers. @throws the driver's error otherwise.
 */
export async function pingClient(client: { query(sql: string): Promise<unknown> }): Promise<void> {
  await client.query('select 1');
}
