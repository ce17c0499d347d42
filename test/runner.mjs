// Runs every uvu suite (test/**/*.test.ts) in one process, as `uvu -r tsx test '\.test\.ts$'` does, then exits.
// uvu only sets process.exitCode when the last suite is done; a timer, socket or child process a test forgot to
// close would keep Node (and CI) waiting forever after the summary. This runner lists what is still open, so the
// leak is visible and can be fixed, and exits with uvu's code anyway.
// Usage: node --import tsx test/runner.mjs [pattern]   (pattern: a regex over paths under test/, default \.test\.ts$)
import { parse } from 'uvu/parse';
import { run } from 'uvu/run';

const pattern = process.argv[2] ?? '\\.test\\.ts$';
const ctx = await parse('test', pattern, {});
await run(ctx.suites, {});
const code = process.exitCode ?? 0;
const open = process
  .getActiveResourcesInfo()
  .filter((r) => r !== 'TTYWrap' && r !== 'PipeWrap' && r !== 'FSReqCallback');
if (open.length > 0) {
  const counts = new Map();
  for (const r of open) counts.set(r, (counts.get(r) ?? 0) + 1);
  const list = [...counts].map(([r, n]) => `${r}×${n}`).join(', ');
  process.stderr.write(`test runner: still open after the last suite (a test did not close them): ${list}\n`);
}
process.exit(typeof code === 'number' ? code : Number(code) || 0);
