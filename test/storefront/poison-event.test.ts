/**
 * A correctly signed Stripe event carrying U+0000 and a lone surrogate in the customer's name (real Stripe signature
 * scheme over the raw bytes, events made by the sandbox's hosted checkout, real database): stored, applied, the
 * purchase completes and its report is sent; the body as received is kept in `raw_json`; redeliveries are 200. An
 * event whose application fails for a reason other than the database is dead-lettered (200, audit row) and replays.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DB_KIND } from '../helpers/db.js';
import type { StripeEvent } from '../../domain/providers/stripe/port.js';
import { replayDeadLetter } from '../../domain/intake/replay.js';
import { checkout, deliver, purchase, reset, sendgridRequests, setUp, tearDown, type Ctx } from './harness.js';

const t = suite<Ctx>(`storefront: poison Stripe events (${DB_KIND})`);
t.before(async (ctx) => setUp(ctx));
t.after(async (ctx) => tearDown(ctx));
t.before.each(async (ctx) => reset(ctx));

const sql = <T>(ctx: Ctx, q: string, p: unknown[] = []) => ctx.db.orm.em.getConnection().execute<T[]>(q, p);

async function paidEvents(ctx: Ctx): Promise<{ purchaseId: number; events: StripeEvent[] }> {
  const c = await checkout(ctx);
  const res = await fetch(`${ctx.sandbox.url}/sandbox/stripe/checkout`, { method: 'POST', body: JSON.stringify({ session: c.sessionId, outcome: 'paid' }) });
  const { events } = (await res.json()) as { events: StripeEvent[] };
  return { purchaseId: c.purchaseId, events };
}

t('U+0000 / a lone surrogate in the customer name: 200 on every delivery, the purchase completes, the original kept', async (ctx) => {
  const { purchaseId, events } = await paidEvents(ctx);
  const completed = events.find((e) => e.type === 'checkout.session.completed')!;
  const o = completed.data.object as Record<string, any>;
  o.customer_details = { ...(o.customer_details ?? {}), name: 'Zo\u0000ë Bakery \uD800Ltd' };
  const statuses: number[] = [];
  for (const e of [...events, completed, completed]) statuses.push((await deliver(ctx, e)).status);
  await ctx.route.idle();
  const p = await purchase(ctx, purchaseId);
  const rows = await sql<{ event_id: string; processed_at: Date | null; payload: any; raw_json: string | null }>(ctx, "select event_id, processed_at, payload, raw_json from webhook_inbox where provider = 'stripe'");
  const dirty = rows.find((r) => r.event_id === completed.id)!;
  const reports = await sendgridRequests(ctx);
  console.log(`  figures: Stripe answers ${statuses.join(', ')}; purchase ${p.status}; inbox rows ${rows.length} (processed ${rows.filter((r) => r.processed_at).length}); report emails ${reports}`);
  assert.equal(statuses, [200, 200, 200, 200]);
  assert.is(p.status, 'paid');
  assert.is(reports, 1, 'the report is sent once');
  assert.ok(rows.every((r) => r.processed_at));
  assert.is(dirty.payload.data.object.customer_details.name, 'Zo\uFFFDë Bakery \uFFFDLtd');
  assert.match(dirty.raw_json ?? '', '\\u0000', 'the signed body as received is kept');
  assert.is(rows.find((r) => r.event_id !== completed.id)!.raw_json, null, 'clean events keep no copy');
});

t('an event that cannot be applied (not the database): dead-lettered, 200, audited; replay applies it once fixed', async (ctx) => {
  const { purchaseId, events } = await paidEvents(ctx);
  const conn = ctx.db.orm.em.getConnection();
  await conn.execute(`create or replace function sf_poison() returns trigger language plpgsql as $$ begin raise exception 'value violates a business rule'; end $$;
    create trigger sf_poison before update on purchases for each row execute function sf_poison();`);
  const answers = [];
  for (const e of events) answers.push(await deliver(ctx, e));
  await conn.execute('drop trigger sf_poison on purchases');
  assert.equal(answers.map((a) => [a.status, a.body.outcome]), events.map(() => [200, 'dead_lettered']));
  const dls = await sql<{ id: number; source: string; dedup_key: string; reason: string }>(ctx, 'select id, source, dedup_key, reason from dead_letters order by id');
  assert.equal(dls.map((d) => [d.source, d.dedup_key]), events.map((e) => ['stripe', e.id]));
  assert.match(dls[0]!.reason, 'business rule');
  const audits = await sql(ctx, "select 1 from audit_log where action = 'intake:dead_letter' and actor = 'webhook:stripe'");
  assert.is(audits.length, events.length);
  assert.is((await purchase(ctx, purchaseId)).status, 'pending');
  for (const d of dls) await replayDeadLetter({ storefront: ctx.services }, d.id, 'cli:test');
  assert.is((await purchase(ctx, purchaseId)).status, 'paid');
  const left = await sql<{ status: string }>(ctx, 'select status from dead_letters');
  assert.ok(left.every((r) => r.status === 'replayed'));
});

t.run();
