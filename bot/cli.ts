/**
 * The terminal door: `npm run lf -- <command> [--json]`. Commands: `status`, `help`, `db backup|backups|restore|verify`
 * (bot/cli-db.ts; bare `db` is the database runbook), and `sandbox …` (fault injection and enforced rate limits on
 * the provider sandbox, see {@link runSandboxCommand}).
 *
 * Database choice: `DATABASE_URL` when set; else, when a running `npm start` holds the embedded folder's lock,
 * its PGlite server on the port in the lock file (opening the folder a second time would lose writes); else the
 * embedded folder itself (taking the lock, migrating first).
 *
 * Exit codes: 0 done; 1 the command failed (code and message on stderr); 2 invalid configuration (the
 * ConfigError lines, naming each variable) or an unknown command (help is printed).
 */
import { pathToFileURL } from 'node:url';
import { openDatabase, type Database } from '../db/orm.js';
import { readLiveLock } from '../db/embedded.js';
import { loadConfig, type AppConfig } from '../domain/config.js';
import { classifyError, ConfigError, toAppError } from '../domain/errors.js';
import { FAULT_KINDS, FAULT_PROVIDERS, isFaultProvider, sandboxAdmin, type FaultKind, type FaultSpec } from '../domain/sandbox/index.js';
import { getSetting, SANDBOX_URL_SETTING } from '../domain/settings.js';
import { getPipelineStatus } from '../domain/status.js';
import { renderStatusText } from './render/status-text.js';
import { runTargets } from './cli-targets.js';
import { checkArgs, type CheckedArgs, UsageError as ArgsUsageError } from './cli-args.js';
import { cliHelp, EXIT, SANDBOX_HELP } from './cli-spec.js';
import { isUnreachable } from './cli-exit.js';
import { findCommand } from './commands/spec.js';
import { runLfCommand } from './cli-lf.js';
import { isDbSubcommand, runDbCommand } from './cli-db.js';

/** Where the CLI writes; injectable for tests. */
export interface CliIo {
  stdout: (text: string) => Promise<void>;
  stderr: (text: string) => Promise<void>;
}

const write =
  (stream: NodeJS.WriteStream) =>
  (text: string): Promise<void> =>
    // wait for the write to drain: a pipe is asynchronous and process.exit would cut it
    new Promise((resolve) => {
      stream.write(text, () => resolve());
    });

const processIo: CliIo = { stdout: write(process.stdout), stderr: write(process.stderr) };

export { cliHelp, SANDBOX_HELP } from './cli-spec.js';

/**
 * Opens the database the CLI should read (see the module comment). Small pool: one command, few queries.
 * @throws AppError `db_locked` (folder locked by a process whose port cannot be used) or driver errors.
 */
export async function openCliDatabase(config: AppConfig): Promise<Database> {
  const poolMax = 2;
  if (config.db.url) return openDatabase({ url: config.db.url, dataDir: config.db.dataDir, poolMax });
  const lock = readLiveLock(config.db.dataDir);
  if (lock) {
    const url = `postgresql://postgres:postgres@127.0.0.1:${lock.port}/postgres`;
    return openDatabase({ url, dataDir: config.db.dataDir, poolMax });
  }
  return openDatabase({ url: undefined, dataDir: config.db.dataDir, poolMax, migrate: true });
}

/**
 * Runs one CLI invocation. `argv` is what follows the script name (e.g. `['status', '--json']`).
 * @returns the process exit code (0, 1 or 2; see the module comment). Never throws.
 */
