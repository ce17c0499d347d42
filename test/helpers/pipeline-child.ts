/**
 * The service as a child process running the real pipeline against a sandbox owned by the test (so the sandbox and
 * its Email Activity feed outlive a `kill -9` of the service), and the figures the crash tests check.
 */
import type { Database } from '../../db/orm.js';
import type { Sandbox } from '../../domain/sandbox/index.js';
import { freePort, runTs, type Child } from './process.js';

/** Sends the sandbox accepted, in order: our email id and the recipient. */
export interface SendLog {
  sends: { emailId: string; to: string; at: number }[];
}

/**
 * Records every mail/send the sandbox accepts (after `delayMs`, so a send can be cut mid-flight by a kill) by
 * `custom_args.email_id` and recipient.
 */
export function recordSends(sandbox: Sandbox, delayMs: number): SendLog {
  const log: SendLog = { sends: [] };
  sandbox.interceptors.push(async (route, req) => {
    if (route.provider !== 'sendgrid' || !req.path.endsWith('/mail/send')) return undefined;
    await new Promise((r) => setTimeout(r, delayMs));
    const body = JSON.parse(req.body.toString('utf8')) as { personalizations: { to: { email: string }[]; custom_args?: { email_id?: string } }[] };
    const p = body.personalizations[0];
    log.sends.push({ emailId: p?.custom_args?.email_id ?? '?', to: p?.to[0]?.email ?? '?', at: Date.now() });
    return undefined;
  });
  return log;
}

/** Starts `npm start`'s entry (one process: `node --import tsx bot/main.ts`) with the given environment. */
export async function startService(env: Record<string, string>): Promise<{ child: Child; port: number }> {
  const port = await freePort();
  const child = runTs('bot/main.ts', [], { NODE_ENV: 'development', LOG_LEVEL: 'info', PORT: String(port), ...env }, { direct: true });
  return { child, port };
}

/** Emails by status, and the running runs. */
export async function pipelineFigures(db: Database): Promise<{ byStatus: Record<string, number>; drafted: number; running: number }> {
  const conn = db.orm.em.getConnection();
  const rows = await conn.execute<{ status: string; n: number }[]>('select status, count(*)::int as n from emails group by status');
  const byStatus = Object.fromEntries(rows.map((r) => [r.status, r.n]));
  const [run] = await conn.execute<{ n: number }[]>(`select count(*)::int as n from job_runs where status = 'running'`);
  const drafted = rows.filter((r) => r.status !== 'held').reduce((s, r) => s + r.n, 0);
  return { byStatus, drafted, running: run?.n ?? 0 };
}

/** Sends per recipient: the recipients reached more than once (none when exactly once). */
export function duplicates(log: SendLog): string[] {
  const seen = new Map<string, number>();
  for (const s of log.sends) seen.set(s.to, (seen.get(s.to) ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([to, n]) => `${to} ×${n}`);
}

/** Resolves when `check` returns true (polling every 200 ms) or rejects after `timeoutMs`. */
export async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
}
