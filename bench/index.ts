/**
 * Benchmarks: `npm run bench -- <name>`. Each prints ratios measured side by side in one run (never a timed
 * test). Uses DATABASE_URL when set, else an in-memory embedded PGlite.
 */
const BENCHES: Record<string, () => Promise<{ run(args: string[]): Promise<void> }>> = {
  gateway: () => import('./gateway.js'),
  pipeline: () => import('./pipeline.js'),
  slack: () => import('./slack.js'),
  mttd: () => import('./mttd.js'),
  soak: () => import('./soak.js'),
  cli: () => import('./cli.js'),
};

const name = process.argv[2];
const load = name ? BENCHES[name] : undefined;
if (!load) {
  console.error(`usage: npm run bench -- <${Object.keys(BENCHES).join('|')}> [options]`);
  process.exit(2);
}
await (await load()).run(process.argv.slice(3));
// a bench is done once it has printed its result: a pool's idle timer (knex/tarn) left by a closed ORM must not keep
// the process waiting; the exit code a bench set (1 for RESULT FAIL) is kept
process.exit(process.exitCode ?? 0);
