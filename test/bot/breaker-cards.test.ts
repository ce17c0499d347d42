/**
 * Breakers as chat objects (issue 19 point 5), on real PostgreSQL and the sandbox with fault injection: `/lf
 * breakers` gives a card per provider with the right states after a Yelp fault trips its breaker; the card message
 * is posted through the outbox and edited in place (same ref, kind `update`, one per state change) as the breaker
 * goes open → half_open → closed; Probe now is "Not fixed yet" while the fault persists and closes the breaker once
 * it is cleared; Force close carries a confirm dialog and is refused for an operator (audited); Keep open 1 h holds
 * the breaker open for an hour, naming who.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { postBreakerCards } from '../../alerts/breaker-cards.js';
import { createMetrics } from '../../alerts/metrics.js';
import { createNotifier } from '../../alerts/notifier.js';
import { executeLf } from '../../bot/commands/execute.js';
import { parseLf } from '../../bot/commands/spec.js';
import { cardRefOfNonce } from '../../bot/render/breaker-cards.js';
import { exitCodeFor, renderText } from '../../bot/render/results-text.js';
import type { Database } from '../../db/orm.js';
import { systemClock } from '../../domain/clock.js';
import { sandboxAdmin, startSandbox, type Sandbox } from '../../domain/sandbox/index.js';
import type { Services } from '../../domain/services.js';
import { executeRemediation, recentAudit, type Actor, type RemediationOutcome } from '../../runbooks/actions.js';
import type { RunbookContext } from '../../runbooks/context.js';
import { RUNBOOKS } from '../../runbooks/index.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { rendered } from '../helpers/outbox.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';

type Ctx = { db: Database; sandbox: Sandbox; s: Services; rc: RunbookContext };
const test = suite<Ctx>(`breaker cards (${DB_KIND})`);

const VIEWER: Actor = { id: 'slack:U0VIEW', role: 'viewer', source: 'slack', display: '<@U0VIEW>' };
const OPERATOR: Actor = { id: 'slack:U1OPS', role: 'operator', source: 'slack', display: '<@U1OPS>' };
const ADMIN: Actor = { id: 'slack:U2ADM', role: 'admin', source: 'slack', display: '<@U2ADM>' };
const CHANNEL = 'C0OPS';
const COOLDOWN_MS = 300;

test.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.sandbox = await startSandbox({ seed: 19, port: 0 });
  ctx.s = await testServices(ctx.db, {
    SANDBOX_URL: ctx.sandbox.url,
    PROVIDER_TIMEOUT_MS: '800',
    GATEWAY_RETRY_ATTEMPTS: '1',
    GATEWAY_MAX_WAIT_MS: '0',
    BREAKER_FAILURE_THRESHOLD: '2',
    BREAKER_HALF_OPEN_SUCCESSES: '2',
    BREAKER_COOLDOWN_MS: String(COOLDOWN_MS),
    VERIFY_WAIT_MS: '2000',
    VERIFY_POLL_MS: '20',
  });
  ctx.rc = runbookContext(ctx.s);
});
test.after(async (ctx) => {
  await ctx.s.close();
  await ctx.sandbox.close();
  await ctx.db.close();
});
test.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  await sandboxAdmin(ctx.sandbox.url).clearFaults();
});

type OutboxRow = { kind: string; ref: string | null; route: string; channel: string; dedup_key: string; text: string; blocks: unknown[] | null };
const outbox = async (ctx: Ctx): Promise<OutboxRow[]> =>
  rendered(await ctx.db.orm.em.fork().getConnection().execute<OutboxRow[]>(`select kind, ref, route, channel, dedup_key, text, blocks, body from slack_outbox where ref like 'breaker-cards:%' order by id`));
const notifier = (ctx: Ctx) => createNotifier({ orm: ctx.db.orm, logger: ctx.s.logger, metrics: createMetrics(), config: ctx.s.config, clock: systemClock });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let call = 0;
/** One Yelp search through the gateway (a fresh request each time, so never a cached answer). */
const yelpCall = (ctx: Ctx) => ctx.s.providers.yelp.search({ location: `Austin, TX ${++call}`, limit: 5, offset: 0 }).catch(() => undefined);

/** Yelp answers 503 and two failed calls trip its breaker. */
async function tripYelp(ctx: Ctx): Promise<void> {
  await sandboxAdmin(ctx.sandbox.url).setFault('yelp', { fault: 'server_error', status: 503 });
  for (let i = 0; i < 2; i++) await yelpCall(ctx);
  assert.is((await ctx.s.gateway.breaker.snapshot('yelp')).state, 'open');
}

