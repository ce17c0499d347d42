/**
 * The `/lf` subcommands in the terminal (`npm run lf -- <subcommand> [args] [--json]`): builds the services on the
 * CLI's database (providers through the running service's sandbox when one is reachable, so faults injected there
 * are seen; else a sandbox of its own), a runbook context whose jobs run in this process, and an actor
 * `cli:<os user>` with `LF_CLI_ROLE`. Progress bars (cli-progress, on stderr, TTY only) for diagnoses and job runs.
 */
import os from 'node:os';
import cliProgress from 'cli-progress';
import type { Database } from '../db/orm.js';
import type { AppConfig } from '../domain/config.js';
import { createLogger, setDefaultErrorSink } from '../domain/logger.js';
import { createErrorLog } from '../domain/error-log.js';
import { buildServices } from '../domain/services.js';
import { getSetting, SANDBOX_URL_SETTING } from '../domain/settings.js';
import { mainJobServices } from '../jobs/job-context.js';
import { createJobControl } from '../jobs/control.js';
import type { JobServices, JobStatus } from '../jobs/job-types.js';
import type { Actor } from '../runbooks/actions.js';
import type { RunbookContext } from '../runbooks/context.js';
import { processProbes } from '../runbooks/probes.js';
import { executeLf, type ExecuteOptions } from './commands/execute.js';
import { findCommand, type ParsedLf } from './commands/spec.js';
import { exitCodeFor, renderText } from './render/results-text.js';

/** Where output goes. */
interface Io {
  stdout: (text: string) => Promise<void>;
  stderr: (text: string) => Promise<void>;
}

/** True when the sandbox at `url` answers its admin route within 500 ms. */
async function sandboxAlive(url: string): Promise<boolean> {
  try {
    const res = await fetch(new URL('/sandbox/faults', url), { signal: AbortSignal.timeout(500) });
    return res.ok;
  } catch {
    return false;
  }
}

function progressBar(enabled: boolean): ExecuteOptions['progress'] & { job: (s: JobStatus) => void } {
  const bar = new cliProgress.SingleBar(
    { format: ' {bar} {value}/{total} {label}', stream: process.stderr, hideCursor: true, clearOnComplete: true, noTTYOutput: false },
    cliProgress.Presets.shades_classic,
  );
  let active = false;
  const counts: Record<string, number> = {};
  return {
    start(total, label) {
      if (!enabled) return;
      active = true;
      bar.start(total, 0, { label });
    },
    tick(label) {
      if (active) bar.increment(1, { label });
    },
    stop() {
      if (active) bar.stop();
      active = false;
    },
    job(s) {
      if (!enabled || s.kind !== 'progress') return;
      counts[s.stage] = (counts[s.stage] ?? 0) + s.n;
      process.stderr.write(`\r ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(' · ')}   `);
    },
  };
}

/**
 * Runs one subcommand (argv as given to the CLI). Returns the exit code: 0 done, 1 refused / failed, 2 usage.
 * @throws errors from building services (the caller prints `code: message`).
 */
export async function runLfCommand(
  db: Database,
  baseConfig: AppConfig,
  argv: string[],
  opts: { json: boolean; env: NodeJS.ProcessEnv; io: Io },
): Promise<number> {
  let config = baseConfig;
  if (config.usesSandbox && !config.sandbox.url) {
    const stored = await getSetting<string>(db.orm.em.fork(), SANDBOX_URL_SETTING).catch(() => undefined);
    if (typeof stored === 'string' && (await sandboxAlive(stored))) config = { ...config, sandbox: { ...config.sandbox, url: stored } };
  }
  // errors logged by this invocation (e.g. a job run here) reach error_records like the service's do
  const errorLog = createErrorLog({ flushMs: 1000 });
  const logger = createLogger(opts.env.LOG_LEVEL === undefined ? 'silent' : config.logLevel, { process: 'cli' }, errorLog.stream);
  errorLog.attach(db.orm);
  setDefaultErrorSink(errorLog.stream);
  const services = await buildServices(config, { db, logger });
  const progress = progressBar(!opts.json && process.stderr.isTTY === true);
  try {
    const jobEnv: Record<string, string> = { DATABASE_URL: db.url, LOG_LEVEL: opts.env.LOG_LEVEL ?? 'warn' };
    if (services.sandboxUrl) jobEnv.SANDBOX_URL = services.sandboxUrl;
    // the jobs `lf run` starts here get this process's services and runbook context, as the service's main thread
    // hands its own to the jobs it runs there
    const jobServices = (): JobServices => mainJobServices({ em: () => db.orm.em.fork(), config, clock: services.clock, logger, runbooks: ctx });
    const ctx: RunbookContext = {
      services,
      em: () => db.orm.em.fork(),
      jobs: createJobControl({ orm: db.orm, config, clock: services.clock, jobEnv, onProgress: progress.job, jobServices }),
      probes: processProbes(),
    };
    const user = (() => {
      try {
        return os.userInfo().username;
      } catch {
        return 'unknown';
      }
    })();
    const actor: Actor = { id: `cli:${user}`, role: config.roles.cliRole, source: 'cli', display: user };
    // argv words as the shell split them (a quoted value stays one word), never re-split
    const words = argv.filter((a) => a !== '--json');
    const [first = 'help', ...rest] = words;
    const parsed: ParsedLf = { command: findCommand(first), word: first, args: rest };
    const result = await executeLf(ctx, parsed, actor, { staleAfterMs: config.slack.buttonStaleMs, progress });
    if (opts.json) {
      const { runbook: _rb, ...rest } = result as { runbook?: unknown } & Record<string, unknown>;
      const value = result.kind === 'diagnosis' ? rest : result.kind === 'report' || result.kind === 'chat' ? result.data : result;
      await opts.io.stdout(`${JSON.stringify(value, null, 2)}\n`);
    } else {
      await opts.io.stdout(renderText(result, ''));
    }
    return exitCodeFor(result);
  } finally {
    setDefaultErrorSink(undefined);
    await errorLog.stop();
    await services.close();
  }
}
