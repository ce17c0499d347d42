/** Spawning the real entry points (`npm start`'s bot/main.ts, the CLI) as child processes in tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';

/** Project root (tests run from it). */
export const ROOT = resolve(import.meta.dirname, '../..');
const TSX = resolve(ROOT, 'node_modules/.bin/tsx');

/** A free loopback TCP port. */
export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

/** A running child with its combined output so far. */
export interface Child {
  proc: ChildProcess;
  output(): string;
  /** Resolves when the output matches `re`; rejects after `timeoutMs` with the output so far. */
  waitFor(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
}

/**
 * Runs `tsx <script> ...args` from the project root with exactly `env` (plus PATH and HOME). `direct`: one process,
 * `node --import tsx <script>` (no tsx wrapper), so `proc.kill('SIGKILL')` kills the app itself.
 */
export function runTs(script: string, args: string[], env: Record<string, string>, opts: { direct?: boolean } = {}): Child {
  const [cmd, argv] = opts.direct ? [process.execPath, ['--import', 'tsx', script, ...args]] : [TSX, [script, ...args]];
  const proc = spawn(cmd, argv, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', PGLITE_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const l of listeners) l();
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<number | string>((res) => proc.on('exit', (code, signal) => res(code ?? signal ?? -1)));
  return {
    proc,
    output: () => out,
    exited,
    waitFor(re, timeoutMs) {
      return new Promise((res, rej) => {
        const check = () => {
          const m = out.match(re);
          if (m) {
            listeners.delete(check);
            clearTimeout(timer);
            res(m);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          rej(new Error(`timed out after ${timeoutMs} ms waiting for ${re}; output:\n${out.slice(-4000)}`));
        }, timeoutMs);
        listeners.add(check);
        void exited.then(() => setTimeout(check, 0));
        check();
      });
    },
  };
}
