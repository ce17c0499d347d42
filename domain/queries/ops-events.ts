/**
 * Named queries over `ops_events` (issue #14 point 9): the newest event of some types, so the alert rules can be
 * evaluated as soon as the events that feed them are recorded (jobs/event-trigger.ts).
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** The highest `ops_events.id` of one of `types` above `afterId` (0: any), or undefined when there is none. */
export async function newestEventId(em: EntityManager, types: readonly string[], afterId = 0): Promise<number | undefined> {
  if (types.length === 0) return undefined;
  const [row] = await em.execute<{ id: number | null }[]>(
    `select max(id)::int as id from ops_events where id > ? and type in (${types.map(() => '?').join(',')})`,
    [afterId, ...types],
  );
  return row?.id ?? undefined;
}
