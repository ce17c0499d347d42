/**
 * `npm run eval`: runs every scenario (scenarios.ts) against a real database and the provider sandbox, with the
 * offline planner and with the LLM path — OpenAI when `OPENAI_API_KEY` is set, else the sandbox's scripted model
 * (said clearly in the output) — and prints top-1 accuracy, tool calls per answer and time per answer.
 *
 * Database: with `DATABASE_URL` a fresh database `lf_eval_<pid>` is created on that server (and dropped after), so
 * no existing data is touched; without it an in-memory embedded PGlite.
 * Options: `--offline` (planner only), `--only name,name`, `--json`. Exported cases (bot/assistant/eval/cases/*.json,
 * from `exportEvalCase`) with an `expected` root cause are replayed from their recorded tool outputs too.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase, type Database } from '../../../db/orm.js';
import { startEmbeddedDatabase, type EmbeddedDatabase } from '../../../db/embedded.js';
import { loadConfig } from '../../../domain/config.js';
import { createLogger } from '../../../domain/logger.js';
import { sandboxAdmin, startSandbox, type Sandbox } from '../../../domain/sandbox/index.js';
import { SANDBOX_KEYS, sandboxBaseUrls } from '../../../domain/providers/urls.js';
import { buildServices, type Services } from '../../../domain/services.js';
import { createJobControl } from '../../../jobs/control.js';
import type { ProcessProbes, RunbookContext } from '../../../runbooks/context.js';
import { processProbes } from '../../../runbooks/probes.js';
import type { AssistantAnswer } from '../answer.js';
import { llmAnswer, type LlmEndpoint } from '../llm.js';
import { planAnswer } from '../planner.js';
import type { ExportedEvalCase } from '../store.js';
import { SCENARIOS, seedBaseline, type EvalCategory, type EvalEnv, type EvalScenario } from './scenarios.js';
import { MORE_SCENARIOS } from './scenarios-more.js';
import { printReport } from './report.js';
import { createDatabase, dropDatabase, seedFiringAlert, truncateAppTables } from '../../../domain/queries/eval-seed.js';

/** Every scenario of the eval: the first set and the categorised one. */
export const ALL_SCENARIOS: EvalScenario[] = [...SCENARIOS, ...MORE_SCENARIOS];

/** One scenario's outcome for one path. */
export interface EvalResult {
  scenario: string;
  category: EvalCategory | 'case';
  path: 'offline' | 'llm';
  /** The answer's confidence score (0..1). */
  confidence: number;
  /** Requests the providers' sandbox received while answering (the diagnostics' live probes). */
  providerCalls: number;
  /** Expected effects the answer listed / expected. */
  effectsListed: number;
  effectsExpected: number;
  expected: string | null;
  got: string | null;
  correct: boolean;
  toolCalls: number;
  ms: number;
  tokens: number;
  costUsd: number;
}

/** Totals of one path. */
export interface EvalSummary {
  path: 'offline' | 'llm';
  label: string;
  n: number;
  top1: number;
  toolCallsPerAnswer: number;
  msPerAnswer: number;
  tokens: number;
  costUsd: number;
}

/** Calm probes (a roomy host), so only memory scenarios see pressure. */
const CALM: ProcessProbes = {
  memoryUsage: () => ({ rss: 200 * 1024 ** 2, heapTotal: 120 * 1024 ** 2, heapUsed: 80 * 1024 ** 2, external: 5e6, arrayBuffers: 1e6 }),
  eventLoopLagMs: () => 12,
  freeMemBytes: () => 8 * 1024 ** 3,
  totalMemBytes: () => 16 * 1024 ** 3,
};

/** Empties every application table (not the migrations table). */
export async function truncateEverything(db: Database): Promise<void> {
  await truncateAppTables(db.orm.em.fork());
}

/** A runbook context with the given probes over the services. */
export function evalContext(s: Services, probes: Partial<ProcessProbes> = {}): RunbookContext {
  const env: Record<string, string> = { DATABASE_URL: s.db.url, LOG_LEVEL: 'silent', JOBS_IN_PROCESS: 'true' };
  if (s.sandboxUrl) env.SANDBOX_URL = s.sandboxUrl;
  return {
    services: s,
    em: () => s.orm.em.fork(),
    jobs: createJobControl({ orm: s.orm, config: s.config, clock: s.clock, jobEnv: env }),
    probes: { ...processProbes(), ...CALM, ...probes },
  };
}

/** Prepares the database and sandbox for one scenario. */
export async function prepareScenario(db: Database, s: Services, sc: EvalScenario): Promise<RunbookContext> {
  return (await prepareScenarioEnv(db, s, sc)).ctx;
}

