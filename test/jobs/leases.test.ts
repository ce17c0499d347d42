/**
 * Leases and the reaper (issue #13): the sandbox's Email Activity API in SendGrid's format, and the reaper settling
 * what dead holders left — runs `interrupted`, claims released, emails left `sending` marked `sent` when SendGrid's
 * activity feed has them and `pending` when it does not; unconfirmed (never resent) when the API answers 403.
 */
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMetrics } from '../../alerts/metrics.js';
import { Business, Email } from '../../db/entities/index.js';
import { loadConfig } from '../../domain/config.js';
import { createJobControl } from '../../jobs/control.js';
import { startScheduler } from '../../jobs/scheduler.js';
import type { Database } from '../../db/orm.js';
import { ProviderError } from '../../domain/errors.js';
import { holderState, leaseIsDead, processHolder, runHolder } from '../../domain/leases.js';
import { createLogger } from '../../domain/logger.js';
import { reapExpiredLeases } from '../../domain/pipeline/reaper.js';
import { activityQueryByCustomArg, createSendGridClient } from '../../domain/providers/sendgrid/index.js';
import { startSandbox, type Sandbox } from '../../domain/sandbox/index.js';
import type { Services } from '../../domain/services.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { testServices } from '../helpers/services.js';

type Ctx = { db: Database; sandbox: Sandbox; services: Services };
const t = suite<Ctx>(`leases and the reaper (${DB_KIND})`);

t.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.sandbox = await startSandbox({ seed: 11 });
  ctx.services = await testServices(ctx.db, { SANDBOX_URL: ctx.sandbox.url });
});
t.after(async (ctx) => {
  await ctx.services.close();
  await ctx.sandbox.close();
  await ctx.db.close();
});
let round = 0;
t.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  // the sandbox's activity feed outlives a truncate: fresh email ids per test, so no test sees another's sends
  await ctx.db.orm.em.getConnection().execute(`alter sequence emails_id_seq restart with ${++round * 1000}`);
});

/** A holder id of a process that has exited on this host. */
function deadHolder(runId?: number): string {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return `${hostname()}:${r.stdout.toString()}:deadbeef${runId === undefined ? '' : `#${runId}`}`;
}

const client = (ctx: Ctx, key = 'SG.test') => createSendGridClient({ baseUrl: `${ctx.sandbox.url}/sendgrid`, apiKey: key, timeoutMs: 5000 });
const mail = (to: string, emailId: string) => ({ to, from: 'a@leadfactory.example', subject: 'Hi', text: 'Hello', customArgs: { email_id: emailId } });

t('the sandbox speaks the Email Activity API: unique_args query, SendGrid message shape, 400 and 403', async (ctx) => {
  const sg = client(ctx);
  const { messageId } = await sg.send(mail('one@example.com', '501'));
  await sg.send(mail('two@example.com', '502'));
  const found = await sg.searchMessages(activityQueryByCustomArg('email_id', '501'), 10);
  assert.is(found.length, 1);
  assert.is(found[0]!.toEmail, 'one@example.com');
  assert.ok(found[0]!.msgId.startsWith(`${messageId}.`), 'msg_id is the X-Message-Id plus the filter suffix');
  assert.equal(await sg.searchMessages(activityQueryByCustomArg('email_id', '999'), 10), []);
  // the wire format: GET /v3/messages?limit=&query=<url-encoded>
  const q = encodeURIComponent(`(unique_args['email_id']="502") AND to_email="two@example.com"`);
  const raw = await fetch(`${ctx.sandbox.url}/sendgrid/v3/messages?limit=5&query=${q}`, { headers: { Authorization: 'Bearer SG.x' } });
  const body = (await raw.json()) as { messages: Record<string, unknown>[] };
  assert.equal(Object.keys(body.messages[0]!).sort(), ['clicks_count', 'from_email', 'last_event_time', 'msg_id', 'opens_count', 'status', 'subject', 'to_email']);
  assert.is((await fetch(`${ctx.sandbox.url}/sendgrid/v3/messages?limit=5&query=nonsense`, { headers: { Authorization: 'Bearer SG.x' } })).status, 400);
  const err = await client(ctx, 'SG.noactivity').searchMessages(activityQueryByCustomArg('email_id', '501'), 10).catch((e: unknown) => e);
  assert.instance(err, ProviderError);
  assert.is((err as ProviderError).status, 403);
});

