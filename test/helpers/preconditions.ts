/**
 * Preconditions decided when a test is defined, never inside it: a test whose precondition does not hold is
 * registered with uvu's `skip` (counted under "Skipped" and in test/run.sh's "N skipped"), with a line
 * `  skip: <name> — <reason>` on stdout, so a missing database kind, fixture or program is never counted as a
 * pass. Under CI (`CI=true`) test/run.sh fails when anything was skipped.
 */
import type { Callback, Test } from 'uvu';

/** Registers tests on `suite` that run when `cond` holds, else are skipped with `reason`. */
export function testIf<T>(suite: Test<T>, cond: boolean, reason: string): (name: string, fn: Callback<T>) => void {
  return (name, fn) => {
    if (cond) {
      suite(name, fn);
      return;
    }
    console.log(`  skip: ${name} — ${reason}`);
    suite.skip(name, fn);
  };
}

/** True when the tests run on a real PostgreSQL server (`DATABASE_URL` set), not the embedded PGlite. */
export const ON_POSTGRES = Boolean(process.env.DATABASE_URL);
