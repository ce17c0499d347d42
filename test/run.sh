#!/usr/bin/env bash
# Runs every uvu test (test/**/*.test.ts) and prints the plain summary line "N passed, N failed[, N skipped]".
# Exits non-zero when a test fails, a test file fails to load, or no test ran at all.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# uvu prints no "Failed" line: failed = Total - Passed (Total excludes skipped).
node_modules/.bin/uvu -r tsx --no-color test '\.test\.ts$' 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
total=$(awk '/^  Total:/{print $2}' "$out" | tail -n1)
passed=$(awk '/^  Passed:/{print $2}' "$out" | tail -n1)
skipped=$(awk '/^  Skipped:/{print $2}' "$out" | tail -n1)
total=${total:-0}; passed=${passed:-0}; skipped=${skipped:-0}
failed=$((total - passed))
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
if [ "$total" -eq 0 ]; then
  echo "no test ran" >&2
  exit 1
fi
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "the test runner exited with $rc (a test file failed to load?)" >&2
fi
exit "$rc"