t('holders: this process is self, an exited process is gone, another host is unknown', () => {
  assert.is(holderState(processHolder()), 'self');
  assert.is(holderState(runHolder(7)), 'self');
  assert.is(holderState(deadHolder()), 'gone');
  assert.is(holderState('elsewhere.example:1:abc'), 'unknown');
  const now = new Date();
  assert.ok(leaseIsDead({ holder: 'elsewhere.example:1:abc', expiresAt: new Date(now.getTime() - 1) }, now), 'expired lease of another host');
  assert.not.ok(leaseIsDead({ holder: 'elsewhere.example:1:abc', expiresAt: new Date(now.getTime() + 60_000) }, now), 'live lease of another host');
  assert.ok(leaseIsDead({ holder: deadHolder(), expiresAt: new Date(now.getTime() + 60_000) }, now), 'a gone process does not wait for its lease');
});

async function seed(ctx: Ctx, holder: string, n: number): Promise<number[]> {
  const em = ctx.db.orm.em.fork();
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    const b = em.create(Business, { yelpId: `y-${holder.length}-${i}`, name: `Biz ${i}`, status: 'email_pending' });
    const e = em.create(Email, {
      business: b,
      campaign: 'website-audit',
      toAddress: `biz${i}@example.com`,
      subject: 'Hi',
      body: 'Hello',
      spamScore: 0,
      status: 'sending',
      claimedAt: new Date(Date.now() - 10_000),
      leaseHolder: holder,
      leaseExpiresAt: new Date(Date.now() + 60_000),
    });
    await em.flush();
    ids.push(e.id);
  }
  return ids;
}

const reaperDeps = (ctx: Ctx, sendgrid = ctx.services.providers.sendgrid) => ({
  em: () => ctx.db.orm.em.fork(),
  clock: ctx.services.clock,
  logger: createLogger(process.env.LEASE_TEST_LOG ? 'debug' : 'silent'),
  leaseMs: 60_000,
  settleMs: 0,
  sendgrid,
});

t('a dead run: interrupted at once; its sending emails settled with the activity feed — sent if accepted, else pending', async (ctx) => {
  const conn = ctx.db.orm.em.getConnection();
  const [run] = await conn.execute<{ id: number }[]>(
    `insert into job_runs (job, status, trigger, started_at, heartbeat_at, counts, lease_holder, lease_expires_at)
     values ('daily-pipeline', 'running', 'test', now(), now(), '{}', ?, now() + interval '1 minute') returning id`,
    [deadHolder()],
  );
  const [accepted, lost] = await seed(ctx, deadHolder(run!.id), 2);
  await client(ctx).send(mail('biz0@example.com', String(accepted))); // SendGrid took it just before the crash
  const r = await reapExpiredLeases(reaperDeps(ctx));
  assert.equal(r.runsInterrupted, [run!.id]);
  assert.equal(r.emailsSent, [accepted]);
  assert.equal(r.emailsRequeued, [lost]);
  const rows = await conn.execute<{ id: number; status: string; provider_message_id: string | null; lease_holder: string | null }[]>(
    'select id, status, provider_message_id, lease_holder from emails order by id',
  );
  assert.is(rows[0]!.status, 'sent');
  assert.ok(rows[0]!.provider_message_id, 'the message id from the activity feed');
  assert.is(rows[1]!.status, 'pending');
  assert.is(rows[1]!.lease_holder, null);
  const [biz] = await conn.execute<{ status: string }[]>('select b.status from businesses b join emails e on e.business_id = b.id where e.id = ?', [accepted]);
  assert.is(biz!.status, 'emailed');
});

