/**
 * `verifyDatabase`: clean on a consistent database; finds a seeded orphan (inserted with the foreign keys off for
 * the transaction, as a partial restore could leave it) and each kind of inconsistent status; reports a missing
 * foreign key. Runs on the real PostgreSQL or the embedded PGlite (no pg_dump needed).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Business, Email, JobRun, Purchase, Target } from '../../db/entities/index.js';
import type { Database } from '../../db/orm.js';
import { renderVerifyText, verifyDatabase, type VerifyReport } from '../../domain/recovery/verify.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';

const test = suite<{ db: Database }>(`recovery: db verify (${DB_KIND})`);

test.before(async (ctx) => {
  ctx.db = await freshDatabase();
});
test.after(async (ctx) => {
  await ctx.db?.close();
});
test.before.each(async (ctx) => {
  await truncateAll(ctx.db);
});

const check = (r: VerifyReport, id: string) => {
  const c = r.checks.find((x) => x.id === id);
  if (!c) throw new Error(`no check ${id}`);
  return c;
};

async function seedConsistent(em: EntityManager): Promise<{ businessId: number }> {
  const t = em.create(Target, { location: 'Denver, CO', category: 'roofing' });
  const b = em.create(Business, { yelpId: 'y-1', name: 'Roofs', status: 'emailed', target: t });
  em.create(Business, { yelpId: 'y-2', name: 'Pipes', status: 'new', target: t });
  await em.flush();
  em.create(Email, { business: b, campaign: 'c', toAddress: 'a@roofs.example', subject: 's', body: 'b', spamScore: 0, status: 'sent', sentAt: new Date() });
  em.create(Purchase, { business: b, amountCents: 9900, totalCents: 9900, status: 'paid', stripeSessionId: 'cs_1' });
  em.create(JobRun, { job: 'daily-pipeline', status: 'succeeded', finishedAt: new Date() });
  await em.flush();
  return { businessId: b.id };
}

test('a consistent database verifies clean, with counts per stage', async (ctx) => {
  await seedConsistent(ctx.db.orm.em.fork());
  const r = await verifyDatabase(ctx.db.orm.em.fork());
  assert.ok(r.ok, renderVerifyText(r));
  assert.is(check(r, 'foreign-keys').count, 0);
  assert.equal(check(r, 'counts-businesses').data, { emailed: 1, new: 1 });
  assert.equal(check(r, 'counts-emails').data, { sent: 1 });
  assert.is(check(r, 'counts-businesses').count, 2);
  assert.match(renderVerifyText(r), /db verify: clean/);
});

test('finds a seeded orphan email and an orphan purchase', async (ctx) => {
  await seedConsistent(ctx.db.orm.em.fork());
  await ctx.db.orm.em.fork().transactional(async (tx) => {
    // foreign-key triggers off for this transaction only (superuser), as a partial or replica-mode load could do
    await tx.execute(`set local session_replication_role = replica`);
    await tx.execute(
      `insert into emails (business_id, campaign, to_address, subject, body, spam_score, status, created_at, updated_at)
       values (999999, 'c', 'ghost@example.com', 's', 'b', 0, 'pending', now(), now())`,
    );
    await tx.execute(`insert into purchases (business_id, amount_cents, total_cents, status, created_at, updated_at) values (888888, 1, 1, 'pending', now(), now())`);
  });
  const r = await verifyDatabase(ctx.db.orm.em.fork());
  assert.is(r.ok, false);
  assert.is(check(r, 'orphan-emails').ok, false);
  assert.is(check(r, 'orphan-emails').count, 1);
  assert.match(check(r, 'orphan-emails').detail, /1 email\(s\) whose business does not exist/);
  assert.is(check(r, 'orphan-purchases').count, 1);
  assert.is(check(r, 'orphan-assessment-results').ok, true);
  assert.match(renderVerifyText(r), /PROBLEM  orphan-emails/);
});

test('finds inconsistent statuses: emailed without email, sent without sent_at, paid without Stripe ids, a run left running', async (ctx) => {
  const em = ctx.db.orm.em.fork();
  await seedConsistent(em);
  const lonely = em.create(Business, { yelpId: 'y-3', name: 'Lonely', status: 'emailed' });
  const other = em.create(Business, { yelpId: 'y-4', name: 'Other', status: 'email_pending' });
  await em.flush();
  em.create(Email, { business: other, campaign: 'c', toAddress: 'o@other.example', subject: 's', body: 'b', spamScore: 0, status: 'sent' });
  em.create(Purchase, { business: other, amountCents: 9900, totalCents: 9900, status: 'paid' });
  const now = new Date();
  em.create(JobRun, { job: 'backup', status: 'running', startedAt: new Date(now.getTime() - 3_600_000), heartbeatAt: new Date(now.getTime() - 3_600_000) });
  em.create(JobRun, { job: 'daily-pipeline', status: 'running', startedAt: now, heartbeatAt: now });
  await em.flush();
  const r = await verifyDatabase(ctx.db.orm.em.fork(), { now });
  assert.is(r.ok, false);
  assert.equal(check(r, 'emailed-without-email').data, [lonely.id]);
  assert.is(check(r, 'sent-without-sent-at').count, 1);
  assert.is(check(r, 'paid-without-stripe-ids').count, 1);
  assert.is(check(r, 'job-runs-left-running').count, 1, 'only the run without a recent heartbeat');
  assert.equal(
    r.checks.filter((c) => !c.ok).map((c) => c.id),
    ['emailed-without-email', 'sent-without-sent-at', 'paid-without-stripe-ids', 'job-runs-left-running'],
  );
});

test('a missing foreign key is reported', async (ctx) => {
  const conn = ctx.db.orm.em.getConnection();
  await conn.execute('alter table emails drop constraint emails_business_id_foreign');
  try {
    const r = await verifyDatabase(ctx.db.orm.em.fork());
    assert.is(check(r, 'foreign-keys').ok, false);
    assert.match(check(r, 'foreign-keys').detail, /emails_business_id_foreign/);
  } finally {
    await conn.execute(
      'alter table emails add constraint emails_business_id_foreign foreign key (business_id) references businesses (id) on update cascade on delete cascade',
    );
  }
});

test.run();