export async function runCli(argv: string[], env: NodeJS.ProcessEnv = process.env, io: CliIo = processIo): Promise<number> {
  let checked: CheckedArgs;
  try {
    checked = checkArgs(argv);
  } catch (err) {
    if (!(err instanceof ArgsUsageError)) throw err;
    await io.stderr(`lf: ${err.message}\n`);
    return EXIT.usage;
  }
  const json = checked.options.has('json');
  const words = checked.words;
  const command = checked.options.has('help') ? 'help' : checked.command;
  if (command === 'help') {
    await io.stdout(cliHelp());
    return 0;
  }
  if (command === 'sandbox') return runSandboxCommand(argv.slice(argv.indexOf('sandbox') + 1), env, io);
  if (!findCommand(command)) {
    await io.stderr(`Unknown command "${command}".\n\n`);
    await io.stderr(cliHelp());
    return 2;
  }

  let config: AppConfig;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      await io.stderr(`${err.message}\n`);
      return 2;
    }
    await io.stderr(`${String(err)}\n`);
    return 1;
  }

  let db: Database | undefined;
  try {
    db = await openCliDatabase(config);
    if (command === 'targets' && ['seed', 'reset-quotas', 'batch-size'].includes(words[1] ?? '')) {
      await io.stdout(await runTargets(db, config, words.slice(1), { json, env, now: new Date() }));
      return 0;
    }
    if (command === 'db' && isDbSubcommand(words[1])) {
      return await runDbCommand(db, config, argv.slice(argv.indexOf('db') + 1), { io });
    }
    if (command === 'status') {
      const status = await getPipelineStatus(db.orm.em.fork());
      await io.stdout(json ? `${JSON.stringify(status, null, 2)}\n` : renderStatusText(status));
      return 0;
    }
    return await runLfCommand(db, config, argv, { json, env, io });
  } catch (err) {
    const appErr = classifyError(err);
    if (appErr.code === 'bad_request') {
      await io.stderr(`lf: ${appErr.message}\n`);
      return EXIT.usage;
    }
    await io.stderr(`${appErr.code}: ${appErr.message}\n`);
    if (isUnreachable(err)) return EXIT.unreachable;
    return EXIT.problems;
  } finally {
    await db?.close();
  }
}

/** Splits `args` into positional words and `--name value` options (`--json` takes no value). */
function parseOptions(args: string[]): { words: string[]; opts: Map<string, string>; json: boolean } {
  const words: string[] = [];
  const opts = new Map<string, string>();
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--json') json = true;
    else if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) opts.set(a.slice(2, eq), a.slice(eq + 1));
      else opts.set(a.slice(2), args[++i] ?? '');
    } else words.push(a);
  }
  return { words, opts, json };
}

class UsageError extends Error {}

