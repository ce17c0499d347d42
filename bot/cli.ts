/**
 * The terminal door: `npm run lf -- <command> [--json]`. Commands: `status`, `help`.
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
import { ConfigError, toAppError } from '../domain/errors.js';
import { getPipelineStatus } from '../domain/status.js';
import { LF_SUBCOMMANDS } from './blocks/help.js';
import { renderStatusText } from './render/status-text.js';

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

/** The CLI's help text (same subcommands as `/lf`). */
export function cliHelp(): string {
  const width = Math.max(...LF_SUBCOMMANDS.map((s) => s.usage.length)) + 2;
  const lines = LF_SUBCOMMANDS.map((s) => `  ${s.usage.padEnd(width)}${s.summary}`);
  return [
    'Usage: npm run lf -- <command> [--json]',
    '',
    'Commands:',
    ...lines,
    '',
    'Options:',
    `  ${'--json'.padEnd(width)}Print JSON instead of text (status).`,
    '',
    'Database: DATABASE_URL, else the running `npm start` (lock file in DATA_DIR), else the embedded folder DATA_DIR.',
    '',
  ].join('\n');
}

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
  const json = argv.includes('--json');
  const words = argv.filter((a) => !a.startsWith('-'));
  const wantsHelp = argv.includes('--help') || argv.includes('-h');
  const command = wantsHelp ? 'help' : (words[0] ?? 'help');
  if (command === 'help') {
    await io.stdout(cliHelp());
    return 0;
  }
  if (command !== 'status') {
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
    const status = await getPipelineStatus(db.orm.em.fork());
    await io.stdout(json ? `${JSON.stringify(status, null, 2)}\n` : renderStatusText(status));
    return 0;
  } catch (err) {
    const appErr = toAppError(err);
    await io.stderr(`${appErr.code}: ${appErr.message}\n`);
    return 1;
  } finally {
    await db?.close();
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const code = await runCli(process.argv.slice(2));
  // exit explicitly: a driver or PGlite handle left open must not keep a finished command alive
  process.exit(code);
}
