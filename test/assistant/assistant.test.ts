import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import type { Services } from '../../domain/services.js';
import { SANDBOX_KEYS, sandboxBaseUrls } from '../../domain/providers/urls.js';
import { sandboxAdmin } from '../../domain/sandbox/index.js';
import { seedDemoTargetsIfEmpty } from '../../domain/targeting/seed.js';
import type { RunbookContext } from '../../runbooks/context.js';
import type { Actor } from '../../runbooks/actions.js';
import { ask, answerText, exportEvalCase } from '../../bot/assistant/index.js';
import { planAnswer } from '../../bot/assistant/planner.js';
import { RUNBOOKS } from '../../runbooks/index.js';
import { answerRow as getAnswer } from '../../domain/queries/assistant-answers.js';
import { runScenarios, summarise } from '../../bot/assistant/eval/run.js';
import { SCENARIOS } from '../../bot/assistant/eval/scenarios.js';
import { handleFeedback, handleQuestion, stripMentions } from '../../bot/listeners/events/assistant.js';
import { webApi } from '@slack/bolt';
import { createSlackPoster, slackOutbox, webClientTransport } from '../../alerts/slack-outbox.js';
import { renderSlackMessage } from '../../bot/render/slack-messages.js';
import { systemClock } from '../../domain/clock.js';
import { startFakeSlackApi } from '../helpers/slack.js';
import { createLogger } from '../../domain/logger.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';

type Ctx = { db: Database; s: Services; rb: RunbookContext };
const t = suite<Ctx>(`assistant: planner, ask, Slack listener, feedback, eval (${DB_KIND})`);

t.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.s = await testServices(ctx.db, { GATEWAY_RETRY_ATTEMPTS: '1', PROVIDER_TIMEOUT_MS: '2000' });
  ctx.rb = runbookContext(ctx.s, { probes: { eventLoopLagMs: () => 5 } });
});
t.after(async (ctx) => {
  await ctx.s.close();
  await ctx.db.close();
});
t.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  await sandboxAdmin(ctx.s.sandboxUrl!).clearFaults();
  await seedDemoTargetsIfEmpty(ctx.db.orm.em.fork(), new Date());
});

const operator: Actor = { id: 'cli:alice', role: 'operator', source: 'cli', display: 'alice' };

t('the offline planner looks everywhere: every diagnostic of every runbook runs, whatever the words', async (ctx) => {
  const total = RUNBOOKS.reduce((n, r) => n + r.diagnostics.length, 0);
  const a = await planAnswer(ctx.rb, 'qwerty zxcv', { alerts: [] });
  assert.is(a.toolCalls.length, total);
  assert.equal(a.runbooks, RUNBOOKS.map((r) => r.id));
  assert.ok(a.notes.some((n) => /whole-system picture/.test(n)), a.notes.join());
});

t('ask (offline): root cause, supporting findings, a button with the runbook default input, confidence; stored', async (ctx) => {
  await ctx.db.orm.em.getConnection().execute('update targets set daily_quota = 0');
  const ticks: string[] = [];
  const a = await ask(ctx.rb, 'no new businesses were sourced today', operator, { mode: 'offline', progress: { start: () => undefined, tick: (l) => ticks.push(l), stop: () => undefined } });
  assert.is(a.mode, 'offline');
  assert.is(a.rootCause?.id, 'no-targeting-quota');
  assert.equal(a.findings.map((f) => f.diagnostic), ['targeting-quota']);
  assert.equal(a.suggestions.map((s) => s.remediation), ['reset-quotas']);
  assert.ok(['high', 'medium'].includes(a.confidence.label), a.confidence.label);
  assert.is(ticks.length, a.toolCalls.length, 'one progress tick per diagnostic');
  assert.ok(a.id! > 0);
  const row = await getAnswer(ctx.db.orm.em.fork(), a.id!);
  assert.is(row?.rootCause, 'pipeline-not-processing/no-targeting-quota');
  assert.match(answerText(a), /Root cause: No available targeting quota/);
  assert.match(answerText(a), /lf fix pipeline-not-processing reset-quotas/);
  const fails = async (p: Promise<unknown>) => p.then(() => '', (err: Error) => err.message);
  assert.match(await fails(ask(ctx.rb, '   ', operator)), /needs a question/);
  assert.match(await fails(ask(ctx.rb, 'hi', { ...operator, role: undefined })), /no role/);
});

