/**
 * The `lf` command (package bin, bot/cli-bin.mjs; `npm run lf -- …` from a checkout). Kept light: the argument
 * check and `help` need only bot/cli-spec.ts; `status` loads `pg` alone (bot/cli-status.ts); every other command
 * loads bot/cli.ts and what it needs, on demand. `.env` is loaded first (domain/env-file.ts).
 *
 * Exit codes: 0 ok; 1 problems found; 2 usage or configuration error; 3 database or service unreachable.
 */
import { pathToFileURL } from 'node:url';
import { loadEnvFile } from '../domain/env-file.js';
import { checkArgs, type CheckedArgs, UsageError } from './cli-args.js';
import { cliHelp, EXIT } from './cli-spec.js';

const write =
  (stream: NodeJS.WriteStream) =>
  (text: string): Promise<void> =>
    // wait for the write to drain: a pipe is asynchronous and process.exit would cut it
    new Promise((resolve) => {
      stream.write(text, () => resolve());
    });

const io = { stdout: write(process.stdout), stderr: write(process.stderr) };

/**
 * Runs one invocation (`argv` = what follows `lf`) and resolves its exit code. Never throws.
 */
export async function lfMain(argv: string[]): Promise<number> {
  let checked: CheckedArgs;
  try {
    checked = checkArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    await io.stderr(`lf: ${err.message}\n`);
    return EXIT.usage;
  }
  if (checked.command === 'help' || checked.options.has('help')) {
    await io.stdout(`${cliHelp()}\n`);
    return EXIT.ok;
  }
  try {
    loadEnvFile();
  } catch (err) {
    await io.stderr(`${(err as Error).message}\n`);
    return EXIT.usage;
  }
  if (checked.command === 'status') {
    const { fastStatus } = await import('./cli-status.js');
    const code = await fastStatus(process.env, checked.options.has('json'), io);
    if (code !== undefined) return code;
  }
  const { runCli } = await import('./cli.js');
  return runCli(argv, process.env, io);
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  // no top-level await: test runners load modules through a CommonJS hook (uvu -r tsx)
  void lfMain(process.argv.slice(2)).then((code) => {
    // exit explicitly: a driver or PGlite handle left open must not keep a finished command alive
    process.exit(code);
  });
}