/** `/lf breakers` as the Slack listener does it: execute for the actor, then post the card message in the channel. */
async function lfBreakers(ctx: Ctx, id = 'T1') {
  const result = await executeLf(ctx.rc, parseLf('breakers'), VIEWER);
  if (result.kind !== 'breakers') throw new Error(`expected breakers, got ${result.kind}`);
  const posted = await postBreakerCards(ctx.db.orm.em.fork(), { breaker: ctx.s.gateway.breaker, config: ctx.s.config, now: result.asOf, cards: result.cards }, CHANNEL, id);
  return { result, ref: posted.ref };
}

type Block = { type: string; block_id?: string; text?: { text: string }; elements?: { action_id?: string; value?: string; style?: string; confirm?: { title: { text: string }; text: { text: string }; confirm: { text: string } } }[] };
const blocksOf = (row: OutboxRow) => (row.blocks ?? []) as Block[];
const cardText = (row: OutboxRow, name: string) => blocksOf(row).find((b) => b.type === 'section' && b.text?.text.includes(`*${name}*`))?.text?.text ?? '';
const buttonsOf = (row: OutboxRow, provider: string) => blocksOf(row).find((b) => b.block_id === `breaker:${provider}`)?.elements ?? [];

const done = (o: RemediationOutcome) => {
  assert.is(o.status, 'succeeded', JSON.stringify(o));
  return o as Extract<RemediationOutcome, { status: 'succeeded' | 'failed' }>;
};
const remediate = (ctx: Ctx, remediation: string, actor: Actor, nonce: string) =>
  executeRemediation(ctx.rc, RUNBOOKS, { runbook: 'external-apis', remediation, input: { provider: 'yelp' }, nonce }, actor);

test('/lf breakers after a Yelp fault: five cards, Yelp open (why, failures, next probe), the others closed; one post through the outbox', async (ctx) => {
  await tripYelp(ctx);
  const { result, ref } = await lfBreakers(ctx);
  assert.equal(result.cards.map((c) => [c.provider, c.state]), [['yelp', 'open'], ['pagespeed', 'closed'], ['openai', 'closed'], ['sendgrid', 'closed'], ['stripe', 'closed']]);
  const yelp = result.cards[0]!;
  assert.match(yelp.why ?? '', /^2 consecutive failures \(threshold 2\); last: HTTP 503 \(ProviderError\)$/);
  assert.is(yelp.lastStatus, 503);
  assert.ok(yelp.openedAt && yelp.nextProbeAt, 'opened at and next probe time');
  assert.is(Date.parse(yelp.nextProbeAt!) - Date.parse(yelp.openedAt!), COOLDOWN_MS, 'the next probe is the cooldown after the trip');
  assert.is(yelp.operator, null, 'tripped by failures, not by an operator');

  const rows = await outbox(ctx);
  assert.is(rows.length, 1);
  const post = rows[0]!;
  assert.equal([post.kind, post.ref, post.route, post.channel], ['post', ref, 'answers', CHANNEL]);
  assert.match(post.text, /^Circuit breakers: Yelp OPEN, PageSpeed closed, OpenAI closed, SendGrid closed, Stripe closed\.$/);
  assert.is(blocksOf(post).filter((b) => b.type === 'section').length, 5, 'five cards');
  assert.match(cardText(post, 'Yelp'), /— \*open\*/);
  assert.match(cardText(post, 'Yelp'), /\*Why:\* 2 consecutive failures \(threshold 2\); last: HTTP 503 \(ProviderError\)/);
  assert.match(cardText(post, 'Yelp'), /\*Failures:\* 2 in a row \(trips at 2\)/);
  assert.match(cardText(post, 'Yelp'), /\*Next probe:\*/);
  assert.match(cardText(post, 'Stripe'), /— \*closed\*/);
  assert.equal(buttonsOf(post, 'yelp').map((e) => e.action_id), ['remediate:external-apis/probe-breaker', 'remediate:external-apis/keep-breaker-open', 'remediate:external-apis/force-close-breaker']);
  assert.equal(buttonsOf(post, 'stripe').map((e) => e.action_id), ['remediate:external-apis/probe-breaker'], 'a closed breaker offers Probe now only');
  const nonce = (JSON.parse(buttonsOf(post, 'yelp')[0]!.value!) as { n: string }).n;
  assert.is(cardRefOfNonce(nonce), ref, 'a card button names its card message');

  // the terminal: same data, exit 1 while a breaker is open
  assert.match(renderText(result, ''), /Yelp\s*│\s*open/);
  assert.is(exitCodeFor(result), 1);
});