t('Slack: a mention is answered in its thread with progress updates; retries and bot messages are ignored; feedback is stored and a wrong answer exports as an eval case that replays', async (ctx) => {
  await ctx.db.orm.em.getConnection().execute('update targets set active = false');
  await ctx.db.orm.em
    .getConnection()
    .execute(`insert into job_runs (job, status, trigger, started_at, heartbeat_at, finished_at, counts) values ('daily-pipeline', 'succeeded', 'schedule', now() - interval '2 hours', now() - interval '2 hours', now() - interval '119 minutes', '{}'::jsonb)`);
  // through the one Slack exit: the outbox table, delivered by the poster to a fake Slack Web API
  const fake = await startFakeSlackApi();
  const client = new webApi.WebClient('xoxb-test', { slackApiUrl: fake.url, rejectRateLimitedCalls: true, retryConfig: { retries: 0 } });
  const poster = createSlackPoster({ orm: ctx.db.orm, logger: createLogger('silent'), clock: systemClock, transport: webClientTransport(client), render: renderSlackMessage, channelGapMs: 0 });
  const drain = async () => {
    while ((await poster.tick()) > 0);
  };
  const outbox = slackOutbox(() => ctx.db.orm.em.fork(), systemClock);
  const deps = { ctx: ctx.rb, roles: { roleOf: async (u: string) => (u === 'UNOBODY' ? undefined : ('viewer' as const)) }, logger: createLogger('silent'), mode: 'offline' as const, progressEveryMs: 0, outbox };
  const ev = { eventId: 'Ev001', user: 'U123', channel: 'C1', ts: '1700000000.000100', text: '<@U0LEADFACTORY> the pipeline is not finding any leads' };
  assert.is(stripMentions(ev.text), 'the pipeline is not finding any leads');
  try {
    assert.is(await handleQuestion(deps, outbox, ev), 'answered');
    await drain();
  } finally {
    await fake.close();
  }
  const calls = fake.calls.filter((c) => c.kind === 'api');
  assert.is(calls[0]!.method, 'chat.postMessage');
  assert.is(calls[0]!.body.thread_ts, ev.ts, 'answered in a thread');
  assert.is(calls[0]!.body.channel, 'C1');
  const progressTs = (await ctx.db.orm.em.getConnection().execute<{ ts: string }[]>(`select ts from slack_messages where ref like 'answer:%'`))[0]?.ts;
  assert.ok(calls.some((c) => c.method === 'chat.update' && /ran \d+ diagnostics?…/.test(String(c.body.text))), 'progress shown');
  const final = calls.at(-1)!;
  assert.is(final.method, 'chat.update');
  assert.is(final.body.ts, progressTs, 'the progress message is edited into the answer (update in place)');
  const blocks = final.body.blocks as { type: string; elements?: { action_id?: string; value?: string }[] }[];
  const feedback = blocks.flatMap((b) => b.elements ?? []).find((e) => e.action_id === 'assistant:feedback:wrong');
  assert.ok(feedback, 'feedback buttons under the answer');
  assert.match(String(final.body.text), /No active targets/);
  const rows = async () => (await ctx.db.orm.em.getConnection().execute<{ n: number }[]>('select count(*)::int as n from slack_outbox'))[0]!.n;
  const n = await rows();
  assert.is(await handleQuestion(deps, outbox, ev), 'duplicate', 'a retry of the same event_id is answered once');
  assert.is(await handleQuestion(deps, outbox, { ...ev, eventId: 'Ev002', botId: 'B1' }), 'ignored');
  assert.is(await handleQuestion(deps, outbox, { ...ev, eventId: 'Ev003', subtype: 'message_changed' }), 'ignored');
  assert.is(await rows(), n, 'nothing queued for them');
  assert.is(await handleQuestion(deps, outbox, { ...ev, eventId: 'Ev004', user: 'UNOBODY' }), 'refused');
  const [refusal] = await ctx.db.orm.em.getConnection().execute<{ kind: string; route: string; thread_ts: string; text: string }[]>(`select kind, route, thread_ts, text from slack_outbox order by id desc limit 1`);
  assert.equal([refusal!.kind, refusal!.route, refusal!.thread_ts], ['reply', 'answers', ev.ts]);
  assert.match(refusal!.text, /no LeadFactory role/);

  const id = Number(feedback!.value);
  assert.match(await handleFeedback(deps, 'U777', 'assistant:feedback:wrong', String(id)), /recorded as wrong/);
  const row = await getAnswer(ctx.db.orm.em.fork(), id);
  assert.equal([row?.feedback, row?.feedbackBy, row?.channel, row?.threadTs], ['wrong', 'slack:U777', 'C1', ev.ts]);
  const c = await exportEvalCase(ctx.db.orm.em.fork(), id, 'no-active-targets');
  assert.is(c.question, 'the pipeline is not finding any leads');
  assert.is(c.feedback, 'wrong');
  assert.ok(c.recorded.some((r) => r.diagnostic === 'active-targets' && r.finding.status === 'problem'));
  // the case replays from its recorded outputs, with the fault gone
  await ctx.db.orm.em.getConnection().execute('update targets set active = true');
  const replay = await planAnswer(ctx.rb, c.question, { recorded: c.recorded, alerts: [] });
  assert.is(replay.rootCause?.id, 'no-active-targets');
});

t('eval scenarios run on this database: offline and through the sandbox model', async (ctx) => {
  const names = ['healthy', 'sendgrid-401', 'report-not-sent', 'vague-with-alert', 'high-memory'];
  const results = await runScenarios(ctx.db, ctx.s, {
    scenarios: SCENARIOS.filter((s) => names.includes(s.name)),
    llm: { baseUrl: sandboxBaseUrls(ctx.s.sandboxUrl!).openai, apiKey: SANDBOX_KEYS.openai, model: 'gpt-4o-mini', sandbox: true },
  });
  assert.is(results.length, names.length * 2);
  for (const r of results) assert.ok(r.correct, `${r.path} ${r.scenario}: expected ${r.expected}, got ${r.got}`);
  const off = summarise(results, 'offline', 'offline');
  assert.is(off.top1, 1);
  assert.ok(off.toolCallsPerAnswer > 0);
  assert.ok(SCENARIOS.length >= 25);
});

t.run();
