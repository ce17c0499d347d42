/**
 * `npm run bench -- slack`: ack latency of `/lf status` — the time from sending a signed slash-command POST to
 * receiving the HTTP 200 (Slack's 3-second rule) — under 50 concurrent requests, for our app (Bolt + listeners +
 * the work after the ack: database reads, Block Kit, the response_url post) beside a bare Bolt app whose `/lf`
 * acks and posts a fixed text to the response_url. Rounds alternate between the two in one process; prints p50 and
 * p99 of each and the ratios (goal: ratio ≤ 1.5 and p99 < 300 ms).
 * Options: --rounds N (default 20), --concurrency N (default 50).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, LogLevel } from '@slack/bolt';
import { createMetrics } from '../alerts/metrics.js';
import { createSlackApp } from '../bot/app.js';
import { openDatabase } from '../db/orm.js';
import { startEmbeddedDatabase } from '../db/embedded.js';
import { loadConfig } from '../domain/config.js';
import { createLogger } from '../domain/logger.js';
import { buildServices } from '../domain/services.js';
import { createJobControl } from '../jobs/control.js';
import { processProbes } from '../runbooks/probes.js';
import { signSlackRequest } from '../test/helpers/slack.js';

const SECRET = 'bench-signing-secret';

function opt(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** A response_url sink counting posts. */
const sentAt = new Map<string, number>();
const answeredIn = new Map<string, number>();

async function sink(): Promise<{ url: string; posts: () => number; close(): Promise<void> }> {
  let n = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      n++;
      const key = (req.url ?? '').slice(1);
      const t = sentAt.get(key);
      if (t !== undefined) answeredIn.set(key, performance.now() - t);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, posts: () => n, close: () => new Promise((r) => server.close(() => r())) };
}

async function burst(base: string, responseBase: string, concurrency: number, tag: string, text = 'status'): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: false, maxSockets: concurrency });
  const one = (i: number) =>
    new Promise<number>((resolve, reject) => {
      const body = new URLSearchParams({
        team_id: 'T0BENCH',
        channel_id: 'C0BENCH',
        user_id: 'U0BENCH',
        command: '/lf',
        text,
        api_app_id: 'A0BENCH',
        response_url: `${responseBase}/${tag}-${i}`,
        trigger_id: '1.2.3',
      }).toString();
      const headers = { ...signSlackRequest(SECRET, body), 'content-length': String(Buffer.byteLength(body)) };
      const t0 = performance.now();
      sentAt.set(`${tag}-${i}`, t0);
      const req = http.request(`${base}/slack/events`, { method: 'POST', headers, agent }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`status ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end(body);
    });
  const out = await Promise.all(Array.from({ length: concurrency }, (_, i) => one(i)));
  agent.destroy();
  return out;
}

export async function run(args: string[]): Promise<void> {
  const rounds = opt(args, 'rounds', 20);
  const concurrency = opt(args, 'concurrency', 50);
  const ti = args.indexOf('--text');
  const text = ti >= 0 ? args[ti + 1]! : 'status';
  const embedded = process.env.DATABASE_URL ? undefined : await startEmbeddedDatabase({ dataDir: ':memory:', maxConnections: 20 });
  const url = process.env.DATABASE_URL ?? embedded!.url;
  const db = await openDatabase({ url, dataDir: ':memory:', poolMax: 10 });
  await db.orm.getSchemaGenerator().dropSchema({ dropMigrationsTable: true });
  await db.orm.getMigrator().up();
  const responses = await sink();
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', SLACK_SIGNING_SECRET: SECRET, SANDBOX_PORT: '0' });
  const logger = createLogger('silent');
  const services = await buildServices(config, { db, logger });
  const ours = createSlackApp({
    config,
    logger,
    orm: db.orm,
    metrics: createMetrics(),
    readiness: async () => ({ ok: true, checks: {} }),
    runbookContext: {
      services,
      em: () => db.orm.em.fork(),
      jobs: createJobControl({ orm: db.orm, config, clock: services.clock }),
      probes: processProbes(),
    },
  });
  const bare = new App({ signingSecret: SECRET, authorize: async () => ({}), logLevel: LogLevel.ERROR });
  bare.command('/lf', async ({ ack, respond }) => {
    await ack();
    await respond({ response_type: 'ephemeral', text: 'ok' });
  });
  const oursServer = await ours.start(0);
  const bareServer = (await bare.start(0)) as http.Server;
  const oursBase = `http://127.0.0.1:${(oursServer.address() as AddressInfo).port}`;
  const bareBase = `http://127.0.0.1:${(bareServer.address() as AddressInfo).port}`;
  console.log(`database: ${process.env.DATABASE_URL ? 'PostgreSQL (DATABASE_URL)' : 'embedded PGlite'}; ${rounds} rounds × ${concurrency} concurrent signed /lf status, alternating`);

  await burst(oursBase, responses.url, concurrency, 'warm-o');
  await burst(bareBase, responses.url, concurrency, 'warm-b');
  const o: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const first = r % 2 === 0;
    if (first) o.push(...(await burst(oursBase, responses.url, concurrency, `o${r}`, text)));
    b.push(...(await burst(bareBase, responses.url, concurrency, `b${r}`, text)));
    if (!first) o.push(...(await burst(oursBase, responses.url, concurrency, `o${r}`, text)));
    await new Promise((res) => setTimeout(res, 200)); // let the answers after the acks drain between rounds
  }
  o.sort((x, y) => x - y);
  b.sort((x, y) => x - y);
  const row = (name: string, s: number[]) => `${name.padEnd(28)} p50 ${percentile(s, 50).toFixed(1).padStart(7)} ms   p99 ${percentile(s, 99).toFixed(1).padStart(7)} ms   (n=${s.length})`;
  console.log('\n== ack latency of /lf status ==');
  console.log(row('bare Bolt app', b));
  console.log(row('LeadFactory Ops', o));
  console.log(`ratio p50 ours/bare = ${(percentile(o, 50) / percentile(b, 50)).toFixed(2)}`);
  console.log(`ratio p99 ours/bare = ${(percentile(o, 99) / percentile(b, 99)).toFixed(2)}   (goal ≤ 1.5; p99 goal < 300 ms)`);
  await new Promise((res) => setTimeout(res, 1000));
  const answers = (prefix: string) =>
    [...answeredIn.entries()].filter(([k]) => /^[ob]\d/.test(k) && k.startsWith(prefix)).map(([, v]) => v).sort((x, y) => x - y);
  console.log('\n== time to the answer at the response_url (after the ack: the work itself) ==');
  console.log(row('bare Bolt app (fixed text)', answers('b')));
  console.log(row('LeadFactory Ops', answers('o')));
  console.log(`response_url posts received: ${responses.posts()} (expected ${2 * (rounds + 1) * concurrency})`);
  await ours.stop();
  await bare.stop();
  await services.close();
  await db.close();
  await responses.close();
  await embedded?.close();
}
