/**
 * `npm run lf -- targets …`: the targeting quota tracker from a terminal.
 *   targets                      active targets with quota, used today, available (and totals)
 *   targets seed                 insert the demo targets into an empty targets table
 *   targets reset-quotas         reset every target's used-today count (audited as cli:<user>)
 *   targets batch-size [N]       show, or set, the Yelp batch size in force (1–50, audited)
 */
import Table from 'cli-table3';
import type { Database } from '../db/orm.js';
import type { AppConfig } from '../domain/config.js';
import { yelpBatchSize, setYelpBatchSize } from '../domain/targeting/batch-size.js';
import { quotaSummary, resetQuotas } from '../domain/targeting/quota.js';
import { DEMO_TARGETS, seedDemoTargetsIfEmpty } from '../domain/targeting/seed.js';

/** Help lines for `targets …`. */
export const TARGETS_HELP = [
  'Targeting:',
  '  targets                   active targets: quota, used today, available',
  '  targets seed              insert the demo targets (only into an empty table)',
  '  targets reset-quotas      reset used-today counts now (audited)',
  '  targets batch-size [N]    show or set the Yelp batch size in force (1-50, audited)',
].join('\n');

/** Who the CLI acts as in audit fields. */
function actor(env: NodeJS.ProcessEnv): string {
  return `cli:${env.USER ?? env.LOGNAME ?? 'unknown'}`;
}

/**
 * Runs a `targets` subcommand on an open database. Returns the text (or JSON) to print.
 * @throws AppError bad_request for an invalid batch size; Error for an unknown subcommand.
 */
export async function runTargets(
  db: Database,
  config: AppConfig,
  args: string[],
  opts: { json: boolean; env: NodeJS.ProcessEnv; now: Date },
): Promise<string> {
  const em = db.orm.em.fork();
  const [sub, value] = args;
  if (sub === 'seed') {
    const n = await seedDemoTargetsIfEmpty(em, opts.now);
    return n > 0 ? `Inserted ${n} demo targets: ${DEMO_TARGETS.map((t) => `${t.category} in ${t.location}`).join('; ')}.\n` : 'Targets already exist; nothing inserted.\n';
  }
  if (sub === 'reset-quotas') {
    await resetQuotas(em, opts.now, actor(opts.env));
    return `Quotas reset at ${opts.now.toISOString()} by ${actor(opts.env)}.\n`;
  }
  if (sub === 'batch-size') {
    if (value !== undefined) await setYelpBatchSize(em, Number(value), actor(opts.env), opts.now);
    const b = await yelpBatchSize(em, config);
    if (opts.json) return `${JSON.stringify(b)}\n`;
    return `Yelp batch size ${b.value} (${b.source === 'override' ? `set by ${b.updatedBy} at ${b.updatedAt?.toISOString()}` : 'YELP_BATCH_SIZE'}).\n`;
  }
  if (sub !== undefined) throw new Error(`unknown targets subcommand "${sub}"\n\n${TARGETS_HELP}`);
  const q = await quotaSummary(em, opts.now);
  if (opts.json)
    return `${JSON.stringify({ ...q, targets: q.targets.map((t) => ({ id: t.target.id, location: t.target.location, category: t.target.category, priority: t.target.priority, quota: t.quota, usedToday: t.usedToday, available: t.available })) }, null, 2)}\n`;
  const table = new Table({ head: ['id', 'location', 'category', 'priority', 'quota', 'used today', 'available'], style: { head: [], border: [] } });
  for (const t of q.targets) table.push([t.target.id, t.target.location, t.target.category, t.target.priority, t.quota, t.usedToday, t.available]);
  table.push(['', 'total', '', '', q.totalQuota, q.totalUsed, q.totalAvailable]);
  return `${table.toString()}\nCounting since ${q.since.toISOString()}; quotas reset at ${q.resetAt.toISOString()}.\n`;
}