test('the card message is edited in place (same ref, kind update, one per state change) as the breaker goes open → half_open → closed', async (ctx) => {
  const { ref } = await lfBreakers(ctx);
  await tripYelp(ctx);
  await notifier(ctx).tick();
  await sandboxAdmin(ctx.sandbox.url).clearFaults();
  await sleep(COOLDOWN_MS + 50);
  await yelpCall(ctx); // the probe: half_open, 1 of 2 successes
  assert.is((await ctx.s.gateway.breaker.snapshot('yelp')).state, 'half_open');
  await notifier(ctx).tick();
  await yelpCall(ctx); // the second success closes it
  assert.is((await ctx.s.gateway.breaker.snapshot('yelp')).state, 'closed');
  await notifier(ctx).tick();
  await notifier(ctx).tick(); // handing over again adds nothing

  const updates = (await outbox(ctx)).filter((r) => r.kind === 'update');
  assert.is(updates.length, 3, updates.map((u) => u.dedup_key).join('\n'));
  for (const u of updates) assert.equal([u.ref, u.channel], [ref, CHANNEL], 'the same message, edited in place');
  assert.equal(
    updates.map((u) => u.dedup_key.replace(`${ref}:ops-event:`, '').replace(/^(breaker\.half_opened:yelp:1):\d+$/, '$1')),
    ['breaker.opened:yelp:1', 'breaker.half_opened:yelp:1', 'breaker.closed:yelp:1'],
    'one update per state change, keyed by it',
  );
  assert.match(cardText(updates[0]!, 'Yelp'), /— \*open\*/);
  assert.match(cardText(updates[1]!, 'Yelp'), /— \*half_open\*/);
  assert.match(cardText(updates[1]!, 'Yelp'), /\*Probe successes:\* 1 of 2/);
  assert.match(cardText(updates[2]!, 'Yelp'), /— \*closed\*/);
  assert.match(updates[2]!.text, /Yelp closed/);
});

test('Probe now while Yelp still fails: Not fixed yet, still open; after the fault is cleared: Fixed, closed, and the card shows who probed', async (ctx) => {
  await tripYelp(ctx);
  const { ref } = await lfBreakers(ctx);
  const first = done(await remediate(ctx, 'probe-breaker', OPERATOR, `card:${ref}:yelp:1:open:1`));
  assert.is(first.verdict, 'not_fixed_yet');
  assert.match(first.verification!.summary, /^Not fixed yet — Yelp still answers HTTP 503; breaker open\./);
  assert.is((await ctx.s.gateway.breaker.snapshot('yelp')).state, 'open');

  await sandboxAdmin(ctx.sandbox.url).clearFaults();
  const second = done(await remediate(ctx, 'probe-breaker', OPERATOR, `card:${ref}:yelp:1:open:2`));
  assert.is(second.verdict, 'fixed', second.verification?.summary);
  assert.match(second.verification!.summary, /^Fixed — Yelp answered a live call through the gateway/);
  assert.is((await ctx.s.gateway.breaker.snapshot('yelp')).state, 'closed');
  const [row] = await recentAudit(ctx.db.orm.em.fork(), { action: 'remediation:external-apis/probe-breaker' });
  assert.equal([row!.actor, row!.outcome], ['slack:U1OPS', 'succeeded']);
  assert.match(row!.detail ?? '', /Verification: Fixed/);

  await notifier(ctx).tick();
  const last = (await outbox(ctx)).filter((r) => r.kind === 'update').at(-1)!;
  assert.is(last.ref, ref);
  assert.match(cardText(last, 'Yelp'), /— \*closed\*/);
  assert.match(cardText(last, 'Yelp'), /\*Probe requested\* by slack:U1OPS/);
});

