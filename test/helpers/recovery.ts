/** Sample data and preconditions for backup and restore tests. */
import { AssessmentResult, AuditLog, Business, Email, JobRun, Purchase, Target } from '../../db/entities/index.js';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Database } from '../../db/orm.js';

/** Seeds a little of everything: targets, businesses in several stages, emails, assessments, a purchase, a job run, an audit row. */
export async function seedSample(db: Database): Promise<void> {
  const em = db.orm.em.fork();
  const t1 = em.create(Target, { location: 'Denver, CO', category: 'roofing' });
  const t2 = em.create(Target, { location: 'Austin, TX', category: 'plumbing' });
  const statuses = ['new', 'assessed', 'scored', 'emailed', 'emailed', 'assessment_failed'] as const;
  const businesses = statuses.map((status, i) =>
    em.create(Business, { yelpId: `yelp-${i}`, name: `Business ${i}`, website: `https://b${i}.example`, status, target: i % 2 ? t1 : t2, score: 50 + i }),
  );
  await em.flush();
  for (const b of businesses.filter((x) => x.status === 'emailed')) {
    em.create(Email, { business: b, campaign: 'audit-v1', toAddress: `owner@b${b.id}.example`, subject: 'Your site', body: 'Hello', spamScore: 1, status: 'sent', sentAt: new Date() });
  }
  for (const b of businesses.slice(1, 5)) em.create(AssessmentResult, { business: b, status: 'completed', url: b.website!, performanceScore: 40 });
  em.create(Purchase, { business: businesses[3]!, amountCents: 9900, totalCents: 9900, status: 'paid', stripeSessionId: 'cs_test_1', stripePaymentIntentId: 'pi_test_1' });
  em.create(JobRun, { job: 'daily-pipeline', status: 'succeeded', finishedAt: new Date(), counts: { sourced: 6 } });
  em.create(AuditLog, { at: new Date(), actor: 'cli:test', source: 'cli', action: 'test:seed', input: {}, outcome: 'succeeded' });
  await em.flush();
}


/**
 * Whether this machine's pg_dump can dump the test database (DATABASE_URL's server, or an embedded PGlite),
 * decided synchronously when a test file is loaded (a child process runs test/helpers/server-dumpable.ts), so tests
 * needing a dump are registered as skipped when it cannot.
 */
export function testServerDumpable(): boolean {
  const script = join(import.meta.dirname, 'server-dumpable.ts');
  const out = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', env: process.env, timeout: 120_000 });
  if (out.status !== 0) throw new Error(`server-dumpable check failed: ${out.stderr}`);
  return out.stdout.trim() === 'true';
}