/** {@link prepareScenario}, also returning the environment (for the scenario's teardown). */
export async function prepareScenarioEnv(db: Database, s: Services, sc: EvalScenario): Promise<{ ctx: RunbookContext; env: EvalEnv }> {
  await truncateEverything(db);
  const admin = sandboxAdmin(s.sandboxUrl!);
  await admin.clearFaults();
  await s.gateway.overrides.refresh();
  const ctx = evalContext(s, sc.probes);
  const env: EvalEnv = { services: s, ctx, sandbox: admin, em: () => s.orm.em.fork() };
  await seedBaseline(env, sc.bare);
  await sc.setup?.(env);
  for (const a of sc.alerts ?? []) await seedFiringAlert(env.em(), { fingerprint: a.fingerprint, name: a.name, severity: a.severity, runbook: a.runbook });
  return { ctx, env };
}

function score(
  sc: { name: string; expected: string | null; category?: EvalCategory | 'case'; effects?: string[] },
  path: 'offline' | 'llm',
  a: AssistantAnswer,
  ms: number,
  providerCalls = 0,
): EvalResult {
  const got = a.rootCause?.id ?? null;
  const listed = new Set((a.effects ?? []).map((e) => e.id));
  return {
    scenario: sc.name,
    category: sc.category ?? 'plain',
    path,
    confidence: a.confidence.score,
    providerCalls,
    effectsListed: (sc.effects ?? []).filter((e) => listed.has(e)).length,
    effectsExpected: sc.effects?.length ?? 0,
    expected: sc.expected,
    got,
    correct: got === sc.expected,
    toolCalls: a.toolCalls.length,
    ms,
    tokens: a.usage?.totalTokens ?? 0,
    costUsd: a.usage?.costUsd ?? 0,
  };
}

/** Summarises results of one path. */
export function summarise(results: EvalResult[], path: 'offline' | 'llm', label: string): EvalSummary {
  const rs = results.filter((r) => r.path === path);
  const n = rs.length || 1;
  return {
    path,
    label,
    n: rs.length,
    top1: rs.filter((r) => r.correct).length / n,
    toolCallsPerAnswer: rs.reduce((t, r) => t + r.toolCalls, 0) / n,
    msPerAnswer: rs.reduce((t, r) => t + r.ms, 0) / n,
    tokens: rs.reduce((t, r) => t + r.tokens, 0),
    costUsd: rs.reduce((t, r) => t + r.costUsd, 0),
  };
}

/** Labelled exported cases in bot/assistant/eval/cases. */
export function loadExportedCases(dir = join(dirname(fileURLToPath(import.meta.url)), 'cases')): ExportedEvalCase[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as ExportedEvalCase);
}

/** Runs the scenarios on `db` + `services`; `llm` undefined skips the LLM path. */
export async function runScenarios(
  db: Database,
  services: Services,
  opts: { scenarios?: EvalScenario[]; llm?: LlmEndpoint; cases?: ExportedEvalCase[]; onResult?: (r: EvalResult) => void } = {},
): Promise<EvalResult[]> {
  const results: EvalResult[] = [];
  const push = (r: EvalResult) => {
    results.push(r);
    opts.onResult?.(r);
  };
  const admin = sandboxAdmin(services.sandboxUrl!);
  const requests = async () => Object.values((await admin.stats()).requests).reduce((n, x) => n + x, 0);
  for (const sc of opts.scenarios ?? ALL_SCENARIOS) {
    let { ctx, env } = await prepareScenarioEnv(db, services, sc);
    try {
      const before = await requests();
      let t0 = performance.now();
      const off = await planAnswer(ctx, sc.question);
      const ms = Math.round(performance.now() - t0);
      push(score(sc, 'offline', off, ms, (await requests()) - before));
      if (opts.llm) {
        await sc.teardown?.(env);
        ({ ctx, env } = await prepareScenarioEnv(db, services, sc)); // the same fault again (a rate-limit fault may have been used up)
        t0 = performance.now();
        const on = await llmAnswer(ctx, sc.question, { endpoint: opts.llm });
        push(score(sc, 'llm', on, Math.round(performance.now() - t0)));
      }
    } finally {
      await sc.teardown?.(env);
    }
  }
  for (const c of opts.cases ?? []) {
    if (c.expected === null) continue;
    const ctx = evalContext(services);
    const t0 = performance.now();
    const off = await planAnswer(ctx, c.question, { recorded: c.recorded, alerts: [] });
    push(score({ name: `case:${c.name}`, expected: c.expected, category: 'case' }, 'offline', off, Math.round(performance.now() - t0)));
  }
  return results;
}

