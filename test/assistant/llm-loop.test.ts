import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database } from '../../db/orm.js';
import { SANDBOX_KEYS, sandboxBaseUrls } from '../../domain/providers/urls.js';
import { sandboxAdmin } from '../../domain/sandbox/index.js';
import type { Services } from '../../domain/services.js';
import type { RunbookContext } from '../../runbooks/context.js';
import { llmAnswer, type LlmEndpoint } from '../../bot/assistant/llm.js';
import { UNTRUSTED_HEADER } from '../../bot/assistant/safety.js';
import { PROPOSE_TOOL, toolCatalog } from '../../bot/assistant/tools.js';
import { seedDemoTargetsIfEmpty } from '../../domain/targeting/seed.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';
import { startFakeOpenAI, toolMessages } from './fake-openai.js';

type Ctx = { db: Database; s: Services; rb: RunbookContext };
const t = suite<Ctx>(`assistant LLM loop bounds (${DB_KIND})`);

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
  await seedDemoTargetsIfEmpty(ctx.db.orm.em.fork(), new Date());
});

const endpoint = (baseUrl: string): LlmEndpoint => ({ baseUrl, apiKey: 'sk-test-fake', model: 'gpt-4o-mini', sandbox: false });
const FINAL = JSON.stringify({ root_cause: null, summary: 'nothing found', findings: [], confidence: 'low' });

t('every tool is strict: names [a-zA-Z0-9_-]{1,64}, every property required, no additional properties', () => {
  const tools = toolCatalog();
  assert.ok(tools.length > 40, `${tools.length} tools`);
  assert.is(new Set(tools.map((x) => x.function.name)).size, tools.length, 'unique names');
  const lint = (schema: Record<string, unknown>, where: string) => {
    if (schema.type === 'object') {
      assert.is(schema.additionalProperties, false, `${where}: additionalProperties false`);
      const props = Object.keys((schema.properties as Record<string, unknown>) ?? {});
      assert.equal([...((schema.required as string[]) ?? [])].sort(), props.sort(), `${where}: all required`);
      for (const [k, v] of Object.entries((schema.properties as Record<string, Record<string, unknown>>) ?? {})) lint(v, `${where}.${k}`);
    }
    if (schema.type === 'array') lint(schema.items as Record<string, unknown>, `${where}[]`);
  };
  for (const tool of tools) {
    assert.match(tool.function.name, /^[a-zA-Z0-9_-]{1,64}$/);
    assert.is(tool.function.strict, true);
    assert.not.ok('$schema' in tool.function.parameters);
    lint(tool.function.parameters, tool.function.name);
  }
  assert.ok(tools.some((x) => x.function.name === 'pipeline-not-processing__targeting-quota'));
  assert.ok(tools.some((x) => x.function.name === PROPOSE_TOOL));
});

t('the same call with the same arguments is refused with an error tool message; the tool runs once', async (ctx) => {
  const fake = await startFakeOpenAI((n) =>
    n === 0
      ? { calls: [{ name: 'pipeline-not-processing__database' }] }
      : n === 1
        ? { calls: [{ name: 'pipeline-not-processing__database', args: {} }] }
        : { content: FINAL },
  );
  try {
    const a = await llmAnswer(ctx.rb, 'is the database up?', { endpoint: endpoint(fake.baseUrl), alerts: [] });
    assert.is(fake.requests.length, 3);
    const second = toolMessages(fake.requests[2]!);
    assert.is(second.length, 2);
    assert.ok(second[0]!.content.startsWith(UNTRUSTED_HEADER), 'first call ran and was wrapped as data');
    assert.match(second[1]!.content, /same call with the same arguments/);
    assert.is(a.toolCalls.filter((c) => c.ok).length, 1, 'the diagnostic ran once');
    assert.is(a.toolCalls.length, 2);
  } finally {
    await fake.close();
  }
});

