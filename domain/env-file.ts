/**
 * The `.env` file: loaded by the entry points (`npm start` / `node dist/bot/main.js`, the `lf` CLI,
 * `npm run db:migrate`) before the configuration is parsed, with Node's own parser (`process.loadEnvFile`,
 * Node ≥ 20.12: `KEY=value`, `# comments`, inline comments after unquoted values, quotes for values holding `#`).
 * Variables already set in the environment win over the file, so a deployment's environment stays authoritative.
 * Empty values (`KEY=`) count as unset (domain/config.ts), as in `.env.example`.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

/** Where the `.env` file is looked for: `ENV_FILE` when set, else `.env` in the working directory. */
export function envFilePath(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string {
  const chosen = env.ENV_FILE?.trim();
  return resolve(cwd, chosen ? chosen : '.env');
}

/**
 * Loads the `.env` file into `process.env` when it exists (existing variables are kept).
 * @returns the file's path when one was loaded, else undefined.
 * @throws Error when `ENV_FILE` names a file that does not exist, or the file cannot be read.
 */
export function loadEnvFile(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string | undefined {
  const path = envFilePath(env, cwd);
  if (!existsSync(path)) {
    if (env.ENV_FILE?.trim()) throw new Error(`ENV_FILE: ${path} does not exist`);
    return undefined;
  }
  process.loadEnvFile(path);
  return path;
}