t('a live lease of another process is left alone; an expired one is reaped', async (ctx) => {
  const [live] = await seed(ctx, 'elsewhere.example:1:abc', 1);
  let r = await reapExpiredLeases(reaperDeps(ctx));
  assert.equal(r.emailsRequeued, []);
  await ctx.db.orm.em.getConnection().execute(`update emails set lease_expires_at = now() - interval '1 second' where id = ?`, [live]);
  r = await reapExpiredLeases(reaperDeps(ctx));
  assert.equal(r.emailsRequeued, [live]);
});

t('without the Email Activity API (403) an email left sending is never resent: unconfirmed (at-most-once)', async (ctx) => {
  const [id] = await seed(ctx, deadHolder(), 1);
  const noActivity = client(ctx, 'SG.noactivity');
  const r = await reapExpiredLeases(reaperDeps(ctx, noActivity));
  assert.equal(r.emailsUnconfirmed, [id]);
  const [row] = await ctx.db.orm.em.getConnection().execute<{ status: string; lease_holder: string; error_message: string }[]>(
    'select status, lease_holder, error_message from emails where id = ?',
    [id],
  );
  assert.is(row!.status, 'sending');
  assert.is(row!.lease_holder, 'unconfirmed');
  assert.match(row!.error_message, /403/);
  assert.equal((await reapExpiredLeases(reaperDeps(ctx, noActivity))).emailsUnconfirmed, [], 'asked once');
});

t('businesses claimed by a dead holder are released', async (ctx) => {
  const em = ctx.db.orm.em.fork();
  em.create(Business, { yelpId: 'claimed', name: 'C', status: 'assessment_pending', claimedUntil: new Date(Date.now() + 60_000), claimHolder: deadHolder() });
  em.create(Business, { yelpId: 'mine', name: 'M', status: 'assessment_pending', claimedUntil: new Date(Date.now() + 60_000), claimHolder: 'elsewhere.example:1:abc' });
  await em.flush();
  const r = await reapExpiredLeases(reaperDeps(ctx));
  assert.is(r.businessesReleased, 1);
});

t('`run now` is refused while another process holds a live run, and not blocked by a dead one', async (ctx) => {
  const conn = ctx.db.orm.em.getConnection();
  const insert = (holder: string) =>
    conn.execute<{ id: number }[]>(
      `insert into job_runs (job, status, trigger, started_at, heartbeat_at, counts, lease_holder, lease_expires_at)
       values ('daily-pipeline', 'running', 'test', now(), now(), '{}', ?, now() + interval '1 minute') returning id`,
      [holder],
    );
  const [live] = await insert('elsewhere.example:1:abc');
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent' });
  const scheduler = await startScheduler({
    config,
    logger: createLogger('silent'),
    metrics: createMetrics(),
    orm: ctx.db.orm,
    clock: ctx.services.clock,
    jobEnv: { DATABASE_URL: ctx.db.url, SANDBOX_URL: ctx.sandbox.url, LOG_LEVEL: 'silent' },
    providers: ctx.services.providers,
    autoStart: false,
  });
  try {
    const control = createJobControl({ orm: ctx.db.orm, config, clock: ctx.services.clock, scheduler });
    const refused = await control.runNow('daily-pipeline', 'test');
    assert.is(refused.started, false);
    assert.match(refused.detail, `run #${live!.id}`);
    assert.not.ok(scheduler.isRunning('daily-pipeline'), 'no worker started to refuse');
    await conn.execute(`update job_runs set lease_holder = ? where id = ?`, [deadHolder(), live!.id]);
    assert.ok(await scheduler.runNow('daily-pipeline', 'test'), 'a dead holder does not block');
    const [old] = await conn.execute<{ status: string }[]>('select status from job_runs where id = ?', [live!.id]);
    assert.is(old!.status, 'interrupted');
  } finally {
    await scheduler.stop(0);
  }
});

t.run();
