/**
 * The LLM loop believes the model only as far as the findings bear it out, and its requests go through the
 * provider gateway. The model is a scripted OpenAI-compatible server on loopback (fake-openai.ts) spoken to by the
 * real openai SDK; diagnostics run live against the project's sandbox, or replay recorded findings where a fault
 * would take seconds to show (a provider that never answers).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { sandboxAdmin } from '../../domain/sandbox/index.js';
import type { Services } from '../../domain/services.js';
import type { RunbookContext } from '../../runbooks/context.js';
import { answerBlocks } from '../../bot/assistant/answer.js';
import { llmAnswer, type LlmEndpoint } from '../../bot/assistant/llm.js';
import { ASSISTANT_OPERATION } from '../../bot/assistant/llm-request.js';
import { replayRunner } from '../../bot/assistant/tools.js';
import { seedDemoTargetsIfEmpty } from '../../domain/targeting/seed.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';
import { startFakeOpenAI, toolMessages } from './fake-openai.js';

type Ctx = { db: Database; s: Services; rb: RunbookContext };
const t = suite<Ctx>(`assistant LLM answers grounded in the findings, through the gateway (${DB_KIND})`);

t.before(async (ctx) => {
  ctx.db = await freshDatabase();
  ctx.s = await testServices(ctx.db, { GATEWAY_RETRY_ATTEMPTS: '1', PROVIDER_TIMEOUT_MS: '2000' });
  ctx.rb = runbookContext(ctx.s);
});
t.after(async (ctx) => {
  await ctx.s.close();
  await ctx.db.close();
});
t.before.each(async (ctx) => {
  await truncateAll(ctx.db);
  await sandboxAdmin(ctx.s.sandboxUrl!).clearFaults();
  await ctx.s.gateway.breaker.reset('openai', 'test');
  await seedDemoTargetsIfEmpty(ctx.db.orm.em.fork(), new Date());
});

const endpoint = (baseUrl: string): LlmEndpoint => ({ baseUrl, apiKey: 'sk-test-fake', model: 'gpt-4o-mini', sandbox: false });
const sql = <T = Record<string, unknown>>(ctx: Ctx, q: string, p: unknown[] = []) => ctx.db.orm.em.fork().getConnection().execute<T[]>(q, p);

t('every model request goes through the gateway: one ledger row per request with its tokens; an open breaker stops the model call', async (ctx) => {
  const fake = await startFakeOpenAI((n) =>
    n === 0 ? { calls: [{ name: 'pipeline-not-processing__targeting-quota' }], usage: { prompt_tokens: 500, completion_tokens: 30 } } : { content: '{"root_cause": null, "summary": "ok", "findings": [], "confidence": "low"}' },
  );
  try {
    await llmAnswer(ctx.rb, 'anything wrong?', { endpoint: endpoint(fake.baseUrl), alerts: [] });
    await ctx.s.gateway.ledger.flush(); // ledger rows are written in batches behind the call
    const rows = await sql<{ outcome: string; prompt_tokens: number; completion_tokens: number }>(ctx, 'select outcome, prompt_tokens, completion_tokens from api_calls where provider = ? and operation = ? order by id', ['openai', ASSISTANT_OPERATION]);
    assert.is(rows.length, 2, 'two requests, two ledger rows');
    assert.equal([rows[0]!.outcome, Number(rows[0]!.prompt_tokens), Number(rows[0]!.completion_tokens)], ['ok', 500, 30]);
    await ctx.s.gateway.breaker.forceOpen('openai', 'test', { forMs: 60_000 });
    const before = fake.requests.length;
    const a = await llmAnswer(ctx.rb, 'anything wrong?', { endpoint: endpoint(fake.baseUrl), alerts: [] });
    assert.is(fake.requests.length, before, 'the open breaker refused the call before it left');
    assert.ok(a.notes.some((n) => /model request failed/.test(n)), a.notes.join());
  } finally {
    await fake.close();
  }
});

t('a refusal is reported as a refusal: its text, no root cause, low confidence', async (ctx) => {
  const fake = await startFakeOpenAI(() => ({ refusal: "I'm sorry, I can't help with that." }));
  try {
    const a = await llmAnswer(ctx.rb, 'why is the pipeline stuck?', { endpoint: endpoint(fake.baseUrl), alerts: [] });
    assert.is(a.refusal, "I'm sorry, I can't help with that.");
    assert.is(a.rootCause, null);
    assert.match(a.summary, /refused: I'm sorry/);
    assert.ok(a.notes.includes('the model refused to answer'), a.notes.join());
    assert.is(a.confidence.label, 'low');
  } finally {
    await fake.close();
  }
});

t('an invented root-cause id is never shown as the cause: its summary and "high" are dropped, the indicated cause is shown at low confidence', async (ctx) => {
  await sql(ctx, 'update targets set daily_quota = 0');
  const invented = JSON.stringify({ root_cause: 'pipeline-not-processing/quantum-flux', summary: 'Quantum flux in the capacitor.', findings: [], confidence: 'high' });
  const fake = await startFakeOpenAI((n) => (n === 0 ? { calls: [{ name: 'pipeline-not-processing__targeting-quota' }] } : { content: invented }));
  try {
    const a = await llmAnswer(ctx.rb, 'no new leads today', { endpoint: endpoint(fake.baseUrl), alerts: [] });
    assert.is(a.rootCause?.id, 'no-targeting-quota', 'the cause the findings indicate');
    assert.is(a.confidence.label, 'low');
    assert.not.match(a.summary, /Quantum flux/);
    assert.ok(a.notes.some((n) => n.includes('unknown root cause "pipeline-not-processing/quantum-flux"')), a.notes.join());
  } finally {
    await fake.close();
  }
  // a real id the findings do not indicate is not shown either
  const unindicated = JSON.stringify({ root_cause: 'email-delivery/delivery-paused', summary: 'Sending is paused.', findings: [], confidence: 'high' });
  const fake2 = await startFakeOpenAI((n) => (n === 0 ? { calls: [{ name: 'pipeline-not-processing__targeting-quota' }] } : { content: unindicated }));
  try {
    const a = await llmAnswer(ctx.rb, 'no new leads today', { endpoint: endpoint(fake2.baseUrl), alerts: [] });
    assert.is.not(a.rootCause?.id, 'delivery-paused');
    assert.is(a.confidence.label, 'low');
    assert.not.match(a.summary, /Sending is paused/);
  } finally {
    await fake2.close();
  }
});

t('an answer cut off at the output limit (finish_reason length) is not taken as the answer', async (ctx) => {
  await sql(ctx, 'update targets set daily_quota = 0');
  const fake = await startFakeOpenAI((n) =>
    n === 0 ? { calls: [{ name: 'pipeline-not-processing__targeting-quota' }] } : { content: '{"root_cause": "email-delivery/delivery-paused", "summary": "Sending is pa', finish: 'length' },
  );
  try {
    const a = await llmAnswer(ctx.rb, 'no new leads today', { endpoint: endpoint(fake.baseUrl), alerts: [] });
    assert.ok(a.notes.some((n) => /cut off at its output limit/.test(n)), a.notes.join());
    assert.is(a.rootCause?.id, 'no-targeting-quota');
    assert.is(a.confidence.label, 'low');
    assert.not.match(a.summary, /Sending is pa/);
  } finally {
    await fake.close();
  }
});

t('a proposal is grounded in its inputs: another provider or 1,440 minutes is refused; the affected provider for 30 minutes is offered and its dialog names both inputs', async (ctx) => {
  const recorded = [
    {
      runbook: 'external-apis',
      diagnostic: 'integrations',
      title: 'Provider connection tests',
      finding: { status: 'problem' as const, summary: '4 of 5 providers healthy; unreachable: Yelp.', evidence: { unreachable: ['yelp'], authRejected: [], rateLimited: [], quotaExhausted: [], failing: [] } },
    },
  ];
  const propose = (provider: string, minutes: number) => ({
    name: 'propose_remediation',
    args: { runbook: 'external-apis', remediation: 'force-open-breaker', input: [{ key: 'provider', value: provider }, { key: 'minutes', value: minutes }], reason: 'yelp does not answer' },
  });
  const fake = await startFakeOpenAI((n) =>
    n === 0
      ? { calls: [{ name: 'external-apis__integrations' }] }
      : n === 1
        ? { calls: [propose('stripe', 1440), propose('yelp', 1440), propose('stripe', 15), propose('yelp', 30)] }
        : { content: JSON.stringify({ root_cause: 'external-apis/provider-unreachable', summary: 'Yelp does not answer.', findings: ['external-apis__integrations'], confidence: 'medium' }) },
  );
  try {
    const a = await llmAnswer(ctx.rb, 'is yelp down?', { endpoint: endpoint(fake.baseUrl), alerts: [], runner: replayRunner(recorded) });
    const outs = toolMessages(fake.requests[2]!).map((m) => m.content).slice(1);
    assert.match(outs[0]!, /provider=stripe is not a provider the findings show affected \(yelp\)/);
    assert.match(outs[0]!, /minutes=1440 is outside what the findings warrant/);
    assert.match(outs[1]!, /minutes=1440/);
    assert.match(outs[2]!, /provider=stripe/);
    assert.match(outs[3]!, /Button shown/);
    assert.equal(a.suggestions.map((s) => [s.remediation, s.input]), [['force-open-breaker', { provider: 'yelp', minutes: 30 }]]);
    const json = JSON.stringify(answerBlocks({ ...a, id: 1 }).blocks);
    assert.match(json, /Inputs: provider=yelp, minutes=30\./, 'the confirmation dialog names every input');
  } finally {
    await fake.close();
  }
});

t.run();
