/**
 * `/lf costs` and `/lf eval export` through executeLf (the path Slack and the CLI share) on the real database:
 * spend per provider today and this month from the cost ledger against the configured budgets, cost per lead
 * emailed, both renderings; an assistant answer exported as an eval case (operator only, audited), bad arguments
 * refused.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import type { Services } from '../../domain/services.js';
import { executeLf } from '../../bot/commands/execute.js';
import { parseLf } from '../../bot/commands/spec.js';
import { renderOpsSlack, renderOpsText, type OpsResult } from '../../bot/commands/ops-commands.js';
import { ask } from '../../bot/assistant/index.js';
import { recentAudit, type Actor } from '../../runbooks/actions.js';
import type { RunbookContext } from '../../runbooks/context.js';
import { AppError } from '../../domain/errors.js';
import { DB_KIND, freshDatabase } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';

const NOW = new Date('2026-12-05T12:00:00Z');
const operator: Actor = { id: 'slack:UOP', role: 'operator', source: 'slack', display: 'oper' };
const viewer: Actor = { id: 'slack:UVI', role: 'viewer', source: 'slack', display: 'view' };
const test = suite<{ db: Database; services: Services; ctx: RunbookContext }>(`/lf costs and eval export (${DB_KIND})`);

test.before(async (c) => {
  c.db = await freshDatabase();
  c.services = await testServices(c.db, { OPENAI_BUDGET_DAILY_USD: '2', OPENAI_BUDGET_MONTHLY_USD: '40' }, { clock: { now: () => NOW } });
  c.ctx = runbookContext(c.services);
  const conn = c.db.orm.em.getConnection();
  const call = (provider: string, cost: number, at: string) =>
    conn.execute(`insert into api_calls (provider, operation, outcome, attempts, latency_ms, cost_usd, cache_hit, created_at) values (?, 'op', 'ok', 1, 10, ?, false, ?)`, [provider, cost, at]);
  await call('openai', 1.7, '2026-12-05T08:00:00Z'); // today: 85 % of the $2 daily budget
  await call('openai', 10, '2026-12-02T08:00:00Z'); // earlier this month
  await call('openai', 99, '2026-11-30T08:00:00Z'); // last month: counted nowhere
  await call('yelp', 0, '2026-12-05T09:00:00Z');
  await call('pagespeed', 0.3, '2026-12-05T09:30:00Z');
  await conn.execute(`insert into targets (location, category, created_at, updated_at) values ('Denver, CO', 'roofing', now(), now())`);
  await conn.execute(`insert into businesses (yelp_id, name, status, target_id, created_at, updated_at) values ('y1', 'B1', 'emailed', 1, now(), now())`);
  for (const [i, at] of ['2026-12-05T10:00:00Z', '2026-12-05T10:01:00Z', '2026-12-01T10:00:00Z'].entries())
    await conn.execute(`insert into emails (business_id, campaign, to_address, subject, body, spam_score, status, sent_at, created_at, updated_at) values (1, ?, 'a@b.example', 's', 'b', 1, 'sent', ?, now(), now())`, [`c${i}`, at]);
});

test.after(async (c) => {
  await c.services?.close?.();
  await c.db?.close();
});

test('costs: spend per provider today and this month against budget, cost per lead emailed, Slack and text', async (c) => {
  const r = (await executeLf(c.ctx, parseLf('costs'), viewer)) as OpsResult;
  assert.is(r.kind, 'costs');
  if (r.kind !== 'costs') return;
  const openai = r.lines.find((l) => l.provider === 'openai')!;
  assert.is(openai.todayUsd, 1.7);
  assert.is(openai.monthUsd, 11.7);
  assert.is(openai.todayCalls, 1);
  assert.is(Math.round(openai.dailyPct!), 85);
  assert.is(Math.round(openai.monthlyPct!), 29);
  assert.is(r.lines.find((l) => l.provider === 'yelp')?.dailyPct, null, 'no budget configured');
  assert.is(Number(r.totalTodayUsd.toFixed(2)), 2);
  assert.is(r.emailedToday, 2);
  assert.is(r.emailedMonth, 3);
  assert.is(Number(r.costPerLeadTodayUsd!.toFixed(2)), 1);
  assert.is(Number(r.costPerLeadMonthUsd!.toFixed(2)), 4);
  const slack = renderOpsSlack(r);
  assert.is(slack.responseType, 'ephemeral');
  const body = JSON.stringify(slack.message.blocks);
  assert.match(body, /\*openai\*  today \$1\.70 of \$2\.00 \(85%\) :large_orange_circle:/);
  assert.match(body, /\$1\.00 per lead \(2 emailed\)/);
  assert.match(renderOpsText(r), /total this month \$12\.00: \$4\.00 per lead emailed \(3\)/);
});

test('eval export: an answer as an eval case with its recorded tool outputs; operator only; bad ids refused', async (c) => {
  const answer = await ask(c.ctx, 'why is nothing being emailed?', operator, { mode: 'offline' });
  assert.ok(answer.id, 'the answer is stored');
  const refused = await executeLf(c.ctx, parseLf(`eval export ${answer.id}`), viewer);
  assert.is(refused.kind, 'refused');
  const r = (await executeLf(c.ctx, parseLf(`eval export ${answer.id} expected=no-active-targets`), operator)) as OpsResult;
  assert.is(r.kind, 'eval_export');
  if (r.kind !== 'eval_export') return;
  assert.is(r.evalCase.question, 'why is nothing being emailed?');
  assert.is(r.evalCase.expected, 'no-active-targets');
  assert.ok(r.evalCase.recorded.length > 0, 'the tool outputs it saw are recorded');
  const parsed = JSON.parse(renderOpsText(r)) as { name: string };
  assert.is(parsed.name, `answer-${answer.id}`);
  assert.is(renderOpsSlack(r).responseType, 'in_channel');
  const [row] = await recentAudit(c.db.orm.em.fork(), { action: 'command:eval' });
  assert.is(row?.outcome, 'succeeded');
  const bad = await executeLf(c.ctx, parseLf('eval export nope'), operator).catch((e: unknown) => e);
  assert.ok(bad instanceof AppError && bad.code === 'bad_request');
  const missing = await executeLf(c.ctx, parseLf('eval export 999999'), operator).catch((e: unknown) => e);
  assert.ok(missing instanceof AppError && missing.code === 'not_found');
  const [refusedRow] = await recentAudit(c.db.orm.em.fork(), { action: 'command:eval' });
  assert.is(refusedRow?.outcome, 'refused', 'a refused export is audited');
});

test.run();