test('Force close carries a confirm dialog; an operator is refused (audited); an admin closes it, named on the card', async (ctx) => {
  await tripYelp(ctx);
  const { ref } = await lfBreakers(ctx);
  const force = buttonsOf((await outbox(ctx))[0]!, 'yelp').find((e) => e.action_id === 'remediate:external-apis/force-close-breaker')!;
  assert.ok(force.confirm, 'a Block Kit confirm object');
  assert.is(force.confirm!.title.text, 'Confirm: Force close');
  assert.match(force.confirm!.text.text, /without a probe/);
  assert.match(force.confirm!.text.text, /needs the admin role; risk: destructive/);
  assert.is(force.style, 'danger');

  const refused = await remediate(ctx, 'force-close-breaker', OPERATOR, `card:${ref}:yelp:1:open:1`);
  assert.is(refused.status, 'refused');
  assert.is((refused as { reason: string }).reason, 'role');
  assert.match(refused.detail, /needs the admin role; slack:U1OPS has operator/);
  const [audit] = await recentAudit(ctx.db.orm.em.fork(), { action: 'remediation:external-apis/force-close-breaker' });
  assert.equal([audit!.actor, audit!.actorRole, audit!.outcome], ['slack:U1OPS', 'operator', 'refused']);
  assert.is((await ctx.s.gateway.breaker.snapshot('yelp')).state, 'open', 'nothing changed');

  await sandboxAdmin(ctx.sandbox.url).clearFaults();
  const closed = done(await remediate(ctx, 'force-close-breaker', ADMIN, `card:${ref}:yelp:1:open:1`));
  assert.is(closed.verdict, 'fixed', closed.verification?.summary);
  assert.is((await ctx.s.gateway.breaker.snapshot('yelp')).state, 'closed');
  await notifier(ctx).tick();
  const rows = await outbox(ctx);
  const last = rows.filter((r) => r.kind === 'update').at(-1)!;
  assert.match(cardText(last, 'Yelp'), /— \*closed\*/);
  assert.match(cardText(last, 'Yelp'), /\*Force-closed\* by slack:U2ADM/);
  const status = await ctx.db.orm.em.fork().getConnection().execute<{ text: string }[]>(`select text from slack_outbox where text like '%FORCE-CLOSED%'`);
  assert.match(status[0]?.text ?? '', /Circuit breaker for yelp FORCE-CLOSED by slack:U2ADM \(was open\)/, 'posted as an operator action, not a recovery');
});

test('Keep open 1 h: an operator holds the open breaker for an hour, named on the card; a closed breaker is not forced open by it', async (ctx) => {
  await tripYelp(ctx);
  const { ref } = await lfBreakers(ctx);
  const before = Date.now();
  const kept = done(await remediate(ctx, 'keep-breaker-open', OPERATOR, `card:${ref}:yelp:1:open:1`));
  assert.is(kept.verdict, 'fixed', kept.verification?.summary);
  assert.match(kept.verification!.summary, /A call to Yelp through the gateway is refused by its breaker until/);
  const snap = await ctx.s.gateway.breaker.snapshot('yelp');
  assert.is(snap.state, 'open');
  const heldFor = snap.retryAt!.getTime() - before;
  assert.ok(heldFor >= 3_600_000 - 1000 && heldFor <= 3_600_000 + 5000, `held ${heldFor} ms`);
  const [ev] = await ctx.db.orm.em.fork().getConnection().execute<{ payload: { by: string; reason: string } }[]>(`select payload from ops_events where type = 'breaker.held_open'`);
  assert.is(ev!.payload.by, 'slack:U1OPS');
  assert.match(ev!.payload.reason, /^forced: by slack:U1OPS for 60 min$/);

  await notifier(ctx).tick();
  const last = (await outbox(ctx)).filter((r) => r.kind === 'update').at(-1)!;
  assert.is(last.ref, ref);
  assert.match(cardText(last, 'Yelp'), /\*Kept open\* by slack:U1OPS .*\(until /);

  const refused = await executeRemediation(ctx.rc, RUNBOOKS, { runbook: 'external-apis', remediation: 'keep-breaker-open', input: { provider: 'stripe' }, nonce: 'n-closed' }, OPERATOR);
  assert.is(refused.status, 'failed');
  assert.match(refused.detail, /Stripe breaker is closed; opening a closed breaker is force-open-breaker \(admin\)/);
  assert.is((await ctx.s.gateway.breaker.snapshot('stripe')).state, 'closed');
});

test('a newer /lf breakers in the same channel retires the older card (one edit, no buttons); state changes edit only the newer one', async (ctx) => {
  const { ref: old } = await lfBreakers(ctx, 'T1');
  const { ref: fresh } = await lfBreakers(ctx, 'T2');
  let rows = await outbox(ctx);
  const retired = rows.find((r) => r.kind === 'update' && r.ref === old)!;
  assert.match(retired.text, /superseded/);
  assert.is(blocksOf(retired).filter((b) => b.type === 'actions').length, 0);
  await tripYelp(ctx);
  await notifier(ctx).tick();
  rows = await outbox(ctx);
  assert.equal(rows.filter((r) => r.kind === 'update' && r.dedup_key.includes('ops-event:')).map((r) => r.ref), [fresh]);
});

test.run();
