/**
 * The soak bench's fixed inputs and helpers (bench/soak.ts): the day's fault plan, the Slack 429 hours, a fresh
 * database on the DATABASE_URL server, and a forced GC for memory readings.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createDatabase, dropDatabase } from '../domain/recovery/restore.js';
import type { FaultProvider, FaultSpec } from '../domain/sandbox/index.js';

/** One hour (ms). */
export const HOUR = 3_600_000;

/** One switch of the fault plan: at `atH` hours into each day, `provider` gets `spec` for `forMin` minutes. */
export interface FaultWindow {
  atH: number;
  forMin: number;
  provider: FaultProvider;
  spec: FaultSpec;
}

/**
 * The day's fault plan: each provider faulted at least once; PageSpeed down through the 02:00 pipeline run (the
 * assessment and email batches finish the work afterwards); two overlapping.
 */
export const FAULT_PLAN: FaultWindow[] = [
  { atH: 1.5, forMin: 20, provider: 'yelp', spec: { fault: 'rate_limit' } },
  { atH: 1.9, forMin: 60, provider: 'pagespeed', spec: { fault: 'server_error' } }, // the pipeline at 02:00 assesses nothing
  { atH: 6, forMin: 45, provider: 'yelp', spec: { fault: 'server_error' } },
  { atH: 8.25, forMin: 30, provider: 'stripe', spec: { fault: 'server_error' } }, // reconciliation at 08:15
  { atH: 11, forMin: 15, provider: 'sendgrid', spec: { fault: 'invalid_key' } },
  { atH: 14, forMin: 30, provider: 'yelp', spec: { fault: 'timeout' } },
  { atH: 14.5, forMin: 30, provider: 'openai', spec: { fault: 'server_error' } },
  { atH: 19, forMin: 10, provider: 'yelp', spec: { fault: 'malformed' } },
  { atH: 21, forMin: 120, provider: 'pagespeed', spec: { fault: 'rate_limit' } },
];
/** Hours of the day at which the fake Slack answers the next post with 429 (Retry-After 3 s). */
export const SLACK_429_AT_H = [3, 9, 15, 21];

/** The value after `--<name>` in `args`, or undefined. */
export function opt(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

/** A GC function (node's, exposed at run time) so memory is read after a full collection. */
export function gcFunction(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** A fresh database on the DATABASE_URL server (domain/recovery/restore.ts helpers, through psql); `drop()` removes it. */
export async function soakDatabase(serverUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `lf_soak_${process.pid}`;
  await dropDatabase(serverUrl, name, { force: true });
  const url = await createDatabase(serverUrl, name);
  return { url, drop: () => dropDatabase(serverUrl, name, { force: true }) };
}

/** Bytes as `12.3 MB`. */
export const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