t('parallel tool calls run together and every tool_call_id is answered, in order', async (ctx) => {
  const names = ['pipeline-not-processing__database', 'pipeline-not-processing__active-targets', 'pipeline-not-processing__targeting-quota'];
  const fake = await startFakeOpenAI((n) => (n === 0 ? { calls: names.map((name, i) => ({ name, id: `call_p${i}` })) } : { content: FINAL }));
  try {
    const a = await llmAnswer(ctx.rb, 'pipeline stuck?', { endpoint: endpoint(fake.baseUrl), alerts: [] });
    const answered = toolMessages(fake.requests[1]!);
    assert.equal(answered.map((m) => m.tool_call_id), ['call_p0', 'call_p1', 'call_p2']);
    const assistant = (fake.requests[1]!.messages as { role: string; tool_calls?: { id: string }[] }[]).find((m) => m.role === 'assistant')!;
    assert.equal(assistant.tool_calls!.map((c) => c.id), ['call_p0', 'call_p1', 'call_p2'], 'the assistant message is kept with its calls');
    assert.is(a.toolCalls.length, 3);
    assert.equal(fake.requests[0]!.parallel_tool_calls, true);
  } finally {
    await fake.close();
  }
});

t('the sandbox model runs the whole loop (parallel calls, a proposal, a final answer); it refuses an unanswered tool_call_id', async (ctx) => {
  await ctx.db.orm.em.getConnection().execute('update targets set daily_quota = 0');
  const url = sandboxBaseUrls(ctx.s.sandboxUrl!).openai;
  const a = await llmAnswer(ctx.rb, 'no new businesses were sourced today', { endpoint: { baseUrl: url, apiKey: SANDBOX_KEYS.openai, model: 'gpt-4o-mini', sandbox: true }, alerts: [] });
  assert.equal(a.rootCause, { runbook: 'pipeline-not-processing', id: 'no-targeting-quota', title: 'No available targeting quota' }, JSON.stringify(a.notes));
  assert.ok(a.toolCalls.length >= 5 && a.toolCalls.length <= 10, `${a.toolCalls.length} calls`);
  assert.equal(a.suggestions.map((x) => x.remediation), ['reset-quotas']);
  assert.ok(a.usage!.totalTokens > 0 && a.usage!.costUsd > 0);
  assert.ok(a.findings.some((f) => f.diagnostic === 'targeting-quota' && f.status === 'problem'));
  // OpenAI's rule, kept by the sandbox: an assistant message with tool_calls must be followed by every answer
  const res = await fetch(`${url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${SANDBOX_KEYS.openai}` },
    body: JSON.stringify({
      model: 'gpt-4o-mini',
      tools: toolCatalog(),
      messages: [
        { role: 'user', content: 'why?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_a', type: 'function', function: { name: 'quick-diagnostics__health', arguments: '{}' } }, { id: 'call_b', type: 'function', function: { name: 'quick-diagnostics__database', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'call_a', content: 'ok' },
      ],
    }),
  });
  assert.is(res.status, 400);
  assert.match(((await res.json()) as { error: { message: string } }).error.message, /call_b/);
});

t('at most 10 tool calls: further calls are refused, then the final answer is forced with tool_choice none', async (ctx) => {
  const diag = toolCatalog().map((x) => x.function.name).filter((n) => n.startsWith('email-delivery__') || n.startsWith('quick-diagnostics__'));
  let k = 0;
  const fake = await startFakeOpenAI((_n, body) => (body.tool_choice === 'none' ? { content: FINAL } : { calls: [0, 1, 2, 3].map(() => ({ name: diag[k++ % diag.length]! })) }));
  try {
    const a = await llmAnswer(ctx.rb, 'emails?', { endpoint: endpoint(fake.baseUrl), alerts: [] });
    assert.is(a.toolCalls.filter((c) => c.ok || !(c.output as { error?: string }).error?.includes('budget')).length, 10, 'ten calls ran');
    const refused = a.toolCalls.filter((c) => String((c.output as { error?: string }).error ?? '').includes('budget of 10 tool calls'));
    assert.is(refused.length, 2, 'the 11th and 12th were refused');
    const last = fake.requests.at(-1)!;
    assert.is(last.tool_choice, 'none');
    assert.ok(a.notes.includes('tool budget spent'), a.notes.join());
    for (let i = 1; i < fake.requests.length; i++) {
      const asked = (fake.requests[i]!.messages as { role: string; tool_calls?: { id: string }[] }[]).filter((m) => m.role === 'assistant').flatMap((m) => m.tool_calls ?? []).length;
      assert.is(toolMessages(fake.requests[i]!).length, asked, `request ${i}: every tool_call_id answered`);
    }
  } finally {
    await fake.close();
  }
});

