/** The database liveness probe: the one `select 1`. */
import type { EntityManager } from '@mikro-orm/postgresql';

/** Runs `select 1` on `em`'s connection; resolves when the database answers. @throws the driver's error otherwise. */
export async function pingDatabase(em: EntityManager): Promise<void> {
  await em.execute('select 1');
}