function intOption(opts: Map<string, string>, name: string): number | undefined {
  const v = opts.get(name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${name} needs a whole number, got "${v}"`);
  return Number(v);
}

/**
 * The sandbox URL: `--url`, else `SANDBOX_URL`, else the `sandbox.url` setting (database opened as for `status`).
 * Resolves undefined when none is found.
 */
async function resolveSandboxUrl(opts: Map<string, string>, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const flag = opts.get('url')?.trim();
  if (flag) return flag;
  const fromEnv = env.SANDBOX_URL?.trim();
  if (fromEnv) return fromEnv;
  const db = await openCliDatabase(loadConfig(env));
  try {
    const stored = await getSetting<unknown>(db.orm.em.fork(), SANDBOX_URL_SETTING);
    return typeof stored === 'string' && stored.trim() !== '' ? stored.trim() : undefined;
  } finally {
    await db.close();
  }
}

/** One sandbox subcommand, ready to run against the sandbox's admin API. */
type SandboxAction = (admin: ReturnType<typeof sandboxAdmin>) => Promise<void>;
/** Prints `value` as JSON under `--json`, else `text`. */
type SandboxOut = (value: unknown, text: string) => Promise<void> | void;

/** A fault provider from the command line. @throws UsageError naming the allowed ones. */
function faultProvider(p: string | undefined): (typeof FAULT_PROVIDERS)[number] {
  if (!p || !isFaultProvider(p)) throw new UsageError(`provider must be one of ${FAULT_PROVIDERS.join(', ')}${p ? `, got "${p}"` : ''}`);
  return p;
}

/** The fault of `sandbox fault <provider> <kind> [--status --ms --retry-after --count --code]`. @throws UsageError. */
function faultSpecFrom(kind: string | undefined, opts: Map<string, string>): FaultSpec {
  if (!kind || !(FAULT_KINDS as readonly string[]).includes(kind)) throw new UsageError(`kind must be one of ${FAULT_KINDS.join(', ')}`);
  const spec: FaultSpec = { fault: kind as FaultKind };
  const status = intOption(opts, 'status');
  const ms = intOption(opts, 'ms');
  const retryAfterSeconds = intOption(opts, 'retry-after');
  const count = intOption(opts, 'count');
  if (status !== undefined) spec.status = status;
  if (ms !== undefined) spec.ms = ms;
  if (retryAfterSeconds !== undefined) spec.retryAfterSeconds = retryAfterSeconds;
  if (count !== undefined) spec.count = count;
  const code = opts.get('code');
  if (code !== undefined) spec.code = code;
  return spec;
}

/** `sandbox limit <provider> <perSecond>|off`. @throws UsageError for a bad rate. */
function limitAction(p: (typeof FAULT_PROVIDERS)[number], rate: string | undefined, out: SandboxOut): SandboxAction {
  const off = rate === 'off' || rate === '0';
  const perSecond = Number(rate);
  if (!off && !(rate && Number.isFinite(perSecond) && perSecond > 0)) throw new UsageError('limit needs <perSecond> (a number above 0) or "off"');
  return async (admin) => {
    if (off) await admin.clearLimit(p);
    else await admin.setLimit(p, perSecond);
    await out({ provider: p, perSecond: off ? null : perSecond }, off ? `${p}: no enforced limit` : `${p}: sandbox answers 429 above ${perSecond} req/s`);
  };
}

/** The action of the sandbox subcommand `words` (checked before any sandbox is looked up). @throws UsageError. */
function sandboxAction(words: string[], opts: Map<string, string>, out: SandboxOut): SandboxAction {
  const [sub, a1, a2] = words;
  switch (sub) {
    case 'fault': {
      const p = faultProvider(a1);
      const spec = faultSpecFrom(a2, opts);
      return async (admin) => {
        const f = await admin.setFault(p, spec);
        await out({ provider: p, fault: f }, `${p}: ${describeFault(f)}`);
      };
    }
    case 'clear': {
      const p = a1 === undefined ? undefined : faultProvider(a1);
      return async (admin) => {
        const cleared = await admin.clearFaults(p);
        await out({ cleared }, cleared.length ? `cleared: ${cleared.join(', ')}` : 'no fault to clear');
      };
    }
    case 'faults':
      return async (admin) => {
        const faults = await admin.faults();
        const lines = Object.entries(faults).map(([p, f]) => `${p}: ${describeFault(f!)}`);
        await out({ faults }, lines.length ? lines.join('\n') : 'no faults');
      };
    case 'limit':
      return limitAction(faultProvider(a1), a2, out);
    case 'stats':
      return async (admin) => {
        const s = await admin.stats();
        const lines = FAULT_PROVIDERS.map(
          (p) => `${p.padEnd(10)} requests ${s.requests[p]}  limited 429s ${s.rateLimited[p]}  faulted ${s.faulted[p]}${s.limits[p] ? `  limit ${s.limits[p]!.perSecond}/s` : ''}`,
        );
        await out(s, lines.join('\n'));
      };
    default:
      throw new UsageError(sub ? `unknown sandbox command "${sub}"` : 'sandbox needs a command');
  }
}

/**
 * `sandbox fault|clear|faults|limit|stats` (see {@link SANDBOX_HELP}); `args` follows the word `sandbox`.
 * @returns 0 done; 1 no sandbox URL found, sandbox unreachable or refused the request; 2 bad usage. Never throws.
 */
export async function runSandboxCommand(args: string[], env: NodeJS.ProcessEnv = process.env, io: CliIo = processIo): Promise<number> {
  const { words, opts, json } = parseOptions(args);
  const out: SandboxOut = (value, text) => io.stdout(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
  try {
    const run = sandboxAction(words, opts, out);
    let url: string | undefined;
    try {
      url = await resolveSandboxUrl(opts, env);
    } catch (err) {
      const e = err instanceof ConfigError ? err : toAppError(err);
      await io.stderr(`cannot read the sandbox.url setting: ${e.message}\n`);
      return 1;
    }
    if (!url) {
      await io.stderr('No sandbox URL: pass --url <url>, set SANDBOX_URL, or start the service (`npm start` stores sandbox.url).\n');
      return 1;
    }
    await run(sandboxAdmin(url));
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      await io.stderr(`${err.message}\n\n${SANDBOX_HELP}`);
      return 2;
    }
    await io.stderr(`${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

function describeFault(f: FaultSpec & { remaining?: number | null }): string {
  const parts: string[] = [f.fault];
  if (f.status !== undefined) parts.push(`status ${f.status}`);
  if (f.ms !== undefined) parts.push(`${f.ms} ms`);
  if (f.retryAfterSeconds !== undefined) parts.push(`Retry-After ${f.retryAfterSeconds} s`);
  parts.push(f.remaining === null || f.remaining === undefined ? 'until cleared' : `next ${f.remaining} request(s)`);
  return parts.join(', ');
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  // `tsx bot/cli.ts …` keeps working: the same entry as `lf` (bot/cli-main.ts), .env and fast paths included
  void import('./cli-main.js').then(({ lfMain }) => lfMain(process.argv.slice(2))).then((code) => process.exit(code));
}