t('a token budget: once spent the next request forces the final answer', async (ctx) => {
  const fake = await startFakeOpenAI((n, body) =>
    body.tool_choice === 'none' ? { content: FINAL } : { calls: [{ name: `quick-diagnostics__${['health', 'database', 'recent-errors'][n % 3]}` }], usage: { prompt_tokens: 30_000, completion_tokens: 50 } },
  );
  try {
    const a = await llmAnswer(ctx.rb, 'status?', { endpoint: endpoint(fake.baseUrl), alerts: [], tokenBudget: 50_000 });
    assert.is(fake.requests.length, 3, 'two tool rounds, then the forced final');
    assert.is(fake.requests[2]!.tool_choice, 'none');
    assert.ok(a.notes.includes('token budget spent'));
    assert.is(a.usage!.promptTokens, 60_000 + 100);
  } finally {
    await fake.close();
  }
});

t('tool output is cut to its budget, fence and header kept', async (ctx) => {
  const fake = await startFakeOpenAI((n) => (n === 0 ? { calls: [{ name: 'quick-diagnostics__integrations' }] } : { content: FINAL }));
  try {
    await llmAnswer(ctx.rb, 'integrations?', { endpoint: endpoint(fake.baseUrl), alerts: [], toolOutputMax: 900 });
    const [m] = toolMessages(fake.requests[1]!);
    assert.ok(m!.content.length <= 900, `${m!.content.length} chars`);
    assert.ok(m!.content.startsWith(UNTRUSTED_HEADER));
    assert.ok(m!.content.endsWith('```'));
    const json = m!.content.slice(m!.content.indexOf('```json\n') + 8, m!.content.lastIndexOf('\n```'));
    assert.is((JSON.parse(json) as { tool: string }).tool, 'quick-diagnostics__integrations', 'still valid JSON after the cut');
  } finally {
    await fake.close();
  }
});

t('the deadline ends the loop: a model that hangs yields an answer on time, saying so', async (ctx) => {
  await sandboxAdmin(ctx.s.sandboxUrl!).setFault('openai', { fault: 'timeout' });
  const url = sandboxBaseUrls(ctx.s.sandboxUrl!).openai;
  const t0 = Date.now();
  const a = await llmAnswer(ctx.rb, 'why did no emails go out today?', { endpoint: { baseUrl: url, apiKey: SANDBOX_KEYS.openai, model: 'gpt-4o-mini', sandbox: true }, alerts: [], deadlineMs: 600 });
  const ms = Date.now() - t0;
  assert.ok(ms < 2500, `${ms} ms`);
  assert.ok(a.notes.includes('deadline reached'), a.notes.join());
  assert.is(a.confidence.label, 'low');
});

t('the deadline also bounds slow diagnostics: their calls are answered with an error', async (ctx) => {
  const fake = await startFakeOpenAI((n) => (n === 0 ? { calls: [{ name: 'quick-diagnostics__health' }] } : { content: FINAL }));
  const slow = async () => new Promise<never>(() => undefined);
  try {
    const t0 = Date.now();
    const a = await llmAnswer(ctx.rb, 'health?', { endpoint: endpoint(fake.baseUrl), alerts: [], deadlineMs: 400, runner: slow });
    assert.ok(Date.now() - t0 < 2000);
    assert.match(String((a.toolCalls[0]!.output as { error: string }).error), /deadline/);
  } finally {
    await fake.close();
  }
});

t.run();