/** Opens the eval database: a fresh one on DATABASE_URL's server, else embedded. */
async function openEvalDatabase(): Promise<{ db: Database; label: string; cleanup(): Promise<void> }> {
  const url = process.env.DATABASE_URL;
  if (url) {
    const name = `lf_eval_${process.pid}`;
    const admin = await openDatabase({ url, dataDir: ':memory:', poolMax: 1 });
    await createDatabase(admin.orm.em.fork(), name);
    const u = new URL(url);
    u.pathname = `/${name}`;
    const db = await openDatabase({ url: u.toString(), dataDir: ':memory:', poolMax: 10, migrate: true });
    return {
      db,
      label: `PostgreSQL (fresh database ${name} on DATABASE_URL's server)`,
      async cleanup() {
        await db.close();
        await dropDatabase(admin.orm.em.fork(), name).catch(() => undefined);
        await admin.close();
      },
    };
  }
  const embedded: EmbeddedDatabase = await startEmbeddedDatabase({ dataDir: ':memory:', maxConnections: 20 });
  const db = await openDatabase({ url: embedded.url, dataDir: ':memory:', poolMax: 10, migrate: true });
  return {
    db,
    label: 'embedded PGlite (in memory)',
    async cleanup() {
      await db.close();
      await embedded.close();
    },
  };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const only = args.find((a) => a.startsWith('--only'))?.split('=')[1] ?? (args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined);
  const json = args.includes('--json');
  const { db, label, cleanup } = await openEvalDatabase();
  const services = await buildServices(
    loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', SANDBOX_PORT: '0', GATEWAY_RETRY_ATTEMPTS: '1', PROVIDER_TIMEOUT_MS: '2000', SANDBOX_SEED: '7' }),
    { db, logger: createLogger('silent') },
  );
  const key = process.env.OPENAI_API_KEY;
  // without a key the scripted model runs in a sandbox of its own: faults put into the providers' sandbox (an
  // OpenAI outage for the assessments) must not take the assistant's model down with them
  let modelSandbox: Sandbox | undefined;
  if (!key && !args.includes('--offline')) modelSandbox = await startSandbox({ seed: 7 });
  const llm: LlmEndpoint | undefined = args.includes('--offline')
    ? undefined
    : key
      ? { baseUrl: process.env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1', apiKey: key, model: process.env.OPENAI_MODEL ?? services.config.openaiModel, sandbox: false }
      : { baseUrl: sandboxBaseUrls(modelSandbox!.url).openai, apiKey: SANDBOX_KEYS.openai, model: services.config.openaiModel, sandbox: true };
  const llmLabel = llm ? (llm.sandbox ? "LLM path against the SANDBOX's scripted model (no OPENAI_API_KEY)" : `LLM path against OpenAI (${llm.model})`) : '';
  const scenarios = only ? ALL_SCENARIOS.filter((s) => only.split(',').includes(s.name)) : ALL_SCENARIOS;
  if (!json) {
    console.log(`ops assistant eval: ${scenarios.length} scenarios; database: ${label}; sandbox providers`);
    console.log(`paths: offline planner${llm ? `; ${llmLabel}` : ''}\n`);
  }
  try {
    const results = await runScenarios(db, services, {
      scenarios,
      llm,
      cases: loadExportedCases(),
      onResult: (r) => {
        if (!json)
          console.log(
            `${r.correct ? 'ok  ' : 'MISS'} ${r.path.padEnd(7)} ${r.category.padEnd(8)} ${r.scenario.padEnd(26)} expected ${String(r.expected).padEnd(26)} got ${String(r.got).padEnd(26)} ${r.confidence.toFixed(2)} ${String(r.toolCalls).padStart(2)} calls ${String(r.providerCalls).padStart(2)} provider calls ${String(r.ms).padStart(5)} ms`,
          );
      },
    });
    const sums = [summarise(results, 'offline', 'offline planner'), ...(llm ? [summarise(results, 'llm', llmLabel)] : [])];
    if (json) console.log(JSON.stringify({ database: label, summaries: sums, results }, null, 2));
    else {
      console.log('');
      printReport(results, scenarios);
      for (const s of sums)
        console.log(
          `${s.label}: top-1 accuracy ${(s.top1 * 100).toFixed(1)}% (${Math.round(s.top1 * s.n)}/${s.n}), ${s.toolCallsPerAnswer.toFixed(1)} tool calls per answer, ${Math.round(s.msPerAnswer)} ms per answer${s.path === 'llm' ? `, ${s.tokens} tokens, $${s.costUsd.toFixed(4)}` : ''}`,
        );
    }
  } finally {
    await modelSandbox?.close();
    await services.close();
    await cleanup();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
