/**
 * `npm run bench -- cli [--runs N] [--no-build]`: start-up of the compiled `lf` CLI against a bare `node -e 0`,
 * measured side by side in one run, interleaved (node, help, status, node, help, status, …) so machine load hits
 * all three alike. Prints median wall times and the ratios `lf help / node -e 0` (goal ≤ 3) and `lf status` (goal
 * under 1 s on an idle machine), plus peak RSS. Builds first (`npm run build`) unless `--no-build`. `lf status`
 * reads DATABASE_URL (else it is skipped: status needs a database).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'dist/bot/cli-bin.mjs');

/** Wall time (ms) and max RSS (KiB, from /usr/bin/time when present) of one run. */
function measure(args: string[], env: NodeJS.ProcessEnv): { ms: number; rssKiB: number | undefined; code: number } {
  const timeBin = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
  const t0 = process.hrtime.bigint();
  const r = timeBin
    ? spawnSync(timeBin, ['-f', '%M', process.execPath, ...args], { env, encoding: 'utf8' })
    : spawnSync(process.execPath, args, { env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const rss = timeBin ? Number(r.stderr.trim().split('\n').pop()) : undefined;
  return { ms, rssKiB: Number.isFinite(rss) ? rss : undefined, code: r.status ?? -1 };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/** Runs the benchmark (see the module comment). */
export async function run(args: string[]): Promise<void> {
  const runsAt = args.indexOf('--runs');
  const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 15;
  if (!args.includes('--no-build')) {
    console.log('building (npm run build) …');
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  }
  if (!existsSync(BIN)) throw new Error(`${BIN} missing: run npm run build`);
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'silent' };
  const withStatus = Boolean(env.DATABASE_URL);
  const cases: [string, string[]][] = [
    ['node -e 0', ['-e', '0']],
    ['lf help', [BIN, 'help']],
    ...(withStatus ? ([['lf status', [BIN, 'status']]] as [string, string[]][]) : []),
  ];
  const times = new Map<string, number[]>(cases.map(([n]) => [n, []]));
  const rss = new Map<string, number[]>(cases.map(([n]) => [n, []]));
  for (const [, a] of cases) measure(a, env); // warm the file cache
  for (let i = 0; i < runs; i++) {
    for (const [name, a] of cases) {
      const m = measure(a, env);
      if (m.code !== 0) throw new Error(`${name} exited ${m.code}`);
      times.get(name)!.push(m.ms);
      if (m.rssKiB !== undefined) rss.get(name)!.push(m.rssKiB);
    }
  }
  const base = median(times.get('node -e 0')!);
  console.log(`\nlf CLI start-up, ${runs} interleaved runs each, medians (load average ${(await import('node:os')).loadavg()[0]!.toFixed(2)}):`);
  console.log(`${'command'.padEnd(12)}${'time'.padStart(10)}${'× node -e 0'.padStart(14)}${'max RSS'.padStart(12)}`);
  for (const [name] of cases) {
    const t = median(times.get(name)!);
    const r = rss.get(name)!;
    console.log(`${name.padEnd(12)}${`${t.toFixed(0)} ms`.padStart(10)}${(t / base).toFixed(2).padStart(14)}${(r.length ? `${(median(r) / 1024).toFixed(0)} MiB` : '-').padStart(12)}`);
  }
  const help = median(times.get('lf help')!) / base;
  console.log(`\nlf help: ${help.toFixed(2)}× node -e 0 (goal ≤ 3×): ${help <= 3 ? 'met' : 'NOT met'}`);
  if (withStatus) {
    const st = median(times.get('lf status')!);
    console.log(`lf status: ${st.toFixed(0)} ms = ${(st / base).toFixed(2)}× node -e 0 (goal < 1 s on an idle machine): ${st < 1000 ? 'met here' : 'not met here'}`);
  } else console.log('lf status: skipped (set DATABASE_URL)');
}
