/**
 * `lf status` without the ORM: the pipeline status read through a plain `pg` client (`DATABASE_URL`, or the running
 * service's embedded server found through its lock file), so the command answers in well under a second. Without
 * either (the embedded folder with no service running) it returns undefined and the caller takes the full path,
 * which opens the folder itself.
 */
import pg from 'pg';
import { readLiveLock } from '../db/embedded-lock.js';
import { loadConfig, type AppConfig } from '../domain/config.js';
import { ConfigError } from '../domain/errors.js';
import { pipelineStatusFrom } from '../domain/status.js';
import { isUnreachable } from './cli-exit.js';
import { EXIT } from './cli-spec.js';

/** Where the command writes. */
export interface StatusIo {
  stdout: (text: string) => Promise<void>;
  stderr: (text: string) => Promise<void>;
}

/** `postgres://user:secret@host/db` → `postgres://user@host/db` (for messages). */
function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1@');
}

/** `?` placeholders (MikroORM style, as domain/status.ts writes them) → `$1, $2, …` for pg. */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/**
 * Runs `lf status [--json]` with the configuration from `env` (checked whole, as every command does).
 * @returns the exit code (0, 2 for an invalid configuration, 3 unreachable, 1 other failures), or undefined when
 *   there is no server to connect to (use the full path).
 */
export async function fastStatus(env: NodeJS.ProcessEnv, json: boolean, io: StatusIo): Promise<number | undefined> {
  let config: AppConfig;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    await io.stderr(`${err.message}\n`);
    return EXIT.usage;
  }
  const configured = config.db.url;
  let url = configured;
  if (!url) {
    const lock = readLiveLock(config.db.dataDir);
    if (!lock || lock.port === 0) return undefined;
    url = `postgresql://postgres:postgres@127.0.0.1:${lock.port}/postgres`;
  }
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    // one client runs one query at a time: chain them (pipelineStatusFrom issues its queries together)
    let queue: Promise<unknown> = Promise.resolve();
    const query = (sql: string, params?: unknown[]): Promise<unknown[]> => {
      const next = queue.then(async () => (await client.query(numbered(sql), params)).rows as unknown[]);
      queue = next.catch(() => undefined);
      return next;
    };
    const status = await pipelineStatusFrom({ query });
    if (json) await io.stdout(`${JSON.stringify(status, null, 2)}\n`);
    else {
      const { renderStatusText } = await import('./render/status-text.js');
      await io.stdout(renderStatusText(status));
    }
    return EXIT.ok;
  } catch (err) {
    const where = configured ? `DATABASE_URL ${redact(url)}` : `the running service's embedded database (port ${new URL(url).port})`;
    if (isUnreachable(err)) {
      await io.stderr(`database unreachable: ${where}: ${(err as Error).message}\n`);
      return EXIT.unreachable;
    }
    await io.stderr(`status failed on ${where}: ${(err as Error).message}\n`);
    return EXIT.problems;
  } finally {
    await client.end().catch(() => undefined);
  }
}
